/**
 * The gateway rate section (issue 16, section 1): a subscription run's charges against a gateway that answers like
 * Stripe's rate limiter, with and without the pipeline's shared gateway limit.
 *
 * Each variant runs on a local stack of its own (the template sized by its props, as `cdk deploy` would size it),
 * with the bundled gateway set to take GATEWAY_LATENCY_MS per request and to answer 429 `rate_limit` past
 * GATEWAY_LIMIT requests in any second (a sliding window: the strictest reading of "per second"):
 * - `limited`: PAYMENT_GATEWAY_RATE_LIMIT = GATEWAY_LIMIT, the charge consumer's concurrency computed from it (3);
 * - `unlimited`: today's behaviour before the limit: a fixed concurrency of 5 and no rate to keep to
 *   (PAYMENT_GATEWAY_RATE_LIMIT far above anything the run can send).
 * The run is triggered through the admin API; the gateway's fault hook timestamps every create request that gets
 * past its rate limiter (a charge made), and its rate limiter timestamps every 429.
 *
 * Steady state: from 2 s after the first request reached the gateway until the run's last charge. The charge rate
 * is the charges made in [first + 2 s, the 95th percentile charge] over that span (the run's last few charges
 * trickle in as the queue empties, which is not the rate the gateway allows). Targets: rate >= 0.9 x the limit,
 * 429s at steady state = 0; and every subscription charged exactly once in both variants.
 *
 * Alone: npx tsx -e "require('./bench/gateway-rate').runGatewayRateBench({log: console.error}).then(f =>
 *   console.log(require('./bench/gateway-rate').gatewayRateRows(f).join('\n')))"
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BatchWriteItemCommand, DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ulid } from 'ulid';
import { newSubscription, subscriptionInput } from '../lambdas/billing/domain/subscription';
import { newEventId } from '../lambdas/events/domain/events';
import { createPipelineApp } from '../lib/app';
import type { PipelineStackProps } from '../lib/pipeline-stack';
import { localClientConfig, QUIET_SDK_ENVIRONMENT } from '../local/aws-clients';
import { PaymentGateway } from '../local/payment-gateway/payment-gateway';
import { type LocalStack, startLocalStack } from '../local/stack';
import { synthesizeTemplate } from '../local/template';
import { api, createStore, refOf, round, sleep } from './support';

/** What the gateway allows, and the pipeline's limit in the `limited` variant. */
const GATEWAY_LIMIT = 20;
const GATEWAY_LATENCY_MS = 300;
/** Due subscriptions per run: about 25 s of charges at the limit. */
const SUBSCRIPTIONS = 500;
const STORES = 2;
/** The steady state starts this long after the first request reached the gateway. */
const STEADY_AFTER_MS = 2_000;
const RUN_TIMEOUT_MS = 120_000;
const PAYMENT_GATEWAY_API_KEY = 'sk_test_gateway_rate';

export interface GatewayRateRun {
  readonly variant: 'limited' | 'unlimited';
  /** PAYMENT_GATEWAY_RATE_LIMIT as set. */
  readonly rateLimitSetting: number;
  /** The charge consumer's maximum concurrency in the template. */
  readonly chargeConcurrency: number;
  readonly subscriptions: number;
  /** Trigger → completed run. */
  readonly wallSeconds: number;
  /** Charges made per second at steady state (see the file's comment). */
  readonly chargesPerSecond: number;
  /** Charges made per second from the first to the last. */
  readonly overallChargesPerSecond: number;
  /** 429s the gateway answered during the run, and at steady state. */
  readonly rateLimited: number;
  readonly rateLimitedSteady: number;
  /** The most requests the gateway admitted in any 1 s (its limit caps it). */
  readonly maxAdmittedPerSecond: number;
  /** Subscriptions charged more than once (must be 0), and not charged (must be 0). */
  readonly duplicates: number;
  readonly missing: number;
}

export interface GatewayRateFigures {
  readonly gatewayLimit: number;
  readonly gatewayLatencyMs: number;
  readonly window: 'sliding';
  readonly steadyAfterMs: number;
  readonly limited: GatewayRateRun;
  readonly unlimited: GatewayRateRun;
  readonly durationSeconds: number;
}

export async function runGatewayRateBench(options: {
  log: (line: string) => void;
}): Promise<GatewayRateFigures> {
  Object.assign(process.env, QUIET_SDK_ENVIRONMENT);
  const started = performance.now();
  const limited = await measureRun(options.log, 'limited', {
    rateLimitSetting: GATEWAY_LIMIT,
    stackProps: { settings: { PAYMENT_GATEWAY_RATE_LIMIT: String(GATEWAY_LIMIT) } },
  });
  const unlimited = await measureRun(options.log, 'unlimited', {
    rateLimitSetting: 1_000_000,
    stackProps: { settings: { PAYMENT_GATEWAY_RATE_LIMIT: '1000000' }, chargeConcurrency: 5 },
  });
  return {
    gatewayLimit: GATEWAY_LIMIT,
    gatewayLatencyMs: GATEWAY_LATENCY_MS,
    window: 'sliding',
    steadyAfterMs: STEADY_AFTER_MS,
    limited,
    unlimited,
    durationSeconds: round((performance.now() - started) / 1000, 1),
  };
}

/** Markdown rows `| measure | value | target | met |` for the bench's table. */
export function gatewayRateRows(figures: GatewayRateFigures): string[] {
  const { limited, unlimited, gatewayLimit } = figures;
  const target = 0.9 * gatewayLimit;
  const gateway = `gateway: ${figures.gatewayLatencyMs} ms, 429 past ${gatewayLimit}/s (sliding 1 s)`;
  const met = (ok: boolean) => (ok ? 'yes' : 'no');
  return [
    `| charges/s with PAYMENT_GATEWAY_RATE_LIMIT=${gatewayLimit} (steady state; ${gateway}; concurrency ${limited.chargeConcurrency}) | ${limited.chargesPerSecond} | >= ${round(target, 1)} | ${met(limited.chargesPerSecond >= target)} |`,
    `| 429s at steady state (after the first ${figures.steadyAfterMs / 1000} s), with the limit | ${limited.rateLimitedSteady} (${limited.rateLimited} in all) | 0 | ${met(limited.rateLimitedSteady === 0)} |`,
    `| duplicate / missing charges with the limit (${limited.subscriptions} subscriptions) | ${limited.duplicates} / ${limited.missing} | 0 / 0 | ${met(limited.duplicates === 0 && limited.missing === 0)} |`,
    `| charges/s without the limit (concurrency ${unlimited.chargeConcurrency}, as before) | ${unlimited.chargesPerSecond} | reported | - |`,
    `| 429s without the limit (at steady state / in all) | ${unlimited.rateLimitedSteady} / ${unlimited.rateLimited} | reported | - |`,
    `| duplicate / missing charges without the limit | ${unlimited.duplicates} / ${unlimited.missing} | 0 / 0 | ${met(unlimited.duplicates === 0 && unlimited.missing === 0)} |`,
    `| run wall time with / without the limit (s) | ${limited.wallSeconds} / ${unlimited.wallSeconds} | reported | - |`,
  ];
}

async function measureRun(
  log: (line: string) => void,
  variant: GatewayRateRun['variant'],
  setup: { readonly rateLimitSetting: number; readonly stackProps: PipelineStackProps },
): Promise<GatewayRateRun> {
  const gateway = await PaymentGateway.start({
    apiKey: PAYMENT_GATEWAY_API_KEY,
    latencyMs: GATEWAY_LATENCY_MS,
    rateLimit: { requestsPerSecond: GATEWAY_LIMIT, window: 'sliding' },
  });
  const adminApiKey = `sk_admin_${randomBytes(16).toString('hex')}`;
  const stackLog: string[] = [];
  let stack: LocalStack | undefined;
  try {
    const { stack: cdkStack } = createPipelineApp({
      bundle: false,
      nag: false,
      stackName: `GatewayRate${variant}`,
      stackProps: setup.stackProps,
    });
    const template = synthesizeTemplate(cdkStack);
    stack = await startLocalStack({
      template,
      config: {
        adminApiKey,
        paymentGatewayApiKey: PAYMENT_GATEWAY_API_KEY,
        settings: {
          ...(setup.stackProps.settings as Record<string, string>),
          PAYMENT_GATEWAY_URL: gateway.url,
          WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
          RUN_POLL_SECONDS: '1',
          RUN_SWEEP_INTERVAL_SECONDS: '1',
          CHARGE_RETRY_BASE_SECONDS: '1',
        },
      },
      log: (message) => stackLog.push(message),
      functionOutput: () => {},
    });
    const chargeConcurrency = chargeConcurrencyOf(template);
    // The schedules would start today's run on their own; webhooks and emails are not the run (paused, as the
    // subscription bench does, so that they do not share the two cores with it).
    const downstream = [...stack.functions.values()]
      .filter((fn) => /\/(fanout|deliver|replay|notify)\.ts$/.test(fn.props.entry))
      .map((fn) => fn.props.name);
    const paused = stack.eventSources.filter(
      (source) =>
        /^(cron|rate|at)\(/.test(source.description) ||
        downstream.some((name) => source.description.endsWith(` → ${name}`)),
    );
    await Promise.all(paused.map((source) => source.pause()));

    const storeIds: string[] = [];
    for (let index = 0; index < STORES; index += 1) {
      const id = `bench-rate-${variant}-${index}-${ulid().toLowerCase()}`;
      await createStore(stack, adminApiKey, id);
      storeIds.push(id);
    }
    await seedDueSubscriptions(stack, storeIds, SUBSCRIPTIONS);
    // Let the outbox announce the seeded subscriptions before the run is timed.
    await sleep(3_000);
    log(
      `(gateway-rate) ${variant}: ${SUBSCRIPTIONS} due subscriptions, charge concurrency ${chargeConcurrency}`,
    );

    const charged: number[] = [];
    gateway.faults = () => {
      charged.push(Date.now());
      return { kind: 'none' };
    };
    const refusedFrom = gateway.rateLimitedAt.length;
    const triggeredAt = Date.now();
    const triggered = await api(stack, adminApiKey, 'POST', '/v1/admin/subscription-runs', {});
    const runId = String(triggered.runId);
    let view: Record<string, unknown>;
    for (;;) {
      view = await api(stack, adminApiKey, 'GET', `/v1/admin/subscription-runs/${runId}`);
      if (view.status === 'completed') break;
      if (Date.now() - triggeredAt > RUN_TIMEOUT_MS) {
        throw new Error(`(gateway-rate) ${variant}: run not completed in time: ${JSON.stringify(view)}`);
      }
      await sleep(500);
    }
    const wallSeconds = (Date.parse(String(view.completedAt)) - triggeredAt) / 1000;
    const refused = gateway.rateLimitedAt.slice(refusedFrom);

    // The gateway is the judge: one successful PaymentIntent per subscription.
    const perSubscription = new Map<string, number>();
    for (const entry of gateway.ledger) {
      if (!storeIds.includes(entry.metadata.store_id ?? '') || entry.outcome !== 'succeeded') continue;
      const id = entry.metadata.subscription_id ?? '';
      perSubscription.set(id, (perSubscription.get(id) ?? 0) + 1);
    }
    const duplicates = [...perSubscription.values()].filter((count) => count > 1).length;
    const missing = SUBSCRIPTIONS - perSubscription.size;

    const first = Math.min(...charged, ...refused);
    const last = Math.max(...charged);
    const steadyFrom = first + STEADY_AFTER_MS;
    const sorted = [...charged].sort((a, b) => a - b);
    const p95 = sorted[Math.floor(0.95 * (sorted.length - 1))] ?? last;
    const steadyCharges = sorted.filter((at) => at >= steadyFrom && at <= p95).length;
    const run: GatewayRateRun = {
      variant,
      rateLimitSetting: setup.rateLimitSetting,
      chargeConcurrency,
      subscriptions: SUBSCRIPTIONS,
      wallSeconds: round(wallSeconds, 1),
      chargesPerSecond: round(steadyCharges / Math.max(0.001, (p95 - steadyFrom) / 1000), 1),
      overallChargesPerSecond: round(charged.length / Math.max(0.001, (last - first) / 1000), 1),
      rateLimited: refused.length,
      rateLimitedSteady: refused.filter((at) => at >= steadyFrom && at <= last).length,
      maxAdmittedPerSecond: maxInAnySecond(sorted),
      duplicates,
      missing,
    };
    log(`(gateway-rate) ${variant}: ${JSON.stringify(run)}`);
    return run;
  } finally {
    gateway.faults = () => ({ kind: 'none' });
    await stack?.stop();
    await gateway.stop();
  }
}

/** The charge consumer's MaximumConcurrency in the template. */
function chargeConcurrencyOf(template: ReturnType<typeof synthesizeTemplate>): number {
  const charge = Object.entries(template.Resources).find(
    ([, resource]) => resource.Metadata?.['commerce-pipeline:entry'] === 'lambdas/billing/handlers/charge.ts',
  )?.[0];
  const mapping = Object.values(template.Resources).find(
    (resource) =>
      resource.Type === 'AWS::Lambda::EventSourceMapping' &&
      JSON.stringify(resource.Properties?.FunctionName ?? '').includes(`"${charge}"`),
  );
  return Number(
    (mapping?.Properties as { ScalingConfig?: { MaximumConcurrency?: number } } | undefined)?.ScalingConfig
      ?.MaximumConcurrency,
  );
}

/** The most timestamps (ms, sorted) within any 1 s. */
function maxInAnySecond(sorted: readonly number[]): number {
  let most = 0;
  let from = 0;
  for (let to = 0; to < sorted.length; to += 1) {
    while ((sorted[to] as number) - (sorted[from] as number) >= 1000) from += 1;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

/** `count` subscriptions due an hour ago, as POST /v1/subscriptions stores them, written 25 at a time. */
async function seedDueSubscriptions(stack: LocalStack, storeIds: readonly string[], count: number) {
  const dynamodb = new DynamoDBClient(localClientConfig(stack.endpoints.dynamodb));
  const tableName = refOf(stack, 'SubscriptionsTable');
  const now = Date.now();
  try {
    const items = Array.from({ length: count }, (_, index) => {
      const storeId = storeIds[index % storeIds.length] as string;
      const subscriptionId = `sub_${ulid(now)}`;
      const body = subscriptionInput.parse({
        customer: { id: `cus_${index}`, email: `customer.${index}@example.com` },
        plan: 'coffee-monthly',
        amount: 1_999,
        currency: 'USD',
        interval: 'month',
        paymentMethod: 'pm_card_visa',
        startAt: new Date(now - 3_600_000).toISOString(),
      });
      return newSubscription({
        storeId,
        subscriptionId,
        body,
        fingerprint: subscriptionId,
        now,
        createdEventId: newEventId(now),
      });
    });
    for (let start = 0; start < items.length; start += 25) {
      let requests: WriteRequest[] = items.slice(start, start + 25).map((item) => ({
        PutRequest: { Item: marshall(item, { removeUndefinedValues: true }) },
      }));
      for (let tries = 0; requests.length > 0; tries += 1) {
        if (tries > 10) throw new Error('seeding: BatchWriteItem kept leaving items unprocessed');
        const { UnprocessedItems } = await dynamodb.send(
          new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }),
        );
        requests = UnprocessedItems?.[tableName] ?? [];
        if (requests.length > 0) await sleep(50 * 2 ** tries);
      }
    }
  } finally {
    dynamodb.destroy();
  }
}
