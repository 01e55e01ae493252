import { pipelineClient, transaction } from '../support/pipeline-client';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Per-endpoint custom headers and rate limit (docs/api.md sections 3 and 4), end to end on the emulators: the real
 * template and handlers, receivers that verify every delivery with the `standardwebhooks` package, and the limit
 * measured where it matters, at the receiver.
 */
jest.setTimeout(240_000);

const ADMIN_KEY = 'admin-key-endpoint-limits-0001';
let stack: TestStack;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  stack = await startWebhookTestStack(ADMIN_KEY, { WEBHOOK_DISABLE_AFTER: '1h' });
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.stop()));
  await stack?.stop();
});

let storeSequence = 0;
async function newStore() {
  storeSequence += 1;
  const admin = pipelineClient(stack.apiUrl, ADMIN_KEY);
  const id = `limits-${Date.now().toString(36)}-${storeSequence}`;
  const created = await admin.call('POST', '/v1/admin/stores', { id, name: id });
  expect(created.status).toBe(201);
  return { id, client: pipelineClient(stack.apiUrl, created.body.apiKey) };
}

async function register(client: ReturnType<typeof pipelineClient>, extra: Record<string, unknown> = {}) {
  const receiver = await WebhookReceiver.start();
  receivers.push(receiver);
  const registered = await client.call('POST', '/v1/webhooks', {
    url: receiver.url,
    events: ['transaction.created'],
    ...extra,
  });
  expect(registered.status).toBe(201);
  receiver.secrets = [registered.body.secret];
  return { receiver, endpoint: registered.body };
}

/** The most deliveries in any closed one-second window [t, t + 1000], measured at the receiver. */
function maxInAnySecond(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last += 1) {
    while ((sorted[last] as number) - (sorted[first] as number) > 1000) first += 1;
    max = Math.max(max, last - first + 1);
  }
  return max;
}

const ZAP_AUTH = 'Bearer zap_hook_secret_0123456789abcdef';

it('sends the custom headers with every delivery, refuses reserved ones, and masks the authorization on read', async () => {
  const { client } = await newStore();
  const { receiver, endpoint } = await register(client, {
    headers: { Authorization: ZAP_AUTH, 'X-Shop': 'acme-eu' },
  });
  expect(endpoint.headers).toEqual({ Authorization: 'Bearer ****cdef', 'X-Shop': 'acme-eu' });
  const fetched = await client.call('GET', `/v1/webhooks/${endpoint.id}`);
  const listed = await client.call('GET', '/v1/webhooks');
  expect(fetched.body.headers).toEqual({ Authorization: 'Bearer ****cdef', 'X-Shop': 'acme-eu' });
  expect(JSON.stringify([fetched.body, listed.body])).not.toContain('zap_hook_secret');

  for (const [name, value] of [
    ['Webhook-Signature', 'v1,forged'],
    ['Host', 'evil.example.com'],
    ['content-type', 'text/plain'],
    ['X-Shop', 'a\r\nX-Injected: 1'],
  ] as const) {
    const refused = await client.call('PATCH', `/v1/webhooks/${endpoint.id}`, { headers: { [name]: value } });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([expect.objectContaining({ field: `headers.${name}` })]);
  }

  const accepted = await client.call('POST', '/v1/transactions', transaction());
  expect(accepted.status).toBe(202);
  await receiver.waitFor((r) => r.deliveriesOf(accepted.body.eventId).length === 1);
  const [delivered] = receiver.deliveriesOf(accepted.body.eventId);
  expect(delivered?.verified).toBe(true);
  expect(delivered?.headers).toMatchObject({
    authorization: ZAP_AUTH,
    'x-shop': 'acme-eu',
    'content-type': 'application/json',
    'user-agent': 'commerce-pipeline-webhooks/1',
  });
  expect(delivered?.headers['x-injected']).toBeUndefined();

  // PATCH replaces the set; the next delivery carries the new one (after the delivery's endpoint cache expires).
  const patched = await client.call('PATCH', `/v1/webhooks/${endpoint.id}`, {
    headers: { 'X-Shop': 'acme-us' },
  });
  expect(patched.status).toBe(200);
  expect(patched.body.headers).toEqual({ 'X-Shop': 'acme-us' });
  const again = async () => {
    const next = await client.call('POST', '/v1/transactions', transaction());
    await receiver.waitFor((r) => r.deliveriesOf(next.body.eventId).length === 1);
    return receiver.deliveriesOf(next.body.eventId)[0];
  };
  let latest = await again();
  for (let tries = 0; tries < 15 && latest?.headers['x-shop'] !== 'acme-us'; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    latest = await again();
  }
  expect(latest?.headers['x-shop']).toBe('acme-us');
  expect(latest?.headers.authorization).toBeUndefined();
  expect(latest?.verified).toBe(true);
});

it('holds the rate limit under a backlog of 200, measured at the receiver, while a sibling endpoint is unaffected', async () => {
  const RATE = 5;
  const COUNT = 200;
  const { client } = await newStore();
  const limited = await register(client, { rateLimit: RATE });
  const sibling = await register(client);
  expect(limited.endpoint.rateLimit).toBe(RATE);

  const started = Date.now();
  const eventIds: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < COUNT) {
        next += 1;
        for (;;) {
          const answer = await client.call('POST', '/v1/transactions', transaction());
          if (answer.status === 202) {
            eventIds.push(answer.body.eventId);
            break;
          }
          expect(answer.status).toBe(429);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
    }),
  );
  expect(eventIds).toHaveLength(COUNT);

  await sibling.receiver.waitFor((r) => r.successes().size === COUNT, 60_000);
  const siblingDone = Math.max(...sibling.receiver.received.map((w) => w.receivedAt));
  await limited.receiver.waitFor((r) => r.successes().size === COUNT, 180_000);
  const limitedDone = Math.max(...limited.receiver.received.map((w) => w.receivedAt));

  const times = limited.receiver.received.map((w) => w.receivedAt);
  const maxPerSecond = maxInAnySecond(times);
  const siblingMax = maxInAnySecond(sibling.receiver.received.map((w) => w.receivedAt));
  const firstLimited = Math.min(...times);
  console.log(
    `endpoint rate limit ${RATE}/s, ${COUNT} events: the limited receiver's most in any second ${maxPerSecond}, ` +
      `its ${COUNT} deliveries over ${((limitedDone - firstLimited) / 1000).toFixed(1)} s ` +
      `(${((COUNT - 1) / ((limitedDone - firstLimited) / 1000)).toFixed(2)}/s), done ${((limitedDone - started) / 1000).toFixed(1)} s after the first post; ` +
      `the sibling (no limit) done ${((siblingDone - started) / 1000).toFixed(1)} s after it, most in a second ${siblingMax}`,
  );

  expect(maxPerSecond).toBeLessThanOrEqual(RATE + 1);
  expect(limited.receiver.received.every((w) => w.verified)).toBe(true);
  // Each event once (a missed slot is reserved again, never sent twice).
  expect(limited.receiver.received).toHaveLength(COUNT);
  // The sibling is not slowed by the backlog: it has everything long before the limited one does.
  expect(limitedDone - siblingDone).toBeGreaterThan(20_000);
  expect(siblingMax).toBeGreaterThan(RATE + 1);
  // A delivery waiting for its slot spends no attempt and records no failure.
  const attempts = await client.call('GET', `/v1/webhooks/${limited.endpoint.id}/attempts?limit=100`);
  expect(attempts.status).toBe(200);
  expect(attempts.body.data.every((a: { status: string }) => a.status === 'succeeded')).toBe(true);
  const endpoint = await client.call('GET', `/v1/webhooks/${limited.endpoint.id}`);
  expect(endpoint.body.status).toBe('enabled');
  expect(endpoint.body.failingSince).toBeUndefined();
});
