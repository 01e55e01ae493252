/**
 * The subscription benchmarks (issue requirement), on the local stack `run.ts` started:
 *
 *   (d) a run of 10,000 due subscriptions: trigger → completed wall time and charges per second, with the gateway's
 *       ledger checked to hold exactly 10,000 successful charges, one per subscription;
 *   (e) DynamoDB write units per successful charge, subscription advance (and its `due` index) included (target
 *       <= 5), from ReturnConsumedCapacity (INDEXES) on every call of the real adapters run in-process; and,
 *       separately, what the billing outbox and the run manifest add per charge;
 *   (f) the same charge path with Powertools' `makeIdempotent` as its exactly-once guard instead of the claim, on
 *       the same emulator and gateway, in rotating rounds at the same concurrency (target: claim path >= 1.2x);
 *       with a control (the same tables without streams) and the charge function's stage alone (claims made ahead).
 *
 * The functions run in worker threads of the local runtime, out of reach of a metering client: (e) and (f) run
 * the charge path in this process instead, with the event sources paused (as the webhook throughput comparison
 * does), so that the asynchronous side does not share the two cores with what is measured.
 *
 * DynamoDB Local does all its work on one SQLite thread, and each write to a table with a stream (and each
 * DescribeStream, GetRecords or DescribeTable) looks up the stream's shard with a query whose cost grows with the
 * stream records the emulator holds (24 hours' worth): the more the pipeline has written, the slower every write.
 * Hence a stack of its own for this section, and fresh emulators for (f).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateTimeToLiveCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { ulid } from 'ulid';
import { requestFingerprint } from '../lambdas/api/domain/idempotency';
import { DynamoChargesRepository } from '../lambdas/billing/adapters/dynamo-charges-repository';
import { DynamoRunsRepository } from '../lambdas/billing/adapters/dynamo-runs-repository';
import { DynamoSubscriptionsRepository } from '../lambdas/billing/adapters/dynamo-subscriptions-repository';
import { StripePaymentGateway } from '../lambdas/billing/adapters/stripe-payment-gateway';
import {
  type ChargeRecord,
  refOf as chargeRefOf,
  chargeRefToString,
  claimFor,
} from '../lambdas/billing/domain/charges/charge';
import type { PaymentGateway } from '../lambdas/billing/domain/charges/gateway';
import type { ChargeResolution, ChargesRepository } from '../lambdas/billing/domain/charges/ports';
import {
  type ChargeProcessOutcome,
  ChargeStillPendingError,
  processCharge,
} from '../lambdas/billing/domain/charges/process';
import { digest } from '../lambdas/billing/domain/event-ids';
import type { ChargeMessage } from '../lambdas/billing/domain/messages';
import { chargeChangeEffects, emptyEffects } from '../lambdas/billing/domain/outbox-effects';
import { runIdOf } from '../lambdas/billing/domain/schedule';
import {
  type DunningPolicy,
  newSubscription,
  type Subscription,
  subscriptionInput,
} from '../lambdas/billing/domain/subscription';
import { DynamoEventsRepository } from '../lambdas/events/adapters/dynamo-events-repository';
import { eventIdFor, newEventId } from '../lambdas/events/domain/events';
import { loadConfig } from '../lambdas/platform/config';
import { createDocumentClient } from '../lambdas/platform/dynamodb';
import { localClientConfig } from '../local/aws-clients';
import { startDynamoDbLocal } from '../local/emulators/dynamodb-local';
import type { LocalFunction } from '../local/runtime/local-function';
import type { LocalStack } from '../local/stack';
import {
  api,
  type CpuSample,
  cpuBetween,
  createStore,
  forEachLimit,
  type Meter,
  type MeteredCall,
  meteredClient,
  percentile,
  refOf,
  resetMeter,
  round,
  sampleCpu,
  sleep,
  summarizeSamples,
  type Samples as TimedSamples,
  timedSamples,
} from './support';

/** Settings the local stack needs for (d): quick run steps and sweeps (the integration tests use the same). */
export const SUBSCRIPTION_BENCH_SETTINGS = {
  RUN_POLL_SECONDS: '1',
  RUN_SWEEP_INTERVAL_SECONDS: '1',
} as const;

export const SUBSCRIPTION_CONFIG = {
  /** (d): due subscriptions in the run, spread over this many stores. */
  runSubscriptions: 10_000,
  runStores: 4,
  /** (d): fan-out, webhook delivery and e-mail notifications paused while the run runs (see measureRun). */
  runWithDownstreamPaused: true,
  /** (d): a run that is not completed by then fails the bench. */
  runTimeoutMs: 40 * 60_000,
  /** (e): charges metered, per path. */
  meteredCharges: 500,
  /** (f): charges timed per path (in `comparisonRounds` rotating rounds), and charges in flight per path. */
  comparisonCharges: 1_200,
  comparisonRounds: 4,
  warmupCharges: 60,
  /** One charge-consumer batch: BatchProcessor works a batch's records concurrently. */
  comparisonConcurrency: 10,
};

const CONFIG = SUBSCRIPTION_CONFIG;
const SEED_CONCURRENCY = 8;
const BATCH_WRITE_SIZE = 25;
/** The payment method of every benched subscription: the bundled gateway charges it successfully. */
const PAYMENT_METHOD = 'pm_card_visa';

export interface SubscriptionBenchOptions {
  readonly adminApiKey: string;
  /** The bundled gateway's secret key (the stack's `paymentGatewayApiKey`). */
  readonly paymentGatewayApiKey: string;
}

export async function measureSubscriptions(stack: LocalStack, options: SubscriptionBenchOptions) {
  const activity = new FunctionActivity(stack);
  // The schedules would start today's run on their own at 00:05 and 02:05 UTC: the bench triggers its run.
  const schedules = stack.eventSources.filter((source) => /^(cron|rate|at)\(/.test(source.description));
  await Promise.all(schedules.map((source) => source.pause()));
  const run = await measureRun(stack, options, activity);
  console.error('(d) done');
  // The charge path in this process from here on: the asynchronous side waits, as in AWS it runs on its own
  // capacity. Write units are counted on the stack's own tables.
  await Promise.all(stack.eventSources.map((source) => source.pause()));
  const onStack = await chargePathSetup(stack, options);
  const writeUnits = await measureChargeWriteUnits(stack, onStack, run).finally(() => onStack.dispose());
  console.error('(e) done');
  // Timed on DynamoDB Locals of their own: the stack's holds the run's tens of thousands of stream records, and
  // DynamoDB Local's cost per write to a table with a stream grows with the stream records it holds (see README),
  // which would weigh on whichever side writes more to such tables, not on what AWS charges. Once with the stack's
  // table definitions (the target's figure), once without streams (a control: AWS adds no cost per stream record).
  const asDeployed = await chargePathSetup(stack, options, await startDynamoDbLocal(), { streams: true });
  const tablesAsDeployed = await compareWithMakeIdempotent(asDeployed).finally(() => asDeployed.dispose());
  const noStreams = await chargePathSetup(stack, options, await startDynamoDbLocal(), { streams: false });
  const tablesWithoutStreams = await compareWithMakeIdempotent(noStreams).finally(() => noStreams.dispose());
  console.error('(f) done');
  return {
    run: run.results,
    writeUnits,
    makeIdempotent: {
      concurrency: CONFIG.comparisonConcurrency,
      rounds: CONFIG.comparisonRounds,
      chargesPerSide: CONFIG.comparisonCharges,
      paymentMethod: PAYMENT_METHOD,
      emulator:
        "a DynamoDB Local of its own per variant, with the stack's subscriptions and charges tables; the stack's gateway",
      idempotencyTableTtl: asDeployed.idempotencyTtl,
      ...tablesAsDeployed,
      target: '>= 1.2',
      tablesWithoutStreams,
    },
  };
}

export type SubscriptionResults = Awaited<ReturnType<typeof measureSubscriptions>>;

// ---------------------------------------------------------------------------------------------------------------
// (d) a run of 10,000 due subscriptions on the local stack

async function measureRun(stack: LocalStack, options: SubscriptionBenchOptions, activity: FunctionActivity) {
  const gateway = stack.paymentGateway;
  if (!gateway) throw new Error('(d) needs the bundled payment gateway (PAYMENT_GATEWAY_URL must be unset).');
  const storeIds: string[] = [];
  for (let index = 0; index < CONFIG.runStores; index += 1) {
    const id = `bench-run-${index}-${ulid().toLowerCase()}`;
    await createStore(stack, options.adminApiKey, id);
    storeIds.push(id);
  }
  const charge = functionByEntry(stack, 'lambdas/billing/handlers/charge.ts');
  const outbox = functionByEntry(stack, 'lambdas/billing/handlers/billing-outbox.ts');
  const runFunction = functionByEntry(stack, 'lambdas/billing/handlers/run.ts');
  const consumer = queueMappingOf(stack, charge);
  const tables = { subscriptions: refOf(stack, 'SubscriptionsTable'), charges: refOf(stack, 'ChargesTable') };

  // What follows the events table (webhook fan-out and delivery, receipts by email) is not the run: in AWS it runs
  // on its own capacity, here it would share the two cores with the run. Paused from the seeding on.
  const downstream = CONFIG.runWithDownstreamPaused ? downstreamSources(stack) : [];
  await Promise.all(downstream.map((source) => source.pause()));

  // Seeding: the items `newSubscription` makes (what POST /v1/subscriptions stores), written 25 at a time.
  const dynamodb = new DynamoDBClient(localClientConfig(stack.endpoints.dynamodb));
  let seedSeconds: number;
  let drainSeconds: number;
  try {
    const seedStart = performance.now();
    const outboxBefore = activity.recordsFrom(outbox, tables.subscriptions);
    await seedSubscriptions(dynamodb, tables.subscriptions, storeIds, CONFIG.runSubscriptions);
    seedSeconds = (performance.now() - seedStart) / 1000;
    // Their `subscription.created` events go through the outbox first: in production they were announced long
    // before the run, so the run is timed on a quiet stack.
    const drainStart = performance.now();
    await activity.waitUntil(
      () => activity.recordsFrom(outbox, tables.subscriptions) - outboxBefore >= CONFIG.runSubscriptions,
      5 * 60_000,
      'the outbox to announce the seeded subscriptions',
    );
    await activity.quiet(2_000, 5 * 60_000);
    drainSeconds = (performance.now() - drainStart) / 1000;
  } finally {
    dynamodb.destroy();
  }
  console.error(
    `(d) ${CONFIG.runSubscriptions} due subscriptions seeded in ${seedSeconds.toFixed(1)} s, announced in ${drainSeconds.toFixed(1)} s; running...`,
  );

  // The run: triggered through the admin API, polled until completed. The gateway's fault hook, called once per
  // charge request with a new key, timestamps the charges.
  const chargeTimes: number[] = [];
  const faults = gateway.faults;
  gateway.faults = (request) => {
    chargeTimes.push(performance.now());
    return faults(request);
  };
  const ledgerBefore = gateway.ledger.length;
  const mailsBefore = stack.smtpSink?.mails.length ?? 0;
  const before = activity.snapshot();
  const outboxChargeRecordsBefore = activity.recordsFrom(outbox, tables.charges);
  const outboxChargeBatchesBefore = activity.batchesFrom(outbox, tables.charges);
  // The charges queue's depth: near 0 while the consumer keeps up with what the run claims and sends.
  const sqs = new SQSClient(localClientConfig(stack.endpoints.sqs));
  const chargesQueue = refOf(stack, 'ChargesQueue');
  const depth = async () => {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: chargesQueue,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      queued: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  };
  const progress: { seconds: number; charged: number; queued: number; inFlight: number }[] = [];
  const cpuBefore = sampleCpu();
  const started = performance.now();
  const triggeredAt = Date.now();
  let view: Record<string, unknown>;
  try {
    const triggered = await api(stack, options.adminApiKey, 'POST', '/v1/admin/subscription-runs', {});
    if (triggered.outcome !== 'started') {
      throw new Error(`(d) the run was not started by the bench's trigger: ${JSON.stringify(triggered)}`);
    }
    const runId = String(triggered.runId);
    for (;;) {
      // Claims (as the outbox sees them on the charges stream) against charges made (the gateway's count).
      progress.push({
        seconds: round((performance.now() - started) / 1000, 1),
        charged: chargeTimes.length,
        ...(await depth()),
      });
      view = await api(stack, options.adminApiKey, 'GET', `/v1/admin/subscription-runs/${runId}`);
      if (view.status === 'completed') break;
      if (performance.now() - started > CONFIG.runTimeoutMs) {
        throw new Error(
          `(d) run ${runId} not completed after ${CONFIG.runTimeoutMs / 1000} s: ${JSON.stringify(view)}`,
        );
      }
      // Every second: each poll is an invocation of the API function, on the same two cores.
      await sleep(1_000);
    }
  } finally {
    gateway.faults = faults;
    sqs.destroy();
  }
  const observedSeconds = (performance.now() - started) / 1000;
  const cpu = cpuBetween(cpuBefore, sampleCpu());
  // Trigger → the run's completedAt (the same clock), free of the poll's granularity.
  const wallSeconds = (Date.parse(String(view.completedAt)) - triggeredAt) / 1000;
  const during = activity.since(before);

  // The gateway is the judge: exactly one successful charge per subscription, none twice.
  const entries = gateway.ledger.slice(ledgerBefore);
  const ours = entries.filter((entry) =>
    storeIds.some((storeId) => entry.idempotencyKey?.startsWith(`charge:${storeId}:`)),
  );
  const succeeded = ours.filter((entry) => entry.outcome === 'succeeded');
  const distinct = new Set(
    succeeded.map((entry) => `${entry.metadata.subscription_id}|${entry.metadata.period}`),
  );
  const problems = [
    succeeded.length !== CONFIG.runSubscriptions &&
      `the gateway made ${succeeded.length} successful charges, not ${CONFIG.runSubscriptions}`,
    distinct.size !== succeeded.length &&
      `${succeeded.length - distinct.size} subscriptions were charged more than once`,
    ours.length !== succeeded.length && `${ours.length - succeeded.length} charges were declined`,
    view.succeeded !== CONFIG.runSubscriptions &&
      `the run reports ${String(view.succeeded)} succeeded, not ${CONFIG.runSubscriptions}`,
  ].filter((problem): problem is string => typeof problem === 'string');
  if (problems.length > 0) throw new Error(`(d) the run is wrong: ${problems.join('; ')}.`);

  const relative = chargeTimes.map((time) => (time - started) / 1000).sort((a, b) => a - b);
  const at = (fraction: number) =>
    relative[Math.min(relative.length - 1, Math.floor(fraction * relative.length))] ?? 0;
  const steadySeconds = at(0.9) - at(0.1);
  const outboxChargeBatches = activity.batchesFrom(outbox, tables.charges) - outboxChargeBatchesBefore;
  const results = {
    subscriptions: CONFIG.runSubscriptions,
    stores: CONFIG.runStores,
    seeding:
      'BatchWriteItem of the items newSubscription makes (as POST /v1/subscriptions stores them), not 10,000 API calls',
    seedSeconds: round(seedSeconds, 1),
    createdEventsDrainSeconds: round(drainSeconds, 1),
    runId: String(view.runId),
    wallSeconds: round(wallSeconds, 1),
    observedCompletedAfterSeconds: round(observedSeconds, 1),
    downstreamPaused: downstream.map((source) => source.description),
    chargesPerSecond: round(CONFIG.runSubscriptions / wallSeconds, 1),
    /** The run's own startedAt → completedAt. */
    reportedSeconds: round(
      (Date.parse(String(view.completedAt)) - Date.parse(String(view.startedAt))) / 1000,
      1,
    ),
    timeline: {
      firstChargeSeconds: round(at(0), 2),
      medianChargeSeconds: round(at(0.5), 2),
      lastChargeSeconds: round(relative[relative.length - 1] ?? 0, 2),
      /** Charges per second between the 10th and the 90th percentile of charge times. */
      steadyChargesPerSecond: round((0.8 * relative.length) / steadySeconds, 1),
      /** When the outbox had seen every claim: the enumeration's end, give or take the stream's lag. */
      /** The most charge messages waiting in the queue at once (sampled every second), and the median. */
      maxQueued: Math.max(0, ...progress.map((point) => point.queued)),
      medianQueued: percentile(
        progress.map((point) => point.queued),
        50,
      ),
      /** From the last gateway charge to the completed run (counters, sweep, datafeeds, completion). */
      completionAfterLastChargeSeconds: round(wallSeconds - (relative[relative.length - 1] ?? 0), 2),
    },
    ledger: { succeeded: succeeded.length, distinctSubscriptionPeriods: distinct.size },
    /** CPU seconds from trigger to completion, by process; `others` is the rest of the machine meanwhile. */
    cpu: {
      seconds: Object.fromEntries(Object.entries(cpu.seconds).map(([name, used]) => [name, round(used, 1)])),
      ours: round(cpu.ours, 1),
      others: round(cpu.others, 1),
      oursMsPerCharge: round((cpu.ours * 1000) / CONFIG.runSubscriptions, 2),
      coresAvailable: availableParallelism(),
    },
    chargeConsumer: {
      ...consumer,
      functionConcurrency: charge.props.concurrency,
      note: 'from the template (DurableQueue consumer) through the local runtime: at most maxConcurrency invocations of batchSize charges, worked concurrently',
    },
    settings: SUBSCRIPTION_BENCH_SETTINGS,
    /** Every invocation during the run: how much else the run's charges set moving on the same two cores. */
    functions: during,
    outbox: {
      chargeRecords: activity.recordsFrom(outbox, tables.charges) - outboxChargeRecordsBefore,
      chargeBatches: outboxChargeBatches,
    },
    runSteps: during[runFunction.props.name]?.invocations ?? 0,
    /** Charges made at the gateway since the trigger, and the charges queue (about 40 points). */
    progress: progress.filter(
      (_, index) => index % Math.ceil(progress.length / 40) === 0 || index === progress.length - 1,
    ),
    receiptsSentDuringRun: (stack.smtpSink?.mails.length ?? 0) - mailsBefore,
  };
  console.error(
    `(d) ${results.subscriptions} charges in ${results.wallSeconds} s (${results.chargesPerSecond}/s); ledger checked`,
  );
  return { results, outboxChargeBatches, runId: results.runId, runSteps: results.runSteps };
}

/** The items POST /v1/subscriptions would store, written straight to the table with BatchWriteItem. */
export async function seedSubscriptions(
  dynamodb: DynamoDBClient,
  tableName: string,
  storeIds: readonly string[],
  count: number,
): Promise<Subscription[]> {
  const now = Date.now();
  // An hour ago: due now, whatever the time of day.
  const startAt = new Date(now - 3_600_000).toISOString();
  const subscriptions = Array.from({ length: count }, (_, index) => {
    const storeId = storeIds[index % storeIds.length] as string;
    const body = subscriptionInput.parse({
      customer: { id: `cus_${ulid()}`, email: `customer.${index}@example.com` },
      plan: 'coffee-monthly',
      amount: 1_999,
      currency: 'USD',
      interval: 'month',
      paymentMethod: PAYMENT_METHOD,
      startAt,
    });
    const subscriptionId = `sub_${ulid(now)}`;
    return newSubscription({
      storeId,
      subscriptionId,
      body,
      fingerprint: requestFingerprint('POST', '/v1/subscriptions', { ...body, id: subscriptionId }),
      now,
      createdEventId: newEventId(now),
    });
  });
  const batches = Math.ceil(count / BATCH_WRITE_SIZE);
  await forEachLimit(batches, SEED_CONCURRENCY, async (batch) => {
    let requests: WriteRequest[] = subscriptions
      .slice(batch * BATCH_WRITE_SIZE, (batch + 1) * BATCH_WRITE_SIZE)
      .map((subscription) => ({
        PutRequest: { Item: marshall(subscription, { removeUndefinedValues: true }) },
      }));
    for (let tries = 0; requests.length > 0; tries += 1) {
      if (tries > 10) throw new Error('seeding: BatchWriteItem kept leaving items unprocessed');
      const { UnprocessedItems } = await dynamodb.send(
        new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }),
      );
      requests = UnprocessedItems?.[tableName] ?? [];
      if (requests.length > 0) await sleep(50 * 2 ** tries);
    }
  });
  return subscriptions;
}

// ---------------------------------------------------------------------------------------------------------------
// the charge path in-process: the claim (ours) and makeIdempotent (Powertools)

interface ChargeSetup {
  /** The DynamoDB the charge path writes to. */
  readonly endpoint: string;
  readonly tables: {
    subscriptions: string;
    charges: string;
    runs: string;
    events: string;
    idempotency: string;
  };
  readonly storeId: string;
  readonly runId: string;
  readonly gatewayUrl: string;
  readonly gatewayApiKey: string;
  readonly gatewayTimeoutMs: number;
  readonly dunning: DunningPolicy;
  readonly chargeTimeoutMs: number;
  readonly idempotencyTtl: boolean;
  /** Due subscriptions of the bench store, seeded as (d) seeds them. */
  seed(count: number): Promise<Subscription[]>;
  dispose(): Promise<void>;
}

/**
 * The charge path's tables and settings. On the stack's DynamoDB Local (`emulator` undefined) it uses the stack's
 * own tables; on another emulator it first creates the subscriptions and charges tables there as the stack has
 * them (keys, `due` index, streams). Either way it adds Powertools' idempotency table.
 */
export async function chargePathSetup(
  stack: LocalStack,
  options: SubscriptionBenchOptions,
  emulator?: { readonly endpoint: string; stop(): Promise<void> },
  copy: { readonly streams: boolean } = { streams: true },
): Promise<ChargeSetup> {
  const storeId = `bench-charge-${ulid().toLowerCase()}`;
  await createStore(stack, options.adminApiKey, storeId);
  const endpoint = emulator?.endpoint ?? stack.endpoints.dynamodb;
  const dynamodb = new DynamoDBClient(localClientConfig(endpoint));
  const tables = {
    subscriptions: refOf(stack, 'SubscriptionsTable'),
    charges: refOf(stack, 'ChargesTable'),
    runs: refOf(stack, 'RunsTable'),
    events: refOf(stack, 'EventsTable'),
    idempotency: `bench-idempotency-${ulid().toLowerCase()}`,
  };
  if (emulator) {
    const source = new DynamoDBClient(localClientConfig(stack.endpoints.dynamodb));
    try {
      for (const table of [tables.subscriptions, tables.charges])
        await copyTable(source, dynamodb, table, copy.streams);
    } finally {
      source.destroy();
    }
  }
  // Powertools' table: partition key `id` (string), TTL on `expiration`, as its documentation sets it up.
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tables.idempotency,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    }),
  );
  const idempotencyTtl = await dynamodb
    .send(
      new UpdateTimeToLiveCommand({
        TableName: tables.idempotency,
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      }),
    )
    .then(
      () => true,
      () => false,
    );
  const config = loadConfig({});
  const charge = functionByEntry(stack, 'lambdas/billing/handlers/charge.ts');
  return {
    endpoint,
    tables,
    storeId,
    runId: runIdOf(Date.now()),
    gatewayUrl: stack.paymentGatewayUrl,
    gatewayApiKey: options.paymentGatewayApiKey,
    gatewayTimeoutMs: config.paymentGatewayTimeoutMs,
    dunning: { scheduleMs: config.dunningScheduleMs, finalAction: config.dunningFinalAction },
    chargeTimeoutMs: charge.props.timeoutMs,
    idempotencyTtl,
    seed: (count) => seedSubscriptions(dynamodb, tables.subscriptions, [storeId], count),
    dispose: async () => {
      await dynamodb.send(new DeleteTableCommand({ TableName: tables.idempotency })).catch(() => undefined);
      dynamodb.destroy();
      await emulator?.stop();
    },
  };
}

/** Creates `table` on `to` as it is on `from`: keys, global secondary indexes, and its stream unless told not. */
async function copyTable(
  from: DynamoDBClient,
  to: DynamoDBClient,
  table: string,
  withStream: boolean,
): Promise<void> {
  const { Table: description } = await from.send(new DescribeTableCommand({ TableName: table }));
  if (!description) throw new Error(`no table ${table} to copy`);
  await to.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: description.KeySchema,
      AttributeDefinitions: description.AttributeDefinitions,
      GlobalSecondaryIndexes: description.GlobalSecondaryIndexes?.map((index) => ({
        IndexName: index.IndexName,
        KeySchema: index.KeySchema,
        Projection: index.Projection,
      })),
      ...(withStream ? { StreamSpecification: description.StreamSpecification } : {}),
    }),
  );
}

/** One charge of a due subscription, start to end; throws unless it succeeded and advanced the subscription. */
type ChargePath = (subscription: Subscription) => Promise<void>;

interface PathClients {
  readonly client: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly gateway: PaymentGateway;
}

function pathClients(setup: ChargeSetup, client: DynamoDBClient): PathClients {
  return {
    client,
    documents: createDocumentClient(client),
    gateway: new StripePaymentGateway({
      url: setup.gatewayUrl,
      timeoutMs: setup.gatewayTimeoutMs,
      apiKey: () => setup.gatewayApiKey,
    }),
  };
}

/** The charge function's event id: fixed by the charge. */
function _eventIdOf(charge: ChargeRecord): (now: number) => string {
  return (now) => eventIdFor(now, digest(`charge:${chargeRefToString(chargeRefOf(charge))}`));
}

function expectSucceeded(outcome: ChargeProcessOutcome, charge: ChargeRecord): void {
  if (outcome.outcome !== 'succeeded' || !outcome.applied || outcome.repeated) {
    throw new Error(`charge ${chargeRefToString(chargeRefOf(charge))}: ${JSON.stringify(outcome)}`);
  }
}

/**
 * Ours, as the pipeline does it: the run's claim (a conditional put of the pending charge), then the charge
 * function's `processCharge` with the claim in hand as the run's message carries it (gateway with the claim's key,
 * read the subscription, resolve the charge conditionally, advance the subscription under its fence).
 */
function claimPath(setup: ChargeSetup, clients: PathClients): ChargePath {
  const claimOnly = claimStage(setup, clients);
  const chargeOnly = chargeStage(setup, clients);
  return async (subscription) => chargeOnly(await claimOnly(subscription));
}

/** The run's part of ours: the claim. @returns the charge message the run sends for it. */
function claimStage(setup: ChargeSetup, clients: PathClients) {
  const charges = new DynamoChargesRepository({ client: clients.documents, tableName: setup.tables.charges });
  return async (subscription: Subscription): Promise<ChargeMessage> => {
    const claim = claimFor(subscription, setup.runId, Date.now());
    const claimed = await charges.claim(claim);
    if (!claimed.claimed) throw new Error(`charge ${claim.idempotencyKey} was claimed before`);
    return { ...chargeRefOf(claim), runId: setup.runId };
  };
}

/** The charge function's part of ours: `processCharge` of the run's message. */
function chargeStage(setup: ChargeSetup, clients: PathClients) {
  const charges = new DynamoChargesRepository({ client: clients.documents, tableName: setup.tables.charges });
  const subscriptions = new DynamoSubscriptionsRepository({
    client: clients.documents,
    tableName: setup.tables.subscriptions,
  });
  return async (message: ChargeMessage): Promise<void> => {
    const outcome = await processCharge(
      {
        charges,
        subscriptions,
        gateway: clients.gateway,
        dunning: setup.dunning,
        now: Date.now,
      },
      message,
    );
    if (outcome.outcome !== 'succeeded' || !outcome.applied || outcome.repeated)
      throw new Error(`charge ${chargeRefToString(message)}: ${JSON.stringify(outcome)}`);
  };
}

/**
 * The alternative: the same `processCharge` (same gateway call and key, same subscription read and change, same
 * fenced advance), guarded by Powertools' `makeIdempotent` keyed by (subscription, period, attempt) instead of
 * the claim. With no claim item, the charge order travels with the call (as it would in the queue message), and
 * the charge record is written once, resolved, by an unconditional put.
 */
function makeIdempotentPath(setup: ChargeSetup, clients: PathClients): ChargePath {
  const subscriptions = new DynamoSubscriptionsRepository({
    client: clients.documents,
    tableName: setup.tables.subscriptions,
  });
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: setup.tables.idempotency,
    awsSdkV3Client: clients.client,
  });
  const config = new IdempotencyConfig({ eventKeyJmesPath: '[storeId, subscriptionId, period, attempt]' });
  // As in a handler: the in-progress record expires with the invocation (the charge function's timeout).
  config.registerLambdaContext({
    getRemainingTimeInMillis: () => setup.chargeTimeoutMs,
  } as unknown as Context);
  const chargeOnce = makeIdempotent(
    async (order: ChargeRecord): Promise<ChargeProcessOutcome> => {
      const outcome = await processCharge(
        {
          charges: orderedCharge(order, clients.documents, setup.tables.charges),
          subscriptions,
          gateway: clients.gateway,
          dunning: setup.dunning,
          now: Date.now,
        },
        chargeRefOf(order),
      );
      // No trustworthy answer: fail, so that Powertools deletes the in-progress record and a retry may run.
      if (outcome.outcome === 'pending')
        throw new ChargeStillPendingError(chargeRefOf(order), outcome.reason);
      return outcome;
    },
    { persistenceStore, config, keyPrefix: 'bench-charge' },
  );
  return async (subscription) => {
    const order = claimFor(subscription, setup.runId, Date.now());
    expectSucceeded(await chargeOnce(order), order);
  };
}

/** The charges port of a charge whose order is in hand: nothing to read, the resolution is the one write. */
function orderedCharge(
  order: ChargeRecord,
  documents: DynamoDBDocumentClient,
  tableName: string,
): ChargesRepository {
  const unused = () => Promise.reject(new Error('not on the charge path'));
  return {
    get: async () => order,
    // The in-progress record of makeIdempotent is what marks the ask on this path: no write of its own.
    markAsked: async (_ref, at) => ({ ...order, firstAskedAt: at, lastAskedAt: at }),
    markFirstAsk: async (_ref, at) => ({
      first: true,
      charge: { ...order, firstAskedAt: at, lastAskedAt: at, asks: 1 },
    }),
    resolve: async (_ref, resolution: ChargeResolution) => {
      const record: ChargeRecord = { ...order, ...resolution };
      await documents.send(new PutCommand({ TableName: tableName, Item: record }));
      return record;
    },
    claim: unused,
    markServerError: unused,
    releaseUnsent: unused,
    reprice: unused,
    rekey: unused,
    release: unused,
    withdraw: unused,
    adopt: unused,
    listForSubscription: unused,
    getMany: unused,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// (e) write units per successful charge

async function measureChargeWriteUnits(
  stack: LocalStack,
  setup: ChargeSetup,
  run: Awaited<ReturnType<typeof measureRun>>,
) {
  const n = CONFIG.meteredCharges;
  const ours = meteredClient(stack.endpoints.dynamodb);
  const theirs = meteredClient(stack.endpoints.dynamodb);
  const oursClients = pathClients(setup, ours.client);
  const theirsClients = pathClients(setup, theirs.client);
  try {
    const oursSubscriptions = await setup.seed(n);
    const theirsSubscriptions = await setup.seed(n);
    const claim = claimPath(setup, oursClients);
    const idempotent = makeIdempotentPath(setup, theirsClients);
    await forEachLimit(n, CONFIG.comparisonConcurrency, (index) =>
      claim(oursSubscriptions[index] as Subscription),
    );
    await forEachLimit(n, CONFIG.comparisonConcurrency, (index) =>
      idempotent(theirsSubscriptions[index] as Subscription),
    );
    const { tables } = setup;
    const claimSide = breakdown(ours.meter, n, tables, {
      claim: `PutItem:${tables.charges}`,
      // Two updates of the charge: the ask written down before it is sent, and the resolution.
      markAskedAndResolve: { key: `UpdateItem:${tables.charges}`, callsPerCharge: 2 },
      subscriptionAdvance: `UpdateItem:${tables.subscriptions}`,
    });
    const idempotentSide = breakdown(theirs.meter, n, tables, {
      idempotencyInProgress: `PutItem:${tables.idempotency}`,
      chargeRecord: `PutItem:${tables.charges}`,
      subscriptionAdvance: `UpdateItem:${tables.subscriptions}`,
      idempotencyCompleted: `UpdateItem:${tables.idempotency}`,
    });
    const { resolvedSample, ...extras } = await measureOutboxAndManifest(
      stack,
      setup,
      run,
      oursSubscriptions,
    );
    const sampleSubscription = oursSubscriptions[0] as Subscription;
    return {
      charges: n,
      perSuccessfulCharge: claimSide.writeUnitsPerCharge,
      target: '<= 5',
      claimPath: claimSide,
      makeIdempotentPath: idempotentSide,
      /** Approximate item sizes (DynamoDB's sizing rules): a write costs 1 unit per started KB. */
      itemBytes: {
        subscription: itemBytes(sampleSubscription),
        claim: itemBytes(claimFor(sampleSubscription, setup.runId, Date.now())),
        resolvedCharge: resolvedSample ? itemBytes(resolvedSample) : null,
      },
      notInTheTarget: extras,
    };
  } finally {
    ours.client.destroy();
    theirs.client.destroy();
  }
}

/** An item's size by DynamoDB's rules (names and values; numbers roughly one byte per two digits), in bytes. */
function itemBytes(item: object): number {
  return Object.entries(item).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + valueBytes(value),
    0,
  );
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace(/\D/g, '').length / 2) + 1;
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (value instanceof Set) return [...value].reduce((sum: number, member) => sum + valueBytes(member), 0);
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, member) => sum + 1 + valueBytes(member), 0);
  return 3 + Object.entries(value as object).length + itemBytes(value as object);
}

/** Units per charge by step (each step one operation on one table), checking nothing else was written. */
function breakdown(
  meter: Meter,
  charges: number,
  tables: Readonly<Record<string, string>>,
  steps: Record<string, string | { readonly key: string; readonly callsPerCharge: number }>,
) {
  const perCharge = (units: number) => round(units / charges, 3);
  const byStep: Record<string, { writeUnits: number; table: number; indexes: Record<string, number> }> = {};
  let accounted = 0;
  for (const [step, spec] of Object.entries(steps)) {
    const { key, callsPerCharge } = typeof spec === 'string' ? { key: spec, callsPerCharge: 1 } : spec;
    const call: MeteredCall = meter.byCall.get(key) ?? { calls: 0, units: 0, tableUnits: 0, indexUnits: {} };
    if (call.calls !== charges * callsPerCharge) {
      throw new Error(`(e) ${step}: ${call.calls} calls for ${charges} charges`);
    }
    accounted += call.units;
    byStep[step] = {
      writeUnits: perCharge(call.units),
      table: perCharge(call.tableUnits),
      indexes: Object.fromEntries(
        Object.entries(call.indexUnits).map(([name, units]) => [name, perCharge(units)]),
      ),
    };
  }
  if (Math.abs(accounted - meter.writeUnits) > 1e-9) {
    throw new Error(`(e) writes outside the charge path's steps: ${[...meter.byCall.keys()].join(', ')}`);
  }
  // `GetItem:<physical table name>` as `GetItem charges`.
  const label = (key: string) => {
    const [operation = '', table = ''] = key.split(':');
    const name = Object.entries(tables).find(([, physical]) => physical === table)?.[0] ?? table;
    return `${operation} ${name}`;
  };
  const reads = [...meter.byCall.entries()].filter(([key]) => /^(GetItem|Query|BatchGetItem):/.test(key));
  return {
    writeUnitsPerCharge: perCharge(meter.writeUnits),
    writesPerCharge: perCharge(meter.writes),
    byStep,
    readUnitsPerCharge: perCharge(meter.readUnits),
    readsPerCharge: perCharge(meter.reads),
    reads: Object.fromEntries(reads.map(([key, call]) => [label(key), perCharge(call.calls)])),
  };
}

/**
 * What a charge costs beyond its own three writes, on the pipeline's other tables. Unit costs are measured here
 * with the real adapters; how often they happen per charge comes from the (d) run (stream batches, run steps)
 * and from the code (per page, a checkpoint that is also the fence of its claims).
 */
async function measureOutboxAndManifest(
  stack: LocalStack,
  setup: ChargeSetup,
  run: Awaited<ReturnType<typeof measureRun>>,
  charged: readonly Subscription[],
) {
  const metered = meteredClient(stack.endpoints.dynamodb);
  const documents = createDocumentClient(metered.client);
  const plain = new DynamoDBClient(localClientConfig(stack.endpoints.dynamodb));
  const plainDocuments = createDocumentClient(plain);
  try {
    // Events: the outbox's effects of each charge's resolution (claim → resolved), stored by the events adapter.
    const charges = new DynamoChargesRepository({ client: plainDocuments, tableName: setup.tables.charges });
    const resolved = await charges.getMany(
      charged.map((subscription) => chargeRefOf(claimFor(subscription, setup.runId, Date.now()))),
    );
    const events = new DynamoEventsRepository({ client: documents, tableName: setup.tables.events });
    let eventCount = 0;
    for (const after of resolved) {
      const effects = emptyEffects();
      const {
        status: _status,
        resolvedAt: _at,
        paymentIntentId: _id,
        eventId: _event,
        change: _change,
        ...claim
      } = after;
      chargeChangeEffects(effects, { ...claim, status: 'pending' }, after);
      for (const event of effects.events) {
        await events.put(event, 'direct');
        eventCount += 1;
      }
    }
    const eventUnits = metered.meter.writeUnits / resolved.length;
    resetMeter(metered.meter);

    // The run item: one write of the (d) run's item as it ended costs what each of its updates costs.
    const runs = new DynamoRunsRepository({ client: documents, tableName: setup.tables.runs });
    const { Item: runItem } = await plainDocuments.send(
      new GetCommand({
        TableName: setup.tables.runs,
        Key: { runId: run.runId, sk: 'run' },
        ConsistentRead: true,
      }),
    );
    if (!runItem) throw new Error(`(e) the run item of ${run.runId} is gone`);
    const scratchRunId = `bench-scratch-${ulid().toLowerCase()}`;
    await metered.client.send(
      new PutItemCommand({
        TableName: setup.tables.runs,
        Item: marshall(
          { ...runItem, runId: scratchRunId, status: 'running' },
          { removeUndefinedValues: true },
        ),
      }),
    );
    const runItemWriteUnits = metered.meter.writeUnits;
    resetMeter(metered.meter);
    await runs.add(
      scratchRunId,
      { total: 1, succeeded: 1, failed: 0, processing: 0 },
      { shard: 'bench', first: '1', last: '1' },
    );
    const counterUnits = metered.meter.writeUnits;
    resetMeter(metered.meter);

    // The manifest: the (d) run's own pages, written again under a scratch run id.
    const pages: { sk: string; refs: Set<string> }[] = [];
    let after: Record<string, unknown> | undefined;
    do {
      const output = await plainDocuments.send(
        new QueryCommand({
          TableName: setup.tables.runs,
          KeyConditionExpression: 'runId = :runId AND begins_with(sk, :page)',
          ExpressionAttributeValues: { ':runId': run.runId, ':page': 'page#' },
          ExclusiveStartKey: after,
        }),
      );
      pages.push(...((output.Items ?? []) as { sk: string; refs: Set<string> }[]));
      after = output.LastEvaluatedKey;
    } while (after);
    for (const page of pages)
      await runs.addToManifest(scratchRunId, page.sk.slice('page#'.length), [...page.refs]);
    const manifestUnits = metered.meter.writeUnits;

    const n = CONFIG.runSubscriptions;
    // Each outbox invocation on the charges stream adds its records' counts to the run item once.
    const counterWrites = run.outboxChargeBatches;
    // runs.ts: per step a lease acquisition and a heartbeat; per page of the due index a checkpoint (which is also
    // the fence of the page's claims).
    const runItemWrites = 2 * run.runSteps + pages.length;
    const perCharge = {
      event: round(eventUnits, 3),
      runCounters: round((counterWrites * counterUnits) / n, 3),
      manifestPages: round(manifestUnits / n, 3),
      runCheckpoints: round((runItemWrites * runItemWriteUnits) / n, 3),
    };
    return {
      resolvedSample: resolved[0],
      perCharge,
      totalPerCharge: round(
        Object.values(perCharge).reduce((sum, units) => sum + units, 0),
        3,
      ),
      how: {
        event: `measured: the outbox's events for ${resolved.length} resolved charges (${eventCount} subscription.charged), put by the events adapter`,
        runCounters: `${counterWrites} outbox invocations on the charges stream during the (d) run (one counter update each, ${round((2 * n) / Math.max(1, counterWrites), 1)} records a batch) x ${counterUnits} WCU measured for one update of the run item, / ${n}`,
        manifestPages: `measured: the (d) run's ${pages.length} manifest pages written again, / ${n}`,
        runCheckpoints: `from the code: 2 writes per run step (lease, heartbeat) x ${run.runSteps} steps + 1 per page (checkpoint and claims' fence) x ${pages.length}, x ${runItemWriteUnits} WCU measured for the run item, / ${n}`,
      },
    };
  } finally {
    metered.client.destroy();
    plain.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (f) claim vs makeIdempotent, interleaved

/** Timed samples with the machine's CPU before and after them. */
interface Samples extends TimedSamples {
  readonly cpu: { before: CpuSample; after: CpuSample };
}

export async function compareWithMakeIdempotent(setup: ChargeSetup) {
  const { comparisonCharges: n, comparisonRounds: rounds, warmupCharges, comparisonConcurrency } = CONFIG;
  const clients = ['claim', 'makeIdempotent', 'chargeStage'].map(() =>
    pathClients(setup, new DynamoDBClient(localClientConfig(setup.endpoint))),
  );
  const [oursClients, theirsClients, stageClients] = clients as [PathClients, PathClients, PathClients];
  try {
    // The charge function's stage alone: its claims are made beforehand, as the run makes them ahead of the
    // charge consumer (the stage the pipeline bounds to protect the gateway). Not timed: reported beside the
    // end-to-end comparison, not instead of it.
    const claimAhead = claimStage(setup, stageClients);
    const stage = chargeStage(setup, stageClients);
    const ahead = new Map<string, ChargeMessage>();
    const sides: { name: string; prepare?: (due: Subscription[]) => Promise<void>; path: ChargePath }[] = [
      { name: 'claim', path: claimPath(setup, oursClients) },
      { name: 'makeIdempotent', path: makeIdempotentPath(setup, theirsClients) },
      {
        name: 'chargeStage',
        prepare: async (due) => {
          await forEachLimit(due.length, 16, async (index) => {
            const subscription = due[index] as Subscription;
            ahead.set(subscription.subscriptionId, await claimAhead(subscription));
          });
        },
        path: (subscription) => stage(ahead.get(subscription.subscriptionId) as ChargeMessage),
      },
    ];
    const due = new Map<string, { subscriptions: Subscription[]; next: number }>();
    for (const side of sides) {
      const subscriptions = await setup.seed(n + warmupCharges);
      await side.prepare?.(subscriptions);
      due.set(side.name, { subscriptions, next: 0 });
    }
    const take = (name: string, path: ChargePath) => () => {
      const queue = due.get(name) as { subscriptions: Subscription[]; next: number };
      return path(queue.subscriptions[queue.next++] as Subscription);
    };
    for (const side of sides) await sample(warmupCharges, comparisonConcurrency, take(side.name, side.path));
    const samples = new Map<string, Samples[]>(sides.map((side) => [side.name, []]));
    for (let round = 0; round < rounds; round++) {
      // Rotating who goes first, so that no side always follows another's leftovers.
      const order = sides.map((_, index) => sides[(index + round) % sides.length] as (typeof sides)[number]);
      for (const side of order) {
        samples
          .get(side.name)
          ?.push(await sample(n / rounds, comparisonConcurrency, take(side.name, side.path)));
      }
    }
    const claim = summarize(samples.get('claim') ?? []);
    const idempotent = summarize(samples.get('makeIdempotent') ?? []);
    const chargeOnly = summarize(samples.get('chargeStage') ?? []);
    // CPU per charge of this process and the emulators, whoever else used the machine: on two cores the rate
    // follows it, and it is steadier than the rate when other processes come and go.
    const cpu = (side: ReturnType<typeof summarize>) =>
      Object.entries(side.cpuMsPerCharge)
        .filter(([name]) => name !== 'other processes')
        .reduce((sum, [, ms]) => sum + ms, 0);
    return {
      claim,
      makeIdempotent: idempotent,
      ratio: round(claim.perSecond / idempotent.perSecond, 3),
      /** makeIdempotent's CPU per charge over the claim path's. */
      cpuRatio: round(cpu(idempotent) / cpu(claim), 3),
      /** The charge function's stage of ours, its claims made ahead by the run (untimed), against makeIdempotent. */
      chargeStage: {
        ...chargeOnly,
        ratio: round(chargeOnly.perSecond / idempotent.perSecond, 3),
        cpuRatio: round(cpu(idempotent) / cpu(chargeOnly), 3),
      },
    };
  } finally {
    for (const { client } of clients) client.destroy();
  }
}

async function sample(count: number, concurrency: number, task: () => Promise<void>): Promise<Samples> {
  const before = sampleCpu();
  const timed = await timedSamples(count, concurrency, task);
  return { ...timed, cpu: { before, after: sampleCpu() } };
}

function summarize(rounds: readonly Samples[]) {
  const summary = summarizeSamples(rounds);
  // CPU per charge by process: where a charge's time goes when the cores are the bottleneck.
  const cpu: Record<string, number> = {};
  for (const { cpu: sampled } of rounds) {
    const used = cpuBetween(sampled.before, sampled.after);
    for (const [name, value] of Object.entries({ ...used.seconds, 'other processes': used.others }))
      cpu[name] = (cpu[name] ?? 0) + value;
  }
  return {
    ...summary,
    cpuMsPerCharge: Object.fromEntries(
      Object.entries(cpu).map(([name, value]) => [name, round((value * 1000) / summary.count, 2)]),
    ),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// the stack's functions, observed

/** The event sources of what follows the events table: fan-out, webhook delivery, replay, notifications. */
function downstreamSources(stack: LocalStack) {
  const names = [
    'webhooks/handlers/fanout',
    'webhooks/handlers/deliver',
    'webhooks/handlers/replay',
    'notifications/handlers/notify',
  ].map((handler) => functionByEntry(stack, `lambdas/${handler}.ts`).props.name);
  return stack.eventSources.filter((source) =>
    names.some((name) => source.description.endsWith(` → ${name}`)),
  );
}

function functionByEntry(stack: LocalStack, entry: string): LocalFunction {
  const fn = [...stack.functions.values()].find((candidate) => candidate.props.entry === entry);
  if (!fn) throw new Error(`the local stack has no function for ${entry}`);
  return fn;
}

/** The queue event source mapping of `fn` in the template: its batch size and maximum concurrency. */
function queueMappingOf(stack: LocalStack, fn: LocalFunction) {
  const mapping = Object.values(stack.resources.template.Resources).find(
    (resource) =>
      resource.Type === 'AWS::Lambda::EventSourceMapping' &&
      JSON.stringify(resource.Properties?.FunctionName ?? '').includes(`"${fn.props.logicalId}"`),
  );
  const properties = (mapping?.Properties ?? {}) as {
    BatchSize?: number;
    ScalingConfig?: { MaximumConcurrency?: number };
  };
  return { batchSize: properties.BatchSize, maxConcurrency: properties.ScalingConfig?.MaximumConcurrency };
}

interface FunctionStats {
  invocations: number;
  records: number;
  /** Invocation time, waiting for a free execution environment included. */
  busyMs: number;
  inFlight: number;
  /** Stream records and batches by source table. */
  readonly bySource: Map<string, { records: number; batches: number }>;
}

/**
 * Counts the invocations of every function of the stack (wrapping `invoke`, which the event sources and the HTTP
 * gateway call): what ran while the run ran, how the outbox's stream batches came, when the stack is quiet.
 */
class FunctionActivity {
  private readonly stats = new Map<string, FunctionStats>();
  private lastEndedAt = 0;

  constructor(stack: LocalStack) {
    for (const fn of stack.functions.values()) {
      const stats: FunctionStats = {
        invocations: 0,
        records: 0,
        busyMs: 0,
        inFlight: 0,
        bySource: new Map(),
      };
      this.stats.set(fn.props.name, stats);
      const invoke = fn.invoke.bind(fn);
      fn.invoke = async (event: unknown) => {
        const records = (event as Partial<DynamoDBStreamEvent> | undefined)?.Records;
        stats.invocations += 1;
        stats.records += Array.isArray(records) ? records.length : 0;
        const table = /:table\/([^/]+)\/stream\//.exec(records?.[0]?.eventSourceARN ?? '')?.[1];
        if (table && records) {
          const source = stats.bySource.get(table) ?? { records: 0, batches: 0 };
          source.records += records.length;
          source.batches += 1;
          stats.bySource.set(table, source);
        }
        stats.inFlight += 1;
        const started = performance.now();
        try {
          return await invoke(event);
        } finally {
          stats.inFlight -= 1;
          stats.busyMs += performance.now() - started;
          this.lastEndedAt = performance.now();
        }
      };
    }
  }

  recordsFrom(fn: LocalFunction, table: string): number {
    return this.stats.get(fn.props.name)?.bySource.get(table)?.records ?? 0;
  }

  batchesFrom(fn: LocalFunction, table: string): number {
    return this.stats.get(fn.props.name)?.bySource.get(table)?.batches ?? 0;
  }

  snapshot(): Map<string, { invocations: number; records: number; busyMs: number }> {
    return new Map(
      [...this.stats].map(([name, { invocations, records, busyMs }]) => [
        name,
        { invocations, records, busyMs },
      ]),
    );
  }

  /** Invocations, records and busy seconds by function since `before`, for the functions that ran. */
  since(before: ReturnType<FunctionActivity['snapshot']>) {
    const during: Record<string, { invocations: number; records: number; busySeconds: number }> = {};
    for (const [name, now] of this.snapshot()) {
      const then = before.get(name) ?? { invocations: 0, records: 0, busyMs: 0 };
      if (now.invocations === then.invocations) continue;
      during[name] = {
        invocations: now.invocations - then.invocations,
        records: now.records - then.records,
        busySeconds: round((now.busyMs - then.busyMs) / 1000, 1),
      };
    }
    return during;
  }

  async waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!condition()) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  /** Resolves once no function has run for `quietMs`. */
  quiet(quietMs: number, timeoutMs: number): Promise<void> {
    return this.waitUntil(
      () =>
        [...this.stats.values()].every((stats) => stats.inFlight === 0) &&
        performance.now() - this.lastEndedAt >= quietMs,
      timeoutMs,
      'the stack to go quiet',
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the table rows

export function subscriptionRows(results: SubscriptionResults): string[] {
  const { run: r, writeUnits: w, makeIdempotent: m } = results;
  const t = m.tablesWithoutStreams;
  const ok = (pass: boolean) => (pass ? 'yes' : 'no');
  const steps = (side: { byStep: Record<string, { writeUnits: number }> }) =>
    Object.entries(side.byStep)
      .map(([step, units]) => `${step} ${units.writeUnits}`)
      .join(' + ');
  const advance = w.claimPath.byStep.subscriptionAdvance;
  return [
    `| subscription run of ${r.subscriptions.toLocaleString('en-US')} due (${r.stores} stores; seeded by BatchWriteItem, not the API), trigger → completed | ${r.wallSeconds} s, ${r.chargesPerSecond} charges/s (steady ${r.timeline.steadyChargesPerSecond}/s; last charge at ${r.timeline.lastChargeSeconds} s); ledger: ${r.ledger.succeeded} successful, each once | | |`,
    `| the run's charge consumer (from the template) and where the time went | ${r.chargeConsumer.maxConcurrency} invocations x ${r.chargeConsumer.batchSize} charges; charges queue median ${r.timeline.medianQueued}, max ${r.timeline.maxQueued} waiting; CPU ${r.cpu.oursMsPerCharge} ms per charge (DynamoDB Local ${round(((r.cpu.seconds['DynamoDB Local (java)'] ?? 0) * 1000) / r.subscriptions, 1)}), other processes ${r.cpu.others} s of the machine's ${round(r.cpu.coresAvailable * r.wallSeconds, 0)} CPU-seconds | | |`,
    `| write units per successful charge (${steps(w.claimPath)}; advance = table ${advance?.table} + due index ${advance?.indexes.due ?? 0}) | ${w.perSuccessfulCharge} | <= 5 | ${ok(w.perSuccessfulCharge <= 5)} |`,
    `| + outside the target, per charge: outbox event ${w.notInTheTarget.perCharge.event}, run counters ${w.notInTheTarget.perCharge.runCounters}, manifest ${w.notInTheTarget.perCharge.manifestPages}, run checkpoints ${w.notInTheTarget.perCharge.runCheckpoints} | ${w.notInTheTarget.totalPerCharge} | | |`,
    `| claim vs makeIdempotent, the whole path with the run's claim (${m.concurrency} concurrent, ${m.chargesPerSide} each, ${m.rounds} rotating rounds, a fresh DynamoDB Local, tables as deployed) | ${m.claim.perSecond} vs ${m.makeIdempotent.perSecond} charges/s (p50 ${m.claim.p50Ms} vs ${m.makeIdempotent.p50Ms} ms): ratio ${m.ratio}; CPU per charge ratio ${m.cpuRatio} | >= 1.2 | ${ok(m.ratio >= 1.2)} |`,
    `| the same, tables without streams (control: DynamoDB Local's per-write stream cost removed) | ${t.claim.perSecond} vs ${t.makeIdempotent.perSecond} charges/s: ratio ${t.ratio}; CPU per charge ratio ${t.cpuRatio} | | |`,
    `| claim vs makeIdempotent, the charge function's stage (claims made ahead by the run, as the pipeline does; untimed) | as deployed ${m.chargeStage.perSecond} charges/s, ratio ${m.chargeStage.ratio} (CPU ${m.chargeStage.cpuRatio}); without streams ratio ${t.chargeStage.ratio} (CPU ${t.chargeStage.cpuRatio}) | >= 1.2 | ${ok(m.chargeStage.ratio >= 1.2)} |`,
    `| write units per charge, makeIdempotent path (${steps(w.makeIdempotentPath)}) | ${w.makeIdempotentPath.writeUnitsPerCharge} | | |`,
  ];
}
