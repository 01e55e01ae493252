import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { PaymentGateway } from '../../../local/payment-gateway/payment-gateway';
import { SmtpSink } from '../../../local/smtp-sink/smtp-sink';
import { synthesizePipelineTemplate } from '../../../local/template';
import { pipelineClient } from '../support/pipeline-client';
import { startTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';

/** The pipeline with its own gateway and SMTP sink, set up for subscription tests: quick run steps and retries. */
export interface BillingTestStack {
  readonly stack: TestStack;
  readonly gateway: PaymentGateway;
  readonly smtp: SmtpSink;
  readonly admin: ReturnType<typeof pipelineClient>;
  stop(): Promise<void>;
}

export async function startBillingTestStack(
  adminApiKey: string,
  settings: Record<string, string> = {},
): Promise<BillingTestStack> {
  const gateway = await PaymentGateway.start({ apiKey: 'sk_test_billing' });
  const smtp = await SmtpSink.start();
  const stack = await startTestStack(synthesizePipelineTemplate(), {
    config: {
      adminApiKey,
      paymentGatewayApiKey: 'sk_test_billing',
      settings: {
        WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
        PAYMENT_GATEWAY_URL: gateway.url,
        PAYMENT_GATEWAY_TIMEOUT_MS: '1500',
        SMTP_URL: smtp.url,
        RUN_POLL_SECONDS: '1',
        RUN_LEASE_SECONDS: '10',
        RUN_STEP_MARGIN_MS: '2000',
        RUN_SWEEP_INTERVAL_SECONDS: '1',
        CHARGE_RETRY_BASE_SECONDS: '1',
        ...settings,
      },
    },
  });
  return {
    stack,
    gateway,
    smtp,
    admin: pipelineClient(stack.apiUrl, adminApiKey),
    stop: async () => {
      await stack.stop();
      await gateway.stop();
      await smtp.stop();
    },
  };
}

let stores = 0;

/** A new store and a client with its key. */
export async function newStore(billing: BillingTestStack, name = 'billing') {
  stores += 1;
  const id = `${name}-${Date.now().toString(36)}-${stores}`;
  const created = await billing.admin.call('POST', '/v1/admin/stores', { id, name: id });
  if (created.status !== 201) throw new Error(`store: ${created.status} ${JSON.stringify(created.body)}`);
  return { id, client: pipelineClient(billing.stack.apiUrl, created.body.apiKey as string) };
}

export function subscriptionBody(overrides: Record<string, unknown> = {}) {
  return {
    customer: { id: 'cus_1', email: 'customer@example.com' },
    plan: 'coffee-monthly',
    amount: 1999,
    currency: 'USD',
    interval: 'month',
    paymentMethod: 'pm_card_visa',
    startAt: new Date(Date.now() - 60_000).toISOString(),
    ...overrides,
  };
}

/** Waits until the run is completed; returns its view. */
export async function waitForRun(billing: BillingTestStack, runId: string, timeoutMs = 60_000) {
  const answer = await waitFor(
    () => billing.admin.call('GET', `/v1/admin/subscription-runs/${runId}`),
    (answer) => answer.status === 200 && answer.body.status === 'completed',
    { timeoutMs, intervalMs: 250, what: `run ${runId} to complete` },
  );
  return answer.body;
}

/** Every item of a table (small test tables). */
export async function scanTable<T = Record<string, unknown>>(
  stack: TestStack,
  constructId: string,
): Promise<T[]> {
  const items: T[] = [];
  let after: Record<string, never> | undefined;
  do {
    const output = await stack.clients.dynamodb.send(
      new ScanCommand({ TableName: stack.ref(constructId), ConsistentRead: true, ExclusiveStartKey: after }),
    );
    items.push(...(output.Items ?? []).map((item) => unmarshall(item) as T));
    after = output.LastEvaluatedKey as Record<string, never> | undefined;
  } while (after);
  return items;
}
