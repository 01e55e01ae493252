/**
 * `npm run bench`: the webhook path's numbers, side by side in one run against one local stack (issue 4).
 *
 *   (a) accepted transactions/s and p50/p99 latency of POST /v1/transactions, against raw conditional PutItem of
 *       an item of the same size on the same DynamoDB Local with the same concurrency (target ratio >= 0.8);
 *   (b) DynamoDB write units per accepted transaction (target 1), and read and write units and latency per
 *       successful first-attempt delivery (target <= 1.5 write units), from ReturnConsumedCapacity on every call of
 *       the real adapters, run in-process: today's path (a lease before the POST) beside the path before the lease;
 *   (c) accept-to-delivered latency p50/p99 at a steady 50 transactions/s, 3 endpoints per store (target p50
 *       under 250 ms);
 *   (d)-(f) the subscription path (bench/subscriptions.ts): a run of 10,000 due subscriptions, write units per
 *       successful charge, and the charge path against Powertools' makeIdempotent.
 *
 *   (g) the 2019 spike (bench/spike.ts): accepted rate in a 10x burst against raw PutItem, p50/p99, drain time.
 *
 *   (h) cost (bench/cost-measure.ts, bench/cost.ts): the requests counted for a million transactions delivered to
 *       1 and to 3 endpoints, and for a million subscription charges, at us-east-1 list prices (bench/prices.ts);
 *       target: at most $3 per million transactions delivered to 1 endpoint.
 *
 * Writes bench/results.json and prints a markdown table. `npm run bench -- --only spike,throughput` runs some
 * sections and keeps the other sections' last figures.
 */

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ulid } from 'ulid';
import { DynamoEventsRepository } from '../lambdas/events/adapters/dynamo-events-repository';
import { DynamoTransactionsRepository } from '../lambdas/events/adapters/dynamo-transactions-repository';
import type { PipelineEvent } from '../lambdas/events/domain/events';
import { acceptTransaction } from '../lambdas/events/domain/transactions';
import { createDocumentClient } from '../lambdas/platform/dynamodb';
import { DynamoAttemptsRepository } from '../lambdas/webhooks/adapters/dynamo-attempts-repository';
import { DynamoEndpointStats } from '../lambdas/webhooks/adapters/dynamo-endpoint-stats';
import { DynamoEndpointsRepository } from '../lambdas/webhooks/adapters/dynamo-endpoints-repository';
import { SqsDeliveryQueue } from '../lambdas/webhooks/adapters/sqs-delivery-queue';
import { WebhookHttpClient } from '../lambdas/webhooks/adapters/webhook-http-client';
import { Delivery } from '../lambdas/webhooks/domain/delivery';
import { BatchedEndpointStats } from '../lambdas/webhooks/domain/endpoint-stats';
import { signingSecrets } from '../lambdas/webhooks/domain/endpoints';
import { CachedEndpoints } from '../lambdas/webhooks/domain/fanout';
import { signWebhook } from '../lambdas/webhooks/domain/signature';
import { localClientConfig, QUIET_SDK_ENVIRONMENT } from '../local/aws-clients';
import { type LocalStack, startLocalStack } from '../local/stack';
import { type ApiOverheadFigures, apiOverheadRows, runApiOverheadBench } from './api-overhead';
import { COST_CONFIG, costMarkdown, costRows, runCostBench } from './cost-measure';
import { type GatewayRateFigures, gatewayRateRows, runGatewayRateBench } from './gateway-rate';
import { runSpikeBench, SPIKE_SCENARIO, spikeRows } from './spike';
import {
  measureSubscriptions,
  SUBSCRIPTION_BENCH_SETTINGS,
  SUBSCRIPTION_CONFIG,
  subscriptionRows,
} from './subscriptions';
import {
  api,
  createStore as createStoreAs,
  fingerprintOf,
  meteredClient,
  percentile,
  RawConditionalPut,
  refOf,
  round,
  type Samples,
  sleep,
  storefrontTransaction,
  summarizeSamples,
  timedSamples,
} from './support';

const CONFIG = {
  /** (a): requests per side, and concurrent clients. */
  throughputRequests: 2_000,
  throughputConcurrency: 8,
  warmupRequests: 100,
  /** (b): accepted transactions and first-attempt deliveries metered. */
  meteredTransactions: 200,
  meteredDeliveries: 200,
  /** (c): steady rate, duration, endpoints per store. */
  latencyRatePerSecond: 50,
  latencySeconds: 20,
  endpointsPerStore: 3,
  /** (c): how long after the last transaction every delivery must have arrived. */
  drainTimeoutMs: 60_000,
};

const ADMIN_API_KEY = `sk_admin_bench_${randomUUID().replaceAll('-', '')}`;
/** The settings of every stack the bench starts (the spike section sets its own per-store limit). */
const STACK_SETTINGS = {
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
  WEBHOOK_RETRY_SCHEDULE: '0s,1s,5s',
  // (a) drives one store far over the default per-store limit (100/s): a limit that high keeps the shared
  // limiter (and its syncs) on the measured path without answering 429.
  STORE_RATE_LIMIT: '100000',
  STORE_BURST_LIMIT: '100000',
  ...SUBSCRIPTION_BENCH_SETTINGS,
};
const PAYMENT_GATEWAY_API_KEY = `sk_test_bench_${randomUUID().replaceAll('-', '')}`;
const RESULTS_FILE = path.join(__dirname, 'results.json');

/** The sections `npm run bench -- --only a,b` can pick; with none named, all run. */
const SECTIONS = [
  'throughput',
  'write-units',
  'latency',
  'subscriptions',
  'spike',
  'cost',
  'api-overhead',
  'gateway-rate',
] as const;
type Section = (typeof SECTIONS)[number];

function sectionsToRun(argv: readonly string[]): ReadonlySet<Section> {
  const at = argv.indexOf('--only');
  if (at === -1) return new Set(SECTIONS);
  const named = (argv[at + 1] ?? '').split(',').filter(Boolean);
  const unknown = named.filter((name) => !(SECTIONS as readonly string[]).includes(name));
  if (named.length === 0 || unknown.length > 0) {
    throw new Error(
      `--only takes a comma-separated list of: ${SECTIONS.join(', ')} (got ${argv[at + 1] ?? 'nothing'})`,
    );
  }
  return new Set(named as Section[]);
}

type Results = {
  at?: string;
  node?: string;
  config?: unknown;
  throughput?: Awaited<ReturnType<typeof measureThroughput>>;
  writeUnits?: Awaited<ReturnType<typeof measureWriteUnits>>;
  latency?: Awaited<ReturnType<typeof measureDeliveryLatency>>;
  subscriptions?: Awaited<ReturnType<typeof measureSubscriptions>>;
  spike?: Awaited<ReturnType<typeof runSpikeBench>>;
  cost?: Awaited<ReturnType<typeof runCostBench>>;
  apiOverhead?: ApiOverheadFigures;
  gatewayRate?: GatewayRateFigures;
  localStackLogLines?: number;
  durationSeconds?: number;
};

async function main(): Promise<void> {
  Object.assign(process.env, QUIET_SDK_ENVIRONMENT);
  const sections = sectionsToRun(process.argv.slice(2));
  const startedAt = Date.now();
  const logs: string[] = [];
  const start = () =>
    startLocalStack({
      port: 0,
      config: {
        adminApiKey: ADMIN_API_KEY,
        paymentGatewayApiKey: PAYMENT_GATEWAY_API_KEY,
        settings: STACK_SETTINGS,
      },
      log: (message) => logs.push(message),
      // stdout is the results table; the functions' logs and metrics would bury it.
      functionOutput: () => {},
    });
  // A partial run (--only) keeps the other sections' last figures, so the table stays whole.
  const results: Results = sections.size === SECTIONS.length ? {} : previousResults();

  if (sections.has('throughput') || sections.has('write-units') || sections.has('latency')) {
    const stack = await start();
    const receivers: Receiver[] = [];
    try {
      console.error(`local stack up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; measuring...`);
      if (sections.has('throughput')) {
        results.throughput = await measureThroughput(stack);
        console.error('(a) done');
      }
      if (sections.has('write-units')) {
        results.writeUnits = await measureWriteUnits(stack, receivers);
        console.error('(b) done');
      }
      if (sections.has('latency')) {
        results.latency = await measureDeliveryLatency(stack, receivers);
        console.error('(c) done');
      }
    } finally {
      await Promise.all(receivers.map((receiver) => receiver.stop()));
      await stack.stop();
    }
  }

  if (sections.has('subscriptions')) {
    // The subscription side on a stack of its own: DynamoDB Local slows down as stream records pile up in it
    // (bench/subscriptions.ts), and the webhook measures leave thousands behind.
    const billingStack = await start();
    try {
      results.subscriptions = await measureSubscriptions(billingStack, {
        adminApiKey: ADMIN_API_KEY,
        paymentGatewayApiKey: PAYMENT_GATEWAY_API_KEY,
      });
    } finally {
      await billingStack.stop();
    }
    console.error('(d)-(f) done');
  }

  if (sections.has('spike')) {
    // The 2019 spike on a stack of its own, with its per-store limit (bench/spike.ts).
    results.spike = await runSpikeBench({ log: (line) => console.error(line) });
    console.error('(g) done');
  }

  if (sections.has('cost')) {
    // Counted on a stack of its own, behind counting proxies (bench/cost-measure.ts).
    results.cost = await runCostBench({
      adminApiKey: ADMIN_API_KEY,
      paymentGatewayApiKey: PAYMENT_GATEWAY_API_KEY,
      settings: STACK_SETTINGS,
      log: (line) => console.error(line),
    });
    console.error('(h) done');
  }

  if (sections.has('api-overhead')) {
    // The API handler in-process against the raw PutItem, with its own DynamoDB Local (bench/api-overhead.ts).
    results.apiOverhead = await runApiOverheadBench({ log: (line) => console.error(line) });
    console.error('(i) done');
  }

  if (sections.has('gateway-rate')) {
    // A run's charges against a gateway that answers 429 past its limit, with and without the shared limit.
    results.gatewayRate = await runGatewayRateBench({ log: (line) => console.error(line) });
    console.error('(j) done');
  }

  // A section that starts what it needs itself goes here: its name in SECTIONS, its figures in Results, a block
  // here, its rows in markdown() (through rowsOf).

  results.at = new Date().toISOString();
  results.node = process.version;
  results.config = {
    ...CONFIG,
    subscriptions: SUBSCRIPTION_CONFIG,
    spike: SPIKE_SCENARIO,
    cost: COST_CONFIG,
  };
  results.localStackLogLines = logs.length;
  results.durationSeconds = Math.round((Date.now() - startedAt) / 1000);
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(markdown(results));
  // The cost section's tables, line by line, where each cent goes.
  if (results.cost)
    console.log(`\n${rowsOf('cost', results.cost, (cost) => [costMarkdown(cost)]).join('\n')}`);
  if (logs.length > 0) console.error(`The local stacks logged ${logs.length} line(s); first: ${logs[0]}`);
}

function previousResults(): Results {
  if (!existsSync(RESULTS_FILE)) return {};
  try {
    return JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Results;
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (a) API throughput against raw conditional PutItem

async function measureThroughput(stack: LocalStack) {
  const apiKey = await createStore(stack, `bench-a-${ulid().toLowerCase()}`);
  const { throughputRequests: count, throughputConcurrency: concurrency, warmupRequests } = CONFIG;

  // A keep-alive node:http client, as the SDK's on the raw side: both load generators cost the shared CPU alike.
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL('/v1/transactions', stack.apiUrl);
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const body = JSON.stringify(transactionBody());
      const request = httpRequest(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${apiKey}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            response.statusCode === 202
              ? resolve()
              : reject(new Error(`POST /v1/transactions answered ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  // The same item the API writes (transactions repository), with the same condition, straight to DynamoDB Local.
  const raw = await RawConditionalPut.create(stack.endpoints.dynamodb, 'bench-raw');
  // The request path is what is compared: the asynchronous side (fan-out, delivery) is paused meanwhile, as in AWS
  // it runs on its own capacity instead of sharing this machine's two cores with the API. API and raw rounds
  // alternate, so whatever else the machine does weighs on both alike.
  await Promise.all(stack.eventSources.map((source) => source.pause()));
  try {
    await timedSamples(warmupRequests, concurrency, post);
    await timedSamples(warmupRequests, concurrency, raw.put);
    const apiRounds: Samples[] = [];
    const rawRounds: Samples[] = [];
    for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
      apiRounds.push(await timedSamples(count / THROUGHPUT_ROUNDS, concurrency, post));
      rawRounds.push(await timedSamples(count / THROUGHPUT_ROUNDS, concurrency, raw.put));
    }
    const api = summarizeSamples(apiRounds);
    const rawPutItem = summarizeSamples(rawRounds);
    return {
      concurrency,
      rounds: THROUGHPUT_ROUNDS,
      itemBytes: raw.itemBytes(),
      api,
      rawPutItem,
      ratio: round(api.perSecond / rawPutItem.perSecond, 3),
      target: 'reported (shares 2 cores with the emulator)',
    };
  } finally {
    for (const source of stack.eventSources) source.resume();
    await raw.destroy();
  }
}

const THROUGHPUT_ROUNDS = 4;

// ---------------------------------------------------------------------------------------------------------------
// (b) write units, from ReturnConsumedCapacity on every write of the real adapters

async function measureWriteUnits(stack: LocalStack, receivers: Receiver[]) {
  const tables = {
    transactions: refOf(stack, 'TransactionsTable'),
    events: refOf(stack, 'EventsTable'),
    webhooks: refOf(stack, 'WebhooksTable'),
    attempts: refOf(stack, 'AttemptsTable'),
  };

  // Accepting: the API's domain function and repository, in-process.
  const accepting = meteredClient(stack.endpoints.dynamodb);
  const transactions = new DynamoTransactionsRepository({
    client: createDocumentClient(accepting.client),
    tableName: tables.transactions,
  });
  const storeId = `bench-b-${ulid().toLowerCase()}`;
  for (let index = 0; index < CONFIG.meteredTransactions; index += 1) {
    const transaction = transactionBody();
    const outcome = await acceptTransaction(transactions, {
      storeId,
      transaction,
      fingerprint: fingerprintOf(transaction),
      eventId: `evt_${ulid()}`,
      acceptedAt: new Date().toISOString(),
    });
    if (outcome.outcome !== 'accepted') throw new Error(`bench transaction not accepted: ${outcome.outcome}`);
  }
  const perAcceptedTransaction = accepting.meter.writeUnits / CONFIG.meteredTransactions;
  accepting.client.destroy();

  // Delivering: an endpoint and events made through the stack (API and fan-out), then first attempts made
  // in-process, one after another, by the delivery domain with the real adapters, each message carrying its event
  // as the fan-out's do. Each path delivers under a replay id of its own, so that neither the stack's own
  // DeliverFunction (which delivers the same events without one) nor the other path makes them "already delivered".
  const receiver = await Receiver.start();
  receivers.push(receiver);
  const deliveryStore = `bench-b2-${ulid().toLowerCase()}`;
  const apiKey = await createStore(stack, deliveryStore);
  const endpoint = await api(stack, apiKey, 'POST', '/v1/webhooks', { url: receiver.url, events: ['*'] });
  const eventIds: string[] = [];
  for (let index = 0; index < CONFIG.meteredDeliveries; index += 1) {
    const accepted = await api(stack, apiKey, 'POST', '/v1/transactions', transactionBody());
    eventIds.push(String(accepted.eventId));
  }
  await receiver.waitFor(eventIds, 1, 30_000);
  const reading = meteredClient(stack.endpoints.dynamodb);
  const eventsRepository = new DynamoEventsRepository({
    client: createDocumentClient(reading.client),
    tableName: tables.events,
  });
  const events: PipelineEvent[] = [];
  for (const eventId of eventIds) {
    const event = await eventsRepository.get(deliveryStore, eventId);
    if (!event) throw new Error(`bench event ${eventId} not stored`);
    events.push(event);
  }
  reading.client.destroy();

  const sender = new WebhookHttpClient({
    timeoutMs: 15_000,
    allowPrivateTargets: true,
    requireHttps: false,
    resolver: (await import('../lambdas/webhooks/adapters/dns-resolver')).dnsResolver,
  });
  const endpointId = String(endpoint.id);
  try {
    // The path before the lease, as a baseline: sign, POST, then one conditional put of the success (what a first
    // pass's first receive did); a message marked as a possible copy read the success key first.
    const unguardedReplay = `rpl_bench_old_${ulid()}`;
    let old: { attempts: DynamoAttemptsRepository; endpoints: CachedEndpoints } | undefined;
    const unguarded = await meterDeliveries(stack, events, async (event, documents) => {
      old ??= {
        attempts: new DynamoAttemptsRepository({ client: documents, tableName: tables.attempts }),
        endpoints: new CachedEndpoints(
          new DynamoEndpointsRepository({ client: documents, tableName: tables.webhooks }),
        ),
      };
      const { attempts, endpoints } = old;
      const found = await endpoints.get(deliveryStore, endpointId);
      if (!found) throw new Error('bench endpoint not found');
      const startedAt = Date.now();
      const body = JSON.stringify(event);
      const result = await sender.post(found.url, body, {
        ...signWebhook(event.id, body, signingSecrets(found, startedAt), new Date(startedAt)),
      });
      if (result.status === undefined || result.status >= 300) return false;
      await attempts.record({
        endpointId,
        eventId: event.id,
        replayId: unguardedReplay,
        attempt: 1,
        status: 'succeeded',
        responseStatus: result.status,
        durationMs: result.durationMs,
        at: new Date(startedAt).toISOString(),
      });
      return true;
    });
    const checkReads = await meterConsistentReads(
      stack,
      tables.attempts,
      endpointId,
      events,
      unguardedReplay,
    );

    // The path today: the lease before the POST, the success over it after.
    const sqs = new SQSClient(localClientConfig(stack.endpoints.sqs));
    const leasedReplay = `rpl_bench_${ulid()}`;
    let delivery: Delivery | undefined;
    let stats: BatchedEndpointStats | undefined;
    const leased = await meterDeliveries(stack, events, async (event, documents) => {
      // The endpoint stats' counters, written as the deliver function writes them: one ADD per endpoint, hour and
      // environment every STATS_FLUSH_MS; these deliveries all fall in one such window, so one write at the end.
      stats ??= new BatchedEndpointStats(
        new DynamoEndpointStats({ client: documents, tableName: tables.attempts }),
        { timer: false },
      );
      delivery ??= new Delivery({
        stats,
        endpoints: new CachedEndpoints(
          new DynamoEndpointsRepository({ client: documents, tableName: tables.webhooks }),
        ),
        endpointWrites: new DynamoEndpointsRepository({ client: documents, tableName: tables.webhooks }),
        events: new DynamoEventsRepository({ client: documents, tableName: tables.events }),
        attempts: new DynamoAttemptsRepository({ client: documents, tableName: tables.attempts }),
        queue: new SqsDeliveryQueue({
          client: sqs,
          queueUrl: refOf(stack, 'DeliveriesQueue'),
          deadLetterQueueUrl: refOf(stack, 'DeliveriesDeadLetterQueue'),
        }),
        sender,
        metrics: { attempted: () => undefined, count: () => undefined },
        logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
        retryScheduleMs: [0, 1_000, 5_000],
        disableAfterMs: 5 * 86_400_000,
      });
      const result = await delivery.deliver(
        { storeId: deliveryStore, endpointId, eventId: event.id, replayId: leasedReplay, attempt: 1, event },
        { deadline: Date.now() + 60_000 },
      );
      if (event === events.at(-1)) await stats.flush();
      return result.kind === 'attempted' && result.outcome === 'succeeded';
    });
    sqs.destroy();

    return {
      perAcceptedTransaction: round(perAcceptedTransaction, 3),
      perAcceptedTransactionTarget: '1',
      perFirstAttemptDelivery: leased.writeUnits,
      perFirstAttemptDeliveryTarget: '<= 1.5',
      readUnitsPerFirstAttemptDelivery: leased.readUnits,
      deliveryLatency: leased.latency,
      deliveries: leased.succeeded,
      beforeTheLease: {
        writeUnits: unguarded.writeUnits,
        readUnits: unguarded.readUnits,
        readUnitsOfAMarkedCopy: round(unguarded.readUnits + checkReads, 3),
        latency: unguarded.latency,
        deliveries: unguarded.succeeded,
      },
    };
  } finally {
    sender.close();
  }
}

/**
 * Delivers each event once through `deliverOne` over a metered client, sequentially.
 * @returns units and latency per successful delivery.
 */
async function meterDeliveries(
  stack: LocalStack,
  events: readonly PipelineEvent[],
  deliverOne: (event: PipelineEvent, documents: ReturnType<typeof createDocumentClient>) => Promise<boolean>,
) {
  const metered = meteredClient(stack.endpoints.dynamodb);
  const documents = createDocumentClient(metered.client);
  const latencies: number[] = [];
  let succeeded = 0;
  for (const event of events) {
    const started = performance.now();
    if (await deliverOne(event, documents)) succeeded += 1;
    latencies.push(performance.now() - started);
  }
  metered.client.destroy();
  const per = (units: number) => (succeeded > 0 ? round(units / succeeded, 3) : Number.NaN);
  return {
    succeeded,
    writeUnits: per(metered.meter.writeUnits),
    readUnits: per(metered.meter.readUnits),
    latency: {
      meanMs: round(latencies.reduce((sum, ms) => sum + ms, 0) / latencies.length, 2),
      p50Ms: round(percentile(latencies, 50), 2),
      p99Ms: round(percentile(latencies, 99), 2),
    },
  };
}

/** What the consistent read of each success key costs (the check a marked copy made before the lease). */
async function meterConsistentReads(
  stack: LocalStack,
  attemptsTable: string,
  endpointId: string,
  events: readonly PipelineEvent[],
  replayId: string,
): Promise<number> {
  const metered = meteredClient(stack.endpoints.dynamodb);
  const attempts = new DynamoAttemptsRepository({
    client: createDocumentClient(metered.client),
    tableName: attemptsTable,
  });
  for (const event of events) await attempts.hasSucceeded(endpointId, event.id, replayId);
  metered.client.destroy();
  return metered.meter.readUnits / events.length;
}

// ---------------------------------------------------------------------------------------------------------------
// (c) accept-to-delivered latency at a steady rate

async function measureDeliveryLatency(stack: LocalStack, receivers: Receiver[]) {
  const store = `bench-c-${ulid().toLowerCase()}`;
  const apiKey = await createStore(stack, store);
  const own: Receiver[] = [];
  for (let index = 0; index < CONFIG.endpointsPerStore; index += 1) {
    const receiver = await Receiver.start();
    receivers.push(receiver);
    own.push(receiver);
    await api(stack, apiKey, 'POST', '/v1/webhooks', { url: receiver.url, events: ['*'] });
  }
  // The fan-out caches each store's endpoints for a few seconds: let it see all three.
  await sleep(3_500);

  const total = CONFIG.latencyRatePerSecond * CONFIG.latencySeconds;
  const intervalMs = 1000 / CONFIG.latencyRatePerSecond;
  const acceptedAt = new Map<string, number>();
  const posts: Promise<void>[] = [];
  const start = performance.now();
  for (let index = 0; index < total; index += 1) {
    // Open loop: each transaction leaves on its schedule, whether or not earlier ones have been answered.
    const due = start + index * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    posts.push(
      api(stack, apiKey, 'POST', '/v1/transactions', transactionBody()).then((answer) => {
        acceptedAt.set(String(answer.eventId), Date.now());
      }),
    );
  }
  await Promise.all(posts);
  const sendSeconds = (performance.now() - start) / 1000;
  const eventIds = [...acceptedAt.keys()];
  for (const receiver of own) await receiver.waitFor(eventIds, 1, CONFIG.drainTimeoutMs);

  const latencies = own.flatMap((receiver) =>
    eventIds.map(
      (eventId) => (receiver.firstArrival.get(eventId) ?? Number.NaN) - (acceptedAt.get(eventId) ?? 0),
    ),
  );
  const duplicates = own.reduce(
    (sum, receiver) => sum + [...receiver.arrivals.values()].filter((count) => count > 1).length,
    0,
  );
  return {
    transactions: total,
    endpointsPerStore: CONFIG.endpointsPerStore,
    achievedRatePerSecond: round(total / sendSeconds, 1),
    deliveries: latencies.length,
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(Math.max(...latencies), 1),
    duplicateDeliveries: duplicates,
    target: 'p50 < 250 ms',
  };
}

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** A webhook receiver on 127.0.0.1 that answers 204 and records when each webhook-id first arrived. */
class Receiver {
  readonly firstArrival = new Map<string, number>();
  readonly arrivals = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((request, response) => {
      const id = String(request.headers['webhook-id'] ?? '');
      const now = Date.now();
      request.resume();
      request.on('end', () => {
        if (receiver && id) {
          if (!receiver.firstArrival.has(id)) receiver.firstArrival.set(id, now);
          receiver.arrivals.set(id, (receiver.arrivals.get(id) ?? 0) + 1);
        }
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new Receiver(server, `http://127.0.0.1:${port}/webhooks`);
    return receiver;
  }

  async waitFor(eventIds: readonly string[], copies: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const missing = () => eventIds.filter((id) => (this.arrivals.get(id) ?? 0) < copies);
    while (missing().length > 0) {
      if (Date.now() > deadline) {
        throw new Error(
          `${this.url}: ${missing().length} of ${eventIds.length} webhooks did not arrive in time`,
        );
      }
      await sleep(50);
    }
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

function createStore(stack: LocalStack, id: string): Promise<string> {
  return createStoreAs(stack, ADMIN_API_KEY, id);
}

let sequence = 0;

/** A new transaction, as the storefront posts it. */
function transactionBody() {
  sequence += 1;
  return storefrontTransaction(`txn_${ulid()}_${sequence}`);
}

function markdown(results: Results): string {
  const { throughput: t, writeUnits: w, latency: l } = results;
  const ok = (pass: boolean) => (pass ? 'yes' : 'no');
  return [
    '| measure | value | target | met |',
    '|---|---|---|---|',
    ...(t
      ? [
          `| POST /v1/transactions (${t.concurrency} clients, ${t.api.count} requests) | ${t.api.perSecond} tx/s, p50 ${t.api.p50Ms} ms, p99 ${t.api.p99Ms} ms | | |`,
          `| raw conditional PutItem, same item (${t.itemBytes} B) and concurrency | ${t.rawPutItem.perSecond} puts/s, p50 ${t.rawPutItem.p50Ms} ms, p99 ${t.rawPutItem.p99Ms} ms | | |`,
          // Reported, not a target (issue 16): the emulator, the load generator and the function workers share
          // the two cores, which caps it near 0.79 whatever the API does. The API's own overhead is measured
          // in-process by the api-overhead section.
          `| API / raw PutItem throughput, whole stack (reported: shares 2 cores with the emulator) | ${t.ratio} | | |`,
        ]
      : []),
    ...rowsOf('write-units', w, (figures) => {
      const before = figures.beforeTheLease;
      const latency = (l: { p50Ms: number; p99Ms: number; meanMs: number }) =>
        `p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, mean ${l.meanMs} ms`;
      return [
        `| write units per accepted transaction | ${figures.perAcceptedTransaction} | 1 | ${ok(figures.perAcceptedTransaction <= 1)} |`,
        `| write units per first-attempt delivery (lease before the POST, success over it: sent once) | ${figures.perFirstAttemptDelivery} | <= 1.5 | ${ok(figures.perFirstAttemptDelivery <= 1.5)} |`,
        `| read units per first-attempt delivery (lease) | ${figures.readUnitsPerFirstAttemptDelivery} | | |`,
        `| latency per first-attempt delivery, in-process to a local receiver (lease) | ${latency(figures.deliveryLatency)} | | |`,
        `| before the lease: write / read units per first-attempt delivery (a marked copy read first) | ${before.writeUnits} / ${before.readUnits} (${before.readUnitsOfAMarkedCopy}) | <= 1.5 | ${ok(before.writeUnits <= 1.5)} |`,
        `| before the lease: latency per first-attempt delivery | ${latency(before.latency)} | | |`,
      ];
    }),
    ...(l
      ? [
          `| accept-to-delivered at ${l.achievedRatePerSecond} tx/s x ${l.endpointsPerStore} endpoints (${l.deliveries} deliveries) | p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms | p50 < 250 ms | ${ok(l.p50Ms < 250)} |`,
        ]
      : []),
    ...rowsOf('subscriptions', results.subscriptions, subscriptionRows),
    ...rowsOf('spike', results.spike, spikeRows),
    ...rowsOf('cost', results.cost, costRows),
    ...rowsOf('api-overhead', results.apiOverhead, apiOverheadRows),
    ...rowsOf('gateway-rate', results.gatewayRate, gatewayRateRows),
  ].join('\n');
}

/** A section's rows; figures kept from an older run may lack what today's rows show. */
function rowsOf<T>(section: Section, figures: T | undefined, rows: (figures: T) => string[]): string[] {
  if (figures === undefined) return [];
  try {
    return rows(figures);
  } catch {
    return [
      `| ${section}: the figures kept in results.json are of an older format; run \`npm run bench -- --only ${section}\` | | | |`,
    ];
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
