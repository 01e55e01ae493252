import { pipelineClient, transaction } from '../support/pipeline-client';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * What a merchant sends again (docs/api.md section 3): recover, resend and test, and the webhook_endpoint.disabled
 * notice, end to end on the emulators with real receivers that verify every signature with `standardwebhooks`.
 * Retries are fast here (0s,1s,1s: a delivery is exhausted after three attempts, about two seconds).
 */
jest.setTimeout(90_000);

const ADMIN_KEY = 'admin-key-refeeds-test-0001';
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
  const id = `refeed-${Date.now().toString(36)}-${storeSequence}`;
  const created = await admin.call('POST', '/v1/admin/stores', { id, name: id });
  expect(created.status).toBe(201);
  return { id, client: pipelineClient(stack.apiUrl, created.body.apiKey) };
}

async function receiverFor(client: ReturnType<typeof pipelineClient>, events: string[] = ['*']) {
  const receiver = await WebhookReceiver.start();
  receivers.push(receiver);
  const registered = await client.call('POST', '/v1/webhooks', { url: receiver.url, events });
  expect(registered.status).toBe(201);
  receiver.secrets = [registered.body.secret];
  return { receiver, endpointId: registered.body.id as string };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(client: ReturnType<typeof pipelineClient>): Promise<string> {
  const accepted = await client.call('POST', '/v1/transactions', transaction());
  expect(accepted.status).toBe(202);
  return accepted.body.eventId;
}

type Attempt = { eventId: string; status: string; trigger?: string; attempt: number };

async function attemptsOf(client: ReturnType<typeof pipelineClient>, endpointId: string): Promise<Attempt[]> {
  const answer = await client.call('GET', `/v1/webhooks/${endpointId}/attempts?limit=100`);
  expect(answer.status).toBe(200);
  return answer.body.data;
}

it('Recover skips exactly the delivered events: 5 delivered, then 10 exhausted, then recover sends exactly the 10', async () => {
  const { client } = await newStore();
  const since = new Date(Date.now() - 1_000).toISOString();
  const { receiver, endpointId } = await receiverFor(client);

  const delivered: string[] = [];
  for (let i = 0; i < 5; i += 1) delivered.push(await post(client));
  await receiver.waitFor((r) => delivered.every((id) => r.deliveriesOf(id).length === 1));

  receiver.behavior = () => ({ status: 500 });
  const exhausted: string[] = [];
  for (let i = 0; i < 10; i += 1) exhausted.push(await post(client));
  // Three attempts each (0s, 1s, 1s), then the dead-letter queue.
  await receiver.waitFor((r) => exhausted.every((id) => r.deliveriesOf(id).length === 3), 30_000);
  await settle(1_000);
  expect(receiver.received.filter((w) => w.answered === 500)).toHaveLength(30);

  receiver.behavior = () => ({ status: 200 });
  const before = receiver.received.length;
  const recovered = await client.call('POST', `/v1/webhooks/${endpointId}/recover`, { since });
  expect(recovered.status).toBe(202);
  expect(recovered.body).toEqual({ recoveryId: expect.stringMatching(/^rcv_/), count: 10 });

  await receiver.waitFor((r) => r.received.length >= before + 10);
  await settle(2_000);
  const resent = receiver.received.slice(before);
  expect(resent.map((w) => w.webhookId).sort()).toEqual([...exhausted].sort());
  // Each keeps its event's webhook-id and verifies.
  expect(resent.every((w) => w.verified && w.body.id === w.webhookId)).toBe(true);

  const attempts = await attemptsOf(client, endpointId);
  const recoveredOk = attempts.filter((a) => a.trigger === 'recover' && a.status === 'succeeded');
  expect(recoveredOk.map((a) => a.eventId).sort()).toEqual([...exhausted].sort());

  // Once recovered, nothing is left to recover.
  const again = await client.call('POST', `/v1/webhooks/${endpointId}/recover`, { since });
  expect(again.status).toBe(202);
  expect(again.body.count).toBe(0);
  await settle(1_500);
  expect(receiver.received).toHaveLength(before + 10);
});

it('recovers what was never sent while the endpoint was disabled', async () => {
  const { client } = await newStore();
  const since = new Date(Date.now() - 1_000).toISOString();
  const { receiver, endpointId } = await receiverFor(client);
  const first = await post(client);
  await receiver.waitFor((r) => r.deliveriesOf(first).length === 1);

  expect((await client.call('PATCH', `/v1/webhooks/${endpointId}`, { status: 'disabled' })).status).toBe(200);
  // A disabled endpoint is sent nothing, so nothing can be recovered to it until it is enabled.
  expect((await client.call('POST', `/v1/webhooks/${endpointId}/recover`, { since })).status).toBe(409);
  const missed = [await post(client), await post(client)];
  await settle(2_000);
  expect(receiver.received).toHaveLength(1);

  expect((await client.call('PATCH', `/v1/webhooks/${endpointId}`, { status: 'enabled' })).status).toBe(200);
  const recovered = await client.call('POST', `/v1/webhooks/${endpointId}/recover`, { since });
  expect(recovered.body.count).toBe(2);
  await receiver.waitFor((r) => missed.every((id) => r.deliveriesOf(id).length === 1));
  await settle(1_000);
  expect(receiver.deliveriesOf(first)).toHaveLength(1);
});

it('resends a delivered event: it arrives again with the same webhook-id', async () => {
  const { client } = await newStore();
  const { receiver, endpointId } = await receiverFor(client);
  const eventId = await post(client);
  await receiver.waitFor((r) => r.deliveriesOf(eventId).length === 1);

  const resent = await client.call('POST', `/v1/webhooks/${endpointId}/events/${eventId}/resend`, undefined, {
    'idempotency-key': 'resend-once',
  });
  expect(resent.status).toBe(202);
  expect(resent.body).toEqual({ eventId });
  // The same key again is the same request: answered again, not sent again.
  const replayed = await client.call(
    'POST',
    `/v1/webhooks/${endpointId}/events/${eventId}/resend`,
    undefined,
    {
      'idempotency-key': 'resend-once',
    },
  );
  expect(replayed.headers.get('idempotent-replayed')).toBe('true');

  await receiver.waitFor((r) => r.deliveriesOf(eventId).length === 2);
  await settle(1_500);
  const deliveries = receiver.deliveriesOf(eventId);
  expect(deliveries).toHaveLength(2);
  expect(deliveries.every((w) => w.verified && w.webhookId === eventId)).toBe(true);
  expect(deliveries[1]?.body).toEqual(deliveries[0]?.body);
  await waitFor(
    async () =>
      (await attemptsOf(client, endpointId)).some((a) => a.eventId === eventId && a.trigger === 'resend'),
    Boolean,
  );
});

it('resend answers 404 for another store’s event and 422 for a type the endpoint does not subscribe to', async () => {
  const mine = await newStore();
  const theirs = await newStore();
  const { endpointId } = await receiverFor(mine.client, ['subscription.charged']);
  const ownEvent = await post(mine.client);
  const otherEvent = await post(theirs.client);
  // The transaction's event is stored by the fan-out, just after the 202.
  await waitFor(async () => (await mine.client.call('GET', '/v1/events')).body.data.length === 1, Boolean);
  await waitFor(async () => (await theirs.client.call('GET', '/v1/events')).body.data.length === 1, Boolean);

  const other = await mine.client.call('POST', `/v1/webhooks/${endpointId}/events/${otherEvent}/resend`);
  expect(other.status).toBe(404);
  expect(other.headers.get('content-type')).toContain('application/problem+json');
  const unwanted = await mine.client.call('POST', `/v1/webhooks/${endpointId}/events/${ownEvent}/resend`);
  expect(unwanted.status).toBe(422);
  expect(unwanted.body.detail).toContain('transaction.created');
});

it('sends a signed webhook.test to the tested endpoint only, logs it, and does not list it as an event', async () => {
  const { client, id: storeId } = await newStore();
  const tested = await receiverFor(client, ['subscription.charged']);
  const sibling = await receiverFor(client, ['*']);

  const answer = await client.call('POST', `/v1/webhooks/${tested.endpointId}/test`, {});
  expect(answer.status).toBe(202);
  const { eventId } = answer.body;
  expect(eventId).toMatch(/^evt_/);

  await tested.receiver.waitFor((r) => r.deliveriesOf(eventId).length === 1);
  const [webhook] = tested.receiver.deliveriesOf(eventId);
  expect(webhook?.verified).toBe(true);
  expect(webhook?.body).toEqual({
    id: eventId,
    type: 'webhook.test',
    createdAt: expect.any(String),
    storeId,
    data: { endpointId: tested.endpointId },
  });
  await waitFor(
    async () =>
      (await attemptsOf(client, tested.endpointId)).some(
        (a) => a.eventId === eventId && a.status === 'succeeded' && a.trigger === 'test',
      ),
    Boolean,
  );
  const events = await client.call('GET', '/v1/events');
  expect(events.body.data.map((e: { id: string }) => e.id)).not.toContain(eventId);
  expect((await client.call('GET', `/v1/events?type=webhook.test`)).body.data).toEqual([]);
  expect(sibling.receiver.received).toHaveLength(0);
});

it('a test that fails is retried like any other delivery', async () => {
  const { client } = await newStore();
  const { receiver, endpointId } = await receiverFor(client);
  receiver.behavior = ({ count }) => ({ status: count === 1 ? 503 : 200 });
  const { body } = await client.call('POST', `/v1/webhooks/${endpointId}/test`);
  await receiver.waitFor((r) => r.deliveriesOf(body.eventId).length === 2);
  expect(receiver.deliveriesOf(body.eventId).map((w) => [w.answered, w.verified])).toEqual([
    [503, true],
    [200, true],
  ]);
});

it('tells the store’s other endpoints that subscribe to it when an endpoint is disabled after a 410', async () => {
  const { client, id: storeId } = await newStore();
  const gone = await receiverFor(client, ['transaction.created']);
  gone.receiver.behavior = () => ({ status: 410 });
  const watcher = await receiverFor(client, ['webhook_endpoint.disabled']);
  const everything = await receiverFor(client, ['*']);
  const transactionsOnly = await receiverFor(client, ['transaction.created']);
  const goneUrl = gone.receiver.url;

  await post(client);
  const isNotice = (r: WebhookReceiver) =>
    r.received.filter((w) => w.body.type === 'webhook_endpoint.disabled');
  await watcher.receiver.waitFor((r) => isNotice(r).length === 1);
  await everything.receiver.waitFor((r) => isNotice(r).length === 1);
  const [notice] = isNotice(watcher.receiver);
  expect(notice?.verified).toBe(true);
  expect(notice?.body).toMatchObject({
    type: 'webhook_endpoint.disabled',
    storeId,
    data: { endpointId: gone.endpointId, url: goneUrl, reason: 'gone' },
  });
  expect(isNotice(everything.receiver)[0]?.webhookId).toBe(notice?.webhookId);

  // Stored and listed like any event; sent once; not to an endpoint that does not subscribe to it.
  const listed = await client.call('GET', '/v1/events?type=webhook_endpoint.disabled');
  expect(listed.body.data.map((e: { id: string }) => e.id)).toEqual([notice?.webhookId]);
  await settle(1_500);
  expect(isNotice(watcher.receiver)).toHaveLength(1);
  expect(isNotice(transactionsOnly.receiver)).toHaveLength(0);
  expect(gone.receiver.received).toHaveLength(1);
});

describe('windows', () => {
  const DAY = 86_400_000;
  const iso = (ms: number) => new Date(ms).toISOString();

  it.each(['recover', 'replay'])(
    '%s answers 400 naming the field for an inverted, future or too long window',
    async (route) => {
      const { client } = await newStore();
      const { endpointId } = await receiverFor(client);
      const now = Date.now();
      const cases: [Record<string, string>, string][] = [
        [{ since: iso(now - DAY), until: iso(now - 2 * DAY) }, 'until'],
        [{ since: iso(now + DAY) }, 'since'],
        [{ since: iso(now - DAY), until: iso(now + DAY) }, 'until'],
        [{ since: iso(now - 31 * DAY) }, 'since'],
      ];
      for (const [body, field] of cases) {
        const answer = await client.call('POST', `/v1/webhooks/${endpointId}/${route}`, body);
        expect(answer.status).toBe(400);
        expect(answer.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      }
    },
  );
});
