import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type GatewayFault,
  type GatewayFaults,
  type LedgerEntry,
  PaymentGateway,
} from '../../../local/payment-gateway/payment-gateway';
import type { LocalFunction } from '../../../local/runtime/local-function';
import { SmtpSink } from '../../../local/smtp-sink/smtp-sink';
import { type CfnTemplate, synthesizePipelineTemplate } from '../../../local/template';
import { fetchApi } from '../support/openapi-validator';
import { pipelineClient } from '../support/pipeline-client';
import { startTestStack, type TestStack } from '../support/test-stack';
import { sleep, waitFor } from '../support/wait-for';

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
  /** The template to run, e.g. one synthesized with props. @default the pipeline's, with the default props */
  template: CfnTemplate = synthesizePipelineTemplate(),
): Promise<BillingTestStack> {
  const gateway = await PaymentGateway.start({ apiKey: 'sk_test_billing' });
  const smtp = await SmtpSink.start();
  const stack = await startTestStack(template, {
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

/** A new store and a client with its key (the key too, for requests that are not JSON). */
export async function newStore(billing: BillingTestStack, name = 'billing') {
  stores += 1;
  const id = `${name}-${Date.now().toString(36)}-${stores}`;
  const created = await billing.admin.call('POST', '/v1/admin/stores', { id, name: id });
  if (created.status !== 201) throw new Error(`store: ${created.status} ${JSON.stringify(created.body)}`);
  const apiKey = created.body.apiKey as string;
  return { id, apiKey, client: pipelineClient(billing.stack.apiUrl, apiKey) };
}

export type TestStore = Awaited<ReturnType<typeof newStore>>;

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

/** A run as `GET /v1/admin/subscription-runs/{runId}` shows it. */
export interface RunProgress {
  readonly runId: string;
  readonly status: 'running' | 'completed';
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly completedAt?: string;
  readonly ratePerMinute: number;
  readonly etaSeconds: number | null;
}

/** Waits until the run is completed; returns its view. */
export async function waitForRun(billing: BillingTestStack, runId: string, timeoutMs = 60_000) {
  const answer = await waitFor(
    () => billing.admin.call<RunProgress>('GET', `/v1/admin/subscription-runs/${runId}`),
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

/** The UTC calendar date `days` before today, at `time`: past runs and start dates (runs are per UTC date). */
export function daysAgo(days: number, time = '12:00:00.000Z'): string {
  const date = new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
  return `${date}T${time}`;
}

/** The running function whose logical id starts with `constructId` (e.g. `RunFunction`). */
export function functionOf(billing: BillingTestStack, constructId: string): LocalFunction {
  const match = [...billing.stack.functions.entries()].find(([logicalId]) =>
    logicalId.startsWith(constructId),
  );
  if (!match)
    throw new Error(`No function ${constructId}* in ${[...billing.stack.functions.keys()].join(', ')}`);
  return match[1];
}

/** What the schedules do: invoke RunFunction with `{"trigger": ...}`. Answers `{runId, outcome}`. */
export async function invokeScheduledRun(billing: BillingTestStack, trigger: 'primary' | 'backup') {
  return (await functionOf(billing, 'RunFunction').invoke({ trigger })) as { runId: string; outcome: string };
}

/** Triggers the run of `asOf` through the admin API and waits for its completion. */
export async function runBilling(billing: BillingTestStack, asOf: string, timeoutMs = 30_000) {
  const trigger = await billing.admin.call('POST', '/v1/admin/subscription-runs', { asOf });
  if (trigger.status !== 202) throw new Error(`run: ${trigger.status} ${JSON.stringify(trigger.body)}`);
  return waitForRun(billing, trigger.body.runId as string, timeoutMs);
}

/** The store's datafeed of a run, as text (it is XML). */
export async function fetchDatafeed(billing: BillingTestStack, apiKey: string, runId: string) {
  const response = await fetchApi(new URL(`/v1/datafeeds/subscriptions/${runId}`, billing.stack.apiUrl), {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** An event as `GET /v1/events` lists it. */
export interface ListedEvent {
  readonly id: string;
  readonly type: string;
  readonly createdAt: string;
  readonly storeId: string;
  // biome-ignore lint/suspicious/noExplicitAny: the tests read and assert event data as loose JSON
  readonly data: Record<string, any>;
}

/** Every event of a store of one type, oldest first (all pages). */
export async function eventsOf(store: TestStore, type: string): Promise<ListedEvent[]> {
  const events: ListedEvent[] = [];
  let since: string | undefined;
  do {
    const query = new URLSearchParams({ type, limit: '100', ...(since ? { since } : {}) });
    const page = await store.client.call('GET', `/v1/events?${query}`);
    if (page.status !== 200) throw new Error(`events: ${page.status} ${JSON.stringify(page.body)}`);
    events.push(...page.body.data);
    since = page.body.next;
  } while (since);
  return events;
}

/** The gateway's ledger entries of one subscription, in the order they were made. */
export function ledgerOf(billing: BillingTestStack, subscriptionId: string): LedgerEntry[] {
  return billing.gateway.ledger.filter((entry) => entry.metadata.subscription_id === subscriptionId);
}

/** The Idempotency-Key of a charge (lambdas/billing/domain/charges/charge.ts: one per subscription, period, attempt). */
export function chargeKey(storeId: string, subscriptionId: string, period: string, attempt: number): string {
  return `charge:${storeId}:${subscriptionId}:${period}:${attempt}`;
}

/**
 * A slow gateway: it works `slots` requests at a time, each for `minMs`..`maxMs`, and queues the rest, as a
 * throttled payment provider does. A request that waits past the client's timeout is still charged when its turn
 * comes, after the client gave up: only asking again with the same key gets that answer. `override` decides other
 * faults for some requests first (they take no slot).
 */
export function slowGateway(options: {
  readonly slots: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly override?: (request: Parameters<GatewayFaults>[0]) => GatewayFault | undefined;
}): GatewayFaults {
  const freeAt = Array.from({ length: options.slots }, () => 0);
  return (request) => {
    const special = options.override?.(request);
    if (special) return special;
    const now = Date.now();
    const slot = freeAt.indexOf(Math.min(...freeAt));
    const service = options.minMs + Math.round(Math.random() * (options.maxMs - options.minMs));
    const done = Math.max(now, freeAt[slot] ?? 0) + service;
    freeAt[slot] = done;
    return { kind: 'delay', ms: done - now };
  };
}

/** Emails the SMTP sink received for one address. */
export function mailsTo(billing: BillingTestStack, address: string) {
  return billing.smtp.mails.filter((mail) => mail.to.includes(address));
}

/**
 * Waits out the last `marginMs` of a UTC day: runs are per UTC date, so a scenario whose triggers charge as of
 * their own time (the schedules), or a few minutes ahead, stays on one date.
 */
export async function clearOfMidnight(marginMs = 90_000): Promise<void> {
  const msToMidnight = 86_400_000 - (Date.now() % 86_400_000);
  if (msToMidnight < marginMs) await sleep(msToMidnight + 1_000);
}
