import { type Bundle, createAppTester, type ZObject } from 'zapier-platform-core';
import App from '../../../integrations/zapier/src';
import type { ConnectionInfo } from '../../../integrations/zapier/src/authentication';
import type { PipelineEvent, WebhookEndpoint } from '../../../integrations/zapier/src/triggers';
import { pipelineClient, transaction } from '../support/pipeline-client';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * The Zapier integration (integrations/zapier) run by zapier-platform-core's own app tester against the real
 * pipeline on the emulators. A local HTTP server stands in for Zapier's hook URL and verifies every delivery with
 * the `standardwebhooks` package. zapier-platform-core sends its logs to Zapier only with a logging token
 * (`LOGGING_TOKEN`, or a token in the invocation, which the app tester never sets): without one nothing leaves
 * 127.0.0.1, and the app skips core's patch of `http`/`fetch` (`flags.skipHttpPatch`).
 */
jest.setTimeout(60_000);

const ADMIN_KEY = 'admin-key-zapier-test-0001';
let stack: TestStack;
let receiver: WebhookReceiver;
const appTester = createAppTester(App);
const savedLogging = { token: process.env.LOGGING_TOKEN, endpoint: process.env.LOGGING_ENDPOINT };

beforeAll(async () => {
  delete process.env.LOGGING_TOKEN;
  // Were a token set anyway, the logs would go here (nothing listens), never to Zapier's servers.
  process.env.LOGGING_ENDPOINT = 'http://127.0.0.1:9/zapier-logs';
  [stack, receiver] = await Promise.all([
    startWebhookTestStack(ADMIN_KEY, { WEBHOOK_DISABLE_AFTER: '1h' }),
    WebhookReceiver.start(),
  ]);
}, 120_000);

afterAll(async () => {
  await receiver?.stop();
  await stack?.stop();
  for (const [name, value] of [
    ['LOGGING_TOKEN', savedLogging.token],
    ['LOGGING_ENDPOINT', savedLogging.endpoint],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function newStore() {
  const admin = pipelineClient(stack.apiUrl, ADMIN_KEY);
  const id = `zapier-${Date.now().toString(36)}`;
  const created = await admin.call('POST', '/v1/admin/stores', { id, name: id });
  expect(created.status).toBe(201);
  const apiKey: string = created.body.apiKey;
  return { id, apiKey, client: pipelineClient(stack.apiUrl, apiKey) };
}

type Operation = (z: ZObject, bundle: Bundle) => unknown;

/** A trigger's operation method, as Zapier calls it. */
function method(
  triggerKey: string,
  name: 'performSubscribe' | 'performUnsubscribe' | 'perform' | 'performList',
) {
  const operation = App.triggers[triggerKey]?.operation as Record<string, Operation> | undefined;
  const fn = operation?.[name];
  if (!fn) throw new Error(`No ${name} on trigger ${triggerKey}`);
  return fn;
}

it('subscribes, receives a verified delivery, lists newest first and unsubscribes', async () => {
  const store = await newStore();
  // A trailing slash, as a merchant may paste it.
  const authData = { apiUrl: `${stack.apiUrl}/`, apiKey: store.apiKey };

  // The connection: its test passes with the store key, and fails with another.
  const info = (await appTester(App.authentication?.test as Operation, { authData })) as ConnectionInfo;
  expect(info.apiHost).toBe(new URL(stack.apiUrl).host);
  await expect(
    appTester(App.authentication?.test as Operation, { authData: { ...authData, apiKey: 'sk_store_wrong' } }),
  ).rejects.toThrow(/refused the store key/);

  // Turning the Zap on: an endpoint for Zapier's hook URL, for transaction.created only.
  const subscription = (await appTester(method('new_transaction', 'performSubscribe'), {
    authData,
    targetUrl: receiver.url,
    inputData: {},
  })) as WebhookEndpoint;
  expect(subscription).toMatchObject({
    id: expect.stringMatching(/^ep_/),
    url: receiver.url,
    events: ['transaction.created'],
    status: 'enabled',
    secret: expect.stringMatching(/^whsec_/),
  });
  receiver.secrets = [subscription.secret ?? ''];
  const registered = await store.client.call('GET', `/v1/webhooks/${subscription.id}`);
  expect(registered.status).toBe(200);
  expect(registered.body).toMatchObject({ url: receiver.url, events: ['transaction.created'] });

  // Two transactions, one after the other: both arrive, signed, at the hook URL.
  const eventIds: string[] = [];
  for (const body of [transaction({ total: 1200 }), transaction({ total: 3400 })]) {
    const accepted = await store.client.call('POST', '/v1/transactions', body);
    expect(accepted.status).toBe(202);
    eventIds.push(accepted.body.eventId);
  }
  const [firstId, secondId] = eventIds as [string, string];
  await receiver.waitFor((r) => eventIds.every((id) => r.deliveriesOf(id).length > 0));
  const delivered = receiver.deliveriesOf(firstId)[0];
  expect(delivered?.verified).toBe(true);
  expect(delivered?.body).toMatchObject({ id: firstId, type: 'transaction.created', storeId: store.id });

  // What Zapier does with a delivery: perform returns the event, whose id it deduplicates on.
  const performed = (await appTester(method('new_transaction', 'perform'), {
    authData,
    cleanedRequest: delivered?.body,
  })) as PipelineEvent[];
  expect(performed).toEqual([delivered?.body]);

  // Samples: the store's transaction events, newest first; no charge has failed.
  const listed = (await appTester(method('new_transaction', 'performList'), {
    authData,
    inputData: {},
    meta: { limit: 10 },
  })) as PipelineEvent[];
  expect(listed.map((event) => event.id)).toEqual([secondId, firstId]);
  expect(listed[0]).toEqual(receiver.deliveriesOf(secondId)[0]?.body);
  const failures = await appTester(method('payment_failed', 'performList'), { authData, inputData: {} });
  expect(failures).toEqual([]);

  // The connection label names the store once it has an event.
  const labelled = (await appTester(App.authentication?.test as Operation, { authData })) as ConnectionInfo;
  expect(labelled.storeId).toBe(store.id);
  await expect(
    appTester(App.authentication?.connectionLabel as Operation, { authData, inputData: labelled }),
  ).resolves.toBe(`${store.id} @ ${labelled.apiHost}`);

  // Turning the Zap off deletes the endpoint; a second unsubscribe (already gone) still succeeds.
  await expect(
    appTester(method('new_transaction', 'performUnsubscribe'), { authData, subscribeData: subscription }),
  ).resolves.toEqual({ id: subscription.id, deleted: true });
  expect((await store.client.call('GET', `/v1/webhooks/${subscription.id}`)).status).toBe(404);
  await expect(
    appTester(method('new_transaction', 'performUnsubscribe'), { authData, subscribeData: subscription }),
  ).resolves.toEqual({ id: subscription.id, deleted: false });

  // Nothing more reaches the hook URL.
  const before = receiver.received.length;
  const after = await store.client.call('POST', '/v1/transactions', transaction());
  expect(after.status).toBe(202);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(receiver.received.length).toBe(before);
});

it('subscribes each subscription trigger to its one event type', async () => {
  const { apiKey, client } = await newStore();
  const authData = { apiUrl: stack.apiUrl, apiKey };
  const expected = {
    subscription_charged: 'subscription.charged',
    payment_failed: 'subscription.payment_failed',
    subscription_canceled: 'subscription.canceled',
  };
  for (const [key, eventType] of Object.entries(expected)) {
    const endpoint = (await appTester(method(key, 'performSubscribe'), {
      authData,
      targetUrl: `${receiver.url}/${key}`,
      inputData: {},
    })) as WebhookEndpoint;
    expect(endpoint.events).toEqual([eventType]);
    await appTester(method(key, 'performUnsubscribe'), { authData, subscribeData: endpoint });
    expect((await client.call('GET', `/v1/webhooks/${endpoint.id}`)).status).toBe(404);
  }
  const { body } = await client.call('GET', '/v1/webhooks');
  expect(body.data).toEqual([]);
});

it('explains what the API refused', async () => {
  const { apiKey } = await newStore();
  await expect(
    appTester(method('new_transaction', 'performSubscribe'), {
      authData: { apiUrl: stack.apiUrl, apiKey },
      targetUrl: 'ftp://example.com/hooks',
      inputData: {},
    }),
  ).rejects.toThrow(/url/);
});
