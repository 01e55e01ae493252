import { pipelineClient, transaction } from '../support/pipeline-client';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * The 2018 outage: the webhook system was throttled, the synchronous hand-off slowed the main application and
 * requests were dropped; transactions had to be refed by hand. Here the webhook side (fan-out and delivery) is
 * stopped outright while the storefront keeps posting: every transaction is still accepted at once, and after
 * recovery every one reaches every subscribed endpoint exactly once, with nobody refeeding anything.
 */
jest.setTimeout(90_000);

const ADMIN_KEY = 'admin-key-incident-2018-0001';
let stack: TestStack;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  // A delivery the receiver answered after the client gave up is retried, as it must be (at-least-once, receivers
  // dedupe by webhook-id), and would count twice here. On a loaded CI machine 2 s is too short for 180 deliveries
  // released at once; 15 s (the contract's default) keeps this test about duplicates the pipeline itself causes.
  stack = await startWebhookTestStack(ADMIN_KEY, { WEBHOOK_TIMEOUT_MS: '15000' });
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.stop()));
  await stack?.stop();
});

it('accepts every transaction while the webhook side is down, then delivers each to every endpoint once', async () => {
  const admin = pipelineClient(stack.apiUrl, ADMIN_KEY);
  const store = await admin.call('POST', '/v1/admin/stores', { id: 'incident-2018', name: 'Incident' });
  const client = pipelineClient(stack.apiUrl, store.body.apiKey);
  for (let i = 0; i < 3; i++) {
    const receiver = await WebhookReceiver.start();
    receivers.push(receiver);
    const registered = await client.call('POST', '/v1/webhooks', { url: receiver.url, events: ['*'] });
    receiver.secrets = [registered.body.secret];
  }

  // The outage: nothing consumes the stream or the deliveries queue.
  const webhookSide = stack.eventSources.filter((source) => /fanout|deliver/i.test(source.description));
  expect(webhookSide.length).toBeGreaterThanOrEqual(3);
  await Promise.all(webhookSide.map((source) => source.pause()));

  const eventIds: string[] = [];
  const statuses: number[] = [];
  for (let wave = 0; wave < 10; wave++) {
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => client.call('POST', '/v1/transactions', transaction())),
    );
    for (const answer of answers) {
      statuses.push(answer.status);
      if (answer.status === 202) eventIds.push(answer.body.eventId);
    }
  }
  expect(statuses.every((status) => status === 202)).toBe(true);
  expect(eventIds).toHaveLength(60);
  expect(receivers.every((receiver) => receiver.received.length === 0)).toBe(true);

  // Recovery: the webhook side comes back and catches up from the stream on its own.
  for (const source of webhookSide) source.resume();
  for (const receiver of receivers) {
    await receiver.waitFor((r) => eventIds.every((id) => r.deliveriesOf(id).length >= 1), 60_000);
  }
  // Give any duplicate a chance to show up before counting.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  for (const receiver of receivers) {
    const successes = receiver.successes();
    expect(eventIds.filter((id) => successes.get(id) !== 1)).toEqual([]);
    expect(receiver.received.every((webhook) => webhook.verified)).toBe(true);
  }
});
