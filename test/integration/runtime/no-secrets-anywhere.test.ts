import { synthesizePipelineTemplate } from '../../../local/template';
import { fetchApi } from '../support/openapi-validator';
import { pipelineClient, transaction } from '../support/pipeline-client';
import { startTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';
import { WebhookReceiver } from '../support/webhook-receiver';

// A pipeline start-up and a subscription run through to a charge: more than jest's default 5 s.
jest.setTimeout(120_000);

/** Distinctive values, so that finding one anywhere cannot be a coincidence. */
const ADMIN_API_KEY = 'sk_admin_RUNTIME_CANARY_5b8e1d4a9c2f';
const DEMO_STORE_API_KEY = 'sk_store_RUNTIME_CANARY_0d6a3f8b2e7c';
const PAYMENT_GATEWAY_API_KEY = 'sk_test_RUNTIME_CANARY_7c2f9e4b1a6d';

/**
 * The 2019 incident's lesson, on a running local stack: after the routes that handle secrets have run (stores,
 * webhooks, a transaction and its delivery, a subscription and a run through to a charge at the gateway), no
 * function's environment holds a secret, and nothing the functions wrote or the stack logged contains one, at
 * the most verbose log level. The secrets include those made on the way: a new store's key and an endpoint's
 * signing secret. (The templates: test/cdk/no-secrets-in-templates.test.ts.)
 */
describe('no secret in a running stack’s function environments or logs', () => {
  let stack: TestStack;
  let receiver: WebhookReceiver;
  const secrets: Record<string, string> = {
    ADMIN_API_KEY,
    DEMO_STORE_API_KEY,
    PAYMENT_GATEWAY_API_KEY,
  };

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    stack = await startTestStack(synthesizePipelineTemplate(), {
      config: {
        adminApiKey: ADMIN_API_KEY,
        demoStoreApiKey: DEMO_STORE_API_KEY,
        paymentGatewayApiKey: PAYMENT_GATEWAY_API_KEY,
        settings: {
          WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
          WEBHOOK_RETRY_SCHEDULE: '0s,1s',
          WEBHOOK_TIMEOUT_MS: '2000',
          // Everything the functions can log, not only what they log by default.
          POWERTOOLS_LOG_LEVEL: 'DEBUG',
          // Quick run steps, as the subscription tests use.
          RUN_POLL_SECONDS: '1',
          RUN_SWEEP_INTERVAL_SECONDS: '1',
          RUN_STEP_MARGIN_MS: '2000',
        },
      },
    });

    const admin = pipelineClient(stack.apiUrl, ADMIN_API_KEY);
    const demo = pipelineClient(stack.apiUrl, DEMO_STORE_API_KEY);
    const expectStatus = (answer: { status: number; body: unknown }, status: number, what: string) => {
      if (answer.status !== status)
        throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body as Record<string, unknown>;
    };

    // Stores: a new one, whose key is a secret too.
    const store = expectStatus(
      await admin.call('POST', '/v1/admin/stores', { id: 'no-secrets', name: 'No secrets' }),
      201,
      'store',
    );
    secrets.NEW_STORE_API_KEY = String(store.apiKey);
    const newStore = pipelineClient(stack.apiUrl, secrets.NEW_STORE_API_KEY);
    expectStatus(await newStore.call('GET', '/v1/events'), 200, 'events of the new store');

    // A webhook endpoint (its signing secret is shown once) and a transaction delivered to it.
    const endpoint = expectStatus(
      await demo.call('POST', '/v1/webhooks', { url: receiver.url, events: ['*'] }),
      201,
      'webhook endpoint',
    );
    secrets.WEBHOOK_SIGNING_SECRET = String(endpoint.secret);
    receiver.secrets = [secrets.WEBHOOK_SIGNING_SECRET];
    const accepted = expectStatus(
      await demo.call('POST', '/v1/transactions', transaction()),
      202,
      'transaction',
    );
    await waitFor(
      async () => receiver.deliveriesOf(String(accepted.eventId)),
      (received) => received.some((webhook) => webhook.verified),
      { timeoutMs: 20_000, intervalMs: 200, what: 'the transaction webhook' },
    );

    // A subscription, and a run through to its charge at the gateway (which takes only the gateway key).
    const subscription = expectStatus(
      await demo.call('POST', '/v1/subscriptions', {
        customer: { id: 'cus_canary', email: 'canary@example.com' },
        plan: 'coffee',
        amount: 1999,
        currency: 'USD',
        interval: 'month',
        paymentMethod: 'pm_card_visa',
        startAt: new Date(Date.now() - 60_000).toISOString(),
      }),
      201,
      'subscription',
    );
    const run = expectStatus(await admin.call('POST', '/v1/admin/subscription-runs', {}), 202, 'run');
    await waitFor(
      () => admin.call('GET', `/v1/admin/subscription-runs/${run.runId}`),
      (answer) => answer.status === 200 && answer.body.status === 'completed',
      { timeoutMs: 60_000, intervalMs: 250, what: `run ${run.runId} to complete` },
    );
    expect(
      stack.paymentGateway?.successfulCharges({ subscription_id: String(subscription.id) }),
    ).toHaveLength(1);
    // The charge's receipt goes out asynchronously; wait for it, so that its functions' output is in too.
    await waitFor(
      async () => stack.smtpSink?.mails.length ?? 0,
      (count) => count > 0,
      { timeoutMs: 20_000, intervalMs: 200, what: 'the receipt email' },
    );

    // The manage link key (generated by the stack): it signed the receipt's link; the API signs and checks one.
    secrets.MANAGE_LINK_KEY = String(stack.secrets.value(stack.ref('ManageLinkKeySecret')));
    const link = expectStatus(
      await demo.call('POST', `/v1/subscriptions/${subscription.id}/manage-link`, {}),
      201,
      'manage link',
    );
    const page = await fetchApi(String(link.url));
    expect(page.status).toBe(200);
  });
  afterAll(async () => {
    await stack?.stop();
    await receiver?.stop();
  });

  it('exercised every function that reads a secret, and the functions wrote output', () => {
    expect(Object.keys(secrets)).toHaveLength(6);
    expect(stack.functionOutput.length).toBeGreaterThan(0);
    // DEBUG output is there: the check below reads the most the functions can write.
    expect(stack.functionOutput.join('')).toContain('"level":"DEBUG"');
  });

  it('gives no function a secret value in its environment', () => {
    expect(stack.functions.size).toBeGreaterThan(0);
    for (const fn of stack.functions.values()) {
      for (const [name, value] of Object.entries(fn.props.environment)) {
        for (const [secret, secretValue] of Object.entries(secrets)) {
          expect({ fn: fn.props.name, name, secret, contains: value.includes(secretValue) }).toEqual({
            fn: fn.props.name,
            name,
            secret,
            contains: false,
          });
        }
      }
    }
  });

  it('finds no secret value in what the functions wrote or the stack logged', () => {
    const output = [...stack.functionOutput, ...stack.logs];
    for (const [secret, value] of Object.entries(secrets)) {
      const lines = output.filter((line) => line.includes(value));
      expect({ secret, lines }).toEqual({ secret, lines: [] });
    }
  });
});
