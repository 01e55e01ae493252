import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { pipelineClient, transaction } from '../support/pipeline-client';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Transactions in, signed webhooks out, end to end on the emulators: the real template, the real handlers in
 * workers, real receivers that verify every signature with the `standardwebhooks` package. Retries are fast here
 * (0s,1s,1s) and a delivery attempt times out after 2 s.
 */
jest.setTimeout(60_000);

const ADMIN_KEY = 'admin-key-webhooks-test-0001';
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

/** A new store and a client with its key. */
async function newStore() {
  storeSequence += 1;
  const admin = pipelineClient(stack.apiUrl, ADMIN_KEY);
  const id = `whstore-${Date.now().toString(36)}-${storeSequence}`;
  const created = await admin.call('POST', '/v1/admin/stores', { id, name: id });
  expect(created.status).toBe(201);
  return { id, client: pipelineClient(stack.apiUrl, created.body.apiKey) };
}

async function receiverFor(
  client: ReturnType<typeof pipelineClient>,
  events: string[] = ['*'],
): Promise<{ receiver: WebhookReceiver; endpointId: string }> {
  const receiver = await WebhookReceiver.start();
  receivers.push(receiver);
  const registered = await client.call('POST', '/v1/webhooks', { url: receiver.url, events });
  expect(registered.status).toBe(201);
  expect(registered.body.secret).toMatch(/^whsec_/);
  receiver.secrets = [registered.body.secret];
  return { receiver, endpointId: registered.body.id };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('delivers a signed transaction.created to each subscribed endpoint, and logs the attempt', async () => {
  const { id: storeId, client } = await newStore();
  const all = await receiverFor(client, ['*']);
  const chargesOnly = await receiverFor(client, ['subscription.charged']);

  const body = transaction();
  const accepted = await client.call('POST', '/v1/transactions', body);
  expect(accepted.status).toBe(202);
  expect(accepted.body).toMatchObject({
    id: body.id,
    status: 'accepted',
    eventId: expect.stringMatching(/^evt_/),
  });
  const { eventId } = accepted.body;

  await all.receiver.waitFor((r) => r.deliveriesOf(eventId).length === 1);
  const [webhook] = all.receiver.deliveriesOf(eventId);
  expect(webhook?.verified).toBe(true);
  expect(webhook?.body).toMatchObject({
    id: eventId,
    type: 'transaction.created',
    storeId,
    data: { id: body.id, total: 2500 },
  });

  const attempts = await client.call('GET', `/v1/webhooks/${all.endpointId}/attempts`);
  expect(attempts.body.data[0]).toMatchObject({
    eventId,
    attempt: 1,
    status: 'succeeded',
    responseStatus: 200,
  });
  await settle(500);
  expect(chargesOnly.receiver.received).toHaveLength(0);
});

it('retries a 500 with the same webhook-id until it succeeds', async () => {
  const { client } = await newStore();
  const { receiver, endpointId } = await receiverFor(client);
  receiver.behavior = ({ count }) => ({ status: count === 1 ? 500 : 200 });

  const { body } = await client.call('POST', '/v1/transactions', transaction());
  await receiver.waitFor((r) => r.deliveriesOf(body.eventId).length === 2);
  expect(receiver.deliveriesOf(body.eventId).map((w) => [w.webhookId, w.answered, w.verified])).toEqual([
    [body.eventId, 500, true],
    [body.eventId, 200, true],
  ]);
  const attempts = await client.call('GET', `/v1/webhooks/${endpointId}/attempts`);
  expect(attempts.body.data.map((a: { attempt: number; status: string }) => [a.attempt, a.status])).toEqual([
    [2, 'succeeded'],
    [1, 'failed'],
  ]);
});

it('disables an endpoint that answers 410 and stops its retries', async () => {
  const { client } = await newStore();
  const { receiver, endpointId } = await receiverFor(client);
  receiver.behavior = () => ({ status: 410 });

  const { body } = await client.call('POST', '/v1/transactions', transaction());
  await receiver.waitFor((r) => r.deliveriesOf(body.eventId).length === 1);
  await settle(2_500);
  expect(receiver.received).toHaveLength(1);
  const endpoint = await client.call('GET', `/v1/webhooks/${endpointId}`);
  expect(endpoint.body).toMatchObject({ status: 'disabled', disabledReason: 'gone' });
  expect(endpoint.body.secret).toBeUndefined();

  await client.call('POST', '/v1/transactions', transaction());
  await settle(1_500);
  expect(receiver.received).toHaveLength(1);
});

it('counts a timeout as a failure and retries it', async () => {
  const { client } = await newStore();
  const { receiver, endpointId } = await receiverFor(client);
  receiver.behavior = ({ count }) => (count === 1 ? 'hang' : { status: 204 });

  const { body } = await client.call('POST', '/v1/transactions', transaction());
  await receiver.waitFor((r) => r.deliveriesOf(body.eventId).length === 2);
  const attempts = await client.call('GET', `/v1/webhooks/${endpointId}/attempts`);
  const first = attempts.body.data.find((a: { attempt: number }) => a.attempt === 1);
  expect(first).toMatchObject({ status: 'failed', error: expect.stringMatching(/timeout/i) });
  expect(first.durationMs).toBeGreaterThanOrEqual(1_900);
});

it('keeps delivering promptly to one endpoint while another endpoint of the store never answers', async () => {
  const { client } = await newStore();
  const dead = await receiverFor(client);
  dead.receiver.behavior = () => 'hang';
  const live = await receiverFor(client);

  const posted = new Map<string, number>();
  for (let i = 0; i < 6; i++) {
    const { body } = await client.call('POST', '/v1/transactions', transaction());
    posted.set(body.eventId, Date.now());
  }
  await live.receiver.waitFor((r) => [...posted.keys()].every((id) => r.deliveriesOf(id).length >= 1));
  // Each attempt on the dead endpoint holds a connection for the full 2 s timeout. Queued behind it, the live
  // endpoint's delivery of the same event would arrive only after that timeout. Judged against the dead endpoint's
  // own arrival of the event (not against a wall-clock bound, which a loaded 2-core machine stretches): the live
  // one never waited for it.
  await dead.receiver.waitFor((r) => [...posted.keys()].every((id) => r.deliveriesOf(id).length >= 1));
  for (const eventId of posted.keys()) {
    const liveAt = live.receiver.deliveriesOf(eventId)[0]?.receivedAt ?? Number.POSITIVE_INFINITY;
    const deadAt = dead.receiver.deliveriesOf(eventId)[0]?.receivedAt ?? Number.NEGATIVE_INFINITY;
    expect(liveAt - deadAt).toBeLessThan(2_000);
  }
});

it('accepts the same transaction twice as one event, and refuses the same id with another body', async () => {
  const { client } = await newStore();
  const { receiver } = await receiverFor(client);
  const body = transaction();

  const first = await client.call('POST', '/v1/transactions', body);
  const again = await client.call('POST', '/v1/transactions', body);
  const changed = await client.call('POST', '/v1/transactions', { ...body, total: 9999 });
  expect([first.status, again.status, changed.status]).toEqual([202, 202, 422]);
  expect(again.body).toEqual(first.body);
  expect(again.headers.get('idempotent-replayed')).toBe('true');

  await receiver.waitFor((r) => r.deliveriesOf(first.body.eventId).length === 1);
  await settle(1_500);
  expect(receiver.received).toHaveLength(1);
});

it('does not send again when a delivered message is redelivered, or copied by a second fan-out pass', async () => {
  const { id: storeId, client } = await newStore();
  const { receiver, endpointId } = await receiverFor(client);
  const { body } = await client.call('POST', '/v1/transactions', transaction());
  await receiver.waitFor((r) => r.deliveriesOf(body.eventId).length === 1);

  const deliveries = stack.resources
    .all()
    .find((r) => r.type === 'AWS::SQS::Queue' && /^DeliveriesQueue(?!.*DeadLetter)/.test(r.logicalId));
  const consumer = stack.eventSources.find((source) => /deliver/i.test(source.description));
  if (!deliveries || !consumer) throw new Error('no deliveries queue or consumer in the template');
  const copy = JSON.stringify({ storeId, endpointId, eventId: body.eventId, attempt: 1 });

  // A real redelivery: the message is received once and not deleted (a crash, a lost delete), so SQS delivers it
  // again after its visibility timeout, with ApproximateReceiveCount 2.
  await consumer.pause();
  await stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: deliveries.ref, MessageBody: copy }));
  let seen = false;
  for (let i = 0; i < 10 && !seen; i++) {
    const { Messages = [] } = await stack.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deliveries.ref,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 1,
        WaitTimeSeconds: 1,
      }),
    );
    seen = Messages.some((message) => message.Body === copy);
  }
  expect(seen).toBe(true);
  consumer.resume();

  // What a fan-out sends when it processes the same record a second time: a new message, the same as the first.
  await stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: deliveries.ref, MessageBody: copy }));
  await settle(3_000);
  expect(receiver.deliveriesOf(body.eventId)).toHaveLength(1);
});

it('signs with both secrets for a day after a rotation', async () => {
  const { client } = await newStore();
  const { receiver, endpointId } = await receiverFor(client);
  const rotated = await client.call('POST', `/v1/webhooks/${endpointId}/rotate-secret`);
  expect(rotated.status).toBe(200);
  expect(rotated.body.secret).toMatch(/^whsec_/);
  receiver.secrets = [...receiver.secrets, rotated.body.secret];

  const { body } = await client.call('POST', '/v1/transactions', transaction());
  await receiver.waitFor((r) => r.deliveriesOf(body.eventId).length === 1);
  const [webhook] = receiver.deliveriesOf(body.eventId);
  expect(webhook?.signature.split(' ')).toHaveLength(2);
  expect(webhook?.verifiedWith).toEqual([0, 1]);
});

it('replays a time window: every matching event is delivered again with its webhook-id', async () => {
  const { client } = await newStore();
  const { receiver, endpointId } = await receiverFor(client);
  const since = new Date(Date.now() - 1_000).toISOString();
  const eventIds: string[] = [];
  for (let i = 0; i < 3; i++)
    eventIds.push((await client.call('POST', '/v1/transactions', transaction())).body.eventId);
  await receiver.waitFor((r) => eventIds.every((id) => r.deliveriesOf(id).length === 1));

  const replay = await client.call('POST', `/v1/webhooks/${endpointId}/replay`, { since });
  expect(replay.status).toBe(202);
  expect(replay.body).toMatchObject({ replayId: expect.any(String), count: 3 });
  await receiver.waitFor((r) => eventIds.every((id) => r.deliveriesOf(id).length === 2));
  expect(receiver.received.every((w) => w.verified)).toBe(true);

  const inverted = await client.call('POST', `/v1/webhooks/${endpointId}/replay`, {
    since: new Date().toISOString(),
    until: since,
  });
  expect(inverted.status).toBe(400);
});
