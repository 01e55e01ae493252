import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { pipelineClient, transaction } from '../support/pipeline-client';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';

/**
 * The attempt log, endpoint stats and events as merchants read them, on the local stack with real receivers that
 * verify every webhook with `standardwebhooks` and answer with the bodies merchants' servers really send: a page
 * of a megabyte, binary garbage, HTML with a script. Retries: 0s,1s,1s; attempts time out after 2 s.
 */
jest.setTimeout(90_000);

const ADMIN_KEY = 'admin-key-attempt-log-test-01';
let stack: TestStack;
const servers: Server[] = [];

beforeAll(async () => {
  stack = await startWebhookTestStack(ADMIN_KEY);
}, 120_000);

afterAll(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await stack?.stop();
});

type Client = ReturnType<typeof pipelineClient>;
interface Answer {
  readonly status: number;
  /** Written in 4 KiB chunks, one every `chunkDelayMs` (0: all at once). */
  readonly body: Buffer;
  readonly chunkDelayMs?: number;
}

/** A verifying receiver: `answer(count)` says what to answer the count-th delivery of an event. */
class Receiver {
  readonly verified: { webhookId: string; body: unknown; raw: string }[] = [];
  /** Bytes of each answer written before the pipeline closed the connection. */
  readonly written: number[] = [];
  secret = '';
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly server: Server,
    readonly answer: (count: number) => Answer,
  ) {}

  static async start(answer: (count: number) => Answer): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((req, res) => void receiver?.handle(req, res));
    receiver = new Receiver(server, answer);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  count(webhookId: string): number {
    return this.counts.get(webhookId) ?? 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const webhookId = String(req.headers['webhook-id'] ?? '');
    const body = new Webhook(this.secret).verify(raw, {
      'webhook-id': webhookId,
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
    });
    this.verified.push({ webhookId, body, raw });
    const count = this.count(webhookId) + 1;
    this.counts.set(webhookId, count);
    const answer = this.answer(count);
    res.writeHead(answer.status, { 'content-type': 'application/octet-stream' });
    if (!answer.chunkDelayMs) {
      res.end(answer.body);
      return;
    }
    let sent = 0;
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    while (sent < answer.body.length && !closed) {
      const next = answer.body.subarray(sent, sent + 4096);
      res.write(next);
      sent += next.length;
      await new Promise((resolve) => setTimeout(resolve, answer.chunkDelayMs));
    }
    this.written.push(sent);
    res.end();
  }
}

let storeSequence = 0;
async function newStore(): Promise<{ id: string; client: Client }> {
  storeSequence += 1;
  const admin = pipelineClient(stack.apiUrl, ADMIN_KEY);
  const id = `attlog-${Date.now().toString(36)}-${storeSequence}`;
  const created = await admin.call('POST', '/v1/admin/stores', { id, name: id });
  expect(created.status).toBe(201);
  return { id, client: pipelineClient(stack.apiUrl, created.body.apiKey) };
}

async function register(client: Client, receiver: Receiver): Promise<string> {
  const registered = await client.call('POST', '/v1/webhooks', { url: receiver.url, events: ['*'] });
  expect(registered.status).toBe(201);
  receiver.secret = registered.body.secret;
  return registered.body.id;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: what the log must never show.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;
const MEGABYTE = Buffer.alloc(1024 * 1024, 'x');
const GARBAGE = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919 + (i >> 3)) % 256));

it('keeps the first 4 KiB of a huge, a binary and an HTML answer as safe text, without breaking the listing', async () => {
  const { client } = await newStore();
  // A megabyte that trickles in (4 KiB every 5 ms, over 1.3 s): failed first, then accepted.
  const huge = await Receiver.start((count) => ({
    status: count === 1 ? 500 : 200,
    body: MEGABYTE,
    chunkDelayMs: 5,
  }));
  const binary = await Receiver.start(() => ({ status: 500, body: GARBAGE }));
  const html = await Receiver.start(() => ({
    status: 200,
    body: Buffer.from('<html><script>alert("pwned")</script>\u0000</html>'),
  }));
  const hugeId = await register(client, huge);
  const binaryId = await register(client, binary);
  const htmlId = await register(client, html);

  const { body } = await client.call('POST', '/v1/transactions', transaction());
  const eventId: string = body.eventId;
  await waitFor(
    async () => [huge.count(eventId), binary.count(eventId), html.count(eventId)],
    ([h, b, t]) => h === 2 && b === 3 && t === 1,
    { timeoutMs: 20_000, what: 'every delivery' },
  );
  // The pipeline stopped reading each megabyte after its first 4 KiB.
  await waitFor(
    async () => huge.written.length,
    (n) => n === 2,
  );
  for (const written of huge.written) expect(written).toBeLessThan(MEGABYTE.length / 2);

  const list = (endpointId: string) =>
    waitFor(
      () => client.call('GET', `/v1/webhooks/${endpointId}/attempts`),
      (answer) => answer.status === 200 && answer.body.data.length >= 1,
    );
  const hugeLog = await waitFor(
    () => client.call('GET', `/v1/webhooks/${hugeId}/attempts`),
    (answer) => answer.body.data.length === 2,
  );
  expect(hugeLog.headers.get('content-type')).toMatch(/^application\/json/);
  const [success, failure] = hugeLog.body.data;
  expect(success).toMatchObject({
    eventId,
    attempt: 2,
    status: 'succeeded',
    trigger: 'scheduled',
    responseStatus: 200,
  });
  expect(failure).toMatchObject({
    eventId,
    attempt: 1,
    status: 'failed',
    trigger: 'scheduled',
    responseStatus: 500,
  });
  expect(failure.responseBody).toBe('x'.repeat(4096));
  // A success keeps a short prefix: its item stays one write unit (docs/api.md).
  expect(success.responseBody).toBe('x'.repeat(512));
  expect(failure.durationMs).toBeLessThan(1000);

  const binaryLog = await waitFor(
    () => client.call('GET', `/v1/webhooks/${binaryId}/attempts`),
    (answer) => answer.body.data.length === 3,
  );
  for (const attempt of binaryLog.body.data) {
    expect(attempt).toMatchObject({ status: 'failed', responseStatus: 500, trigger: 'scheduled' });
    expect(Buffer.byteLength(attempt.responseBody, 'utf8')).toBeLessThanOrEqual(4096);
    expect(attempt.responseBody.length).toBeGreaterThan(1000);
    expect(CONTROL.test(attempt.responseBody)).toBe(false);
  }

  const htmlLog = await list(htmlId);
  expect(htmlLog.body.data[0]).toMatchObject({
    status: 'succeeded',
    responseBody: '<html><script>alert("pwned")</script></html>',
  });
});

it('filters by status and event and pages with the cursor over real attempts; stats count them', async () => {
  const { client } = await newStore();
  // Every event fails once, then is accepted.
  const flaky = await Receiver.start((count) => ({
    status: count === 1 ? 503 : 200,
    body: Buffer.from('busy'),
  }));
  const endpointId = await register(client, flaky);
  const dead = await Receiver.start(() => ({ status: 500, body: Buffer.from('down') }));
  const deadId = await register(client, dead);

  const eventIds: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    const { body } = await client.call('POST', '/v1/transactions', transaction());
    eventIds.push(body.eventId);
  }
  await waitFor(
    async () => eventIds.map((id) => flaky.count(id) + dead.count(id)),
    (counts) => counts.every((n) => n === 5),
    { timeoutMs: 20_000, what: '2 deliveries to the flaky endpoint and 3 to the dead one, per event' },
  );
  const attemptsPath = `/v1/webhooks/${endpointId}/attempts`;
  const all = await waitFor(
    () => client.call('GET', `${attemptsPath}?limit=100`),
    (answer) => answer.body.data.length === 6,
  );
  const newestFirst = [...eventIds].reverse().flatMap((id) => [`${id}:2:succeeded`, `${id}:1:failed`]);
  const key = (a: { eventId: string; attempt: number; status: string }) =>
    `${a.eventId}:${a.attempt}:${a.status}`;
  expect(all.body.data.map(key)).toEqual(newestFirst);
  expect(all.body.next).toBeUndefined();

  // Page by page with the cursor, 1 and then 4 at a time: the same attempts, once each, in the same order.
  for (const limit of [1, 4]) {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.call(
        'GET',
        `${attemptsPath}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map(key));
      cursor = page.body.next;
    } while (cursor);
    expect(seen).toEqual(newestFirst);
  }

  const failed = await client.call('GET', `${attemptsPath}?status=failed`);
  expect(failed.body.data.map(key)).toEqual(newestFirst.filter((k) => k.endsWith('failed')));
  const oneEvent = await client.call('GET', `${attemptsPath}?eventId=${eventIds[1]}&limit=1`);
  expect(oneEvent.body.data.map(key)).toEqual([`${eventIds[1]}:2:succeeded`]);
  const rest = await client.call(
    'GET',
    `${attemptsPath}?eventId=${eventIds[1]}&cursor=${encodeURIComponent(oneEvent.body.next)}`,
  );
  expect(rest.body.data.map(key)).toEqual([`${eventIds[1]}:1:failed`]);
  expect(rest.body.next).toBeUndefined();

  // A cursor of another event's page, a forged one, a bad status: 400 naming the parameter.
  for (const query of [
    `eventId=${eventIds[0]}&cursor=${encodeURIComponent(oneEvent.body.next)}`,
    'cursor=forged',
    'status=sending',
  ]) {
    const answer = await client.call('GET', `${attemptsPath}?${query}`);
    expect([query, answer.status]).toEqual([query, 400]);
  }

  // Stats: written by the delivery environments every 10 s (endpoint-stats.ts), read in one Query.
  const stats = await waitFor(
    () => client.call('GET', `/v1/webhooks/${endpointId}`),
    (answer) => answer.body.stats?.succeeded === 3 && answer.body.stats?.failed === 3,
    { timeoutMs: 30_000, intervalMs: 500, what: 'the flaky endpoint stats' },
  );
  expect(stats.body.stats).toEqual({
    since: expect.any(String),
    succeeded: 3,
    failed: 3,
    lastSucceededAt: expect.any(String),
  });
  expect(Date.now() - Date.parse(stats.body.stats.since)).toBeGreaterThan(23 * 3_600_000);
  const listed = await waitFor(
    () => client.call('GET', '/v1/webhooks'),
    (answer) => answer.body.data.find((e: { id: string }) => e.id === deadId)?.stats?.failed === 9,
    { timeoutMs: 30_000, intervalMs: 500, what: 'the dead endpoint stats' },
  );
  const deadStats = listed.body.data.find((e: { id: string }) => e.id === deadId).stats;
  expect(deadStats).toMatchObject({ succeeded: 0, failed: 9, failingSince: expect.any(String) });
  expect(deadStats.lastSucceededAt).toBeUndefined();
});

it('lists events newest first with a cursor, and answers one event as it was delivered', async () => {
  const { client } = await newStore();
  const receiver = await Receiver.start(() => ({ status: 204, body: Buffer.alloc(0) }));
  await register(client, receiver);
  const eventIds: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    const { body } = await client.call('POST', '/v1/transactions', transaction());
    eventIds.push(body.eventId);
  }
  const newest = [...eventIds].reverse();
  // A transaction's event is written by its stream's fan-out, just after the 202.
  await waitFor(
    () => client.call('GET', '/v1/events?limit=10'),
    (answer) => answer.body.data.length === 3,
  );
  const first = await client.call('GET', '/v1/events?order=desc&limit=2');
  expect(first.body.data.map((e: { id: string }) => e.id)).toEqual(newest.slice(0, 2));
  const second = await client.call('GET', `/v1/events?order=desc&limit=2&cursor=${first.body.next}`);
  expect(second.body.data.map((e: { id: string }) => e.id)).toEqual(newest.slice(2));
  expect(second.body.next).toBeUndefined();
  expect((await client.call('GET', '/v1/events?order=sideways')).status).toBe(400);

  const eventId = eventIds[1] ?? '';
  await waitFor(
    async () => receiver.count(eventId),
    (n) => n === 1,
  );
  const one = await client.call('GET', `/v1/events/${eventId}`);
  expect(one.status).toBe(200);
  const delivered = receiver.verified.find((w) => w.webhookId === eventId);
  // The same document (a map's key order is not kept by the table, so not byte for byte).
  expect(one.body).toEqual(delivered?.body);

  const { client: stranger } = await newStore();
  expect((await stranger.call('GET', `/v1/events/${eventId}`)).status).toBe(404);
  expect((await client.call('GET', '/v1/events/evt_01J00000000000000000000000')).status).toBe(404);
});
