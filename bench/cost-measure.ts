/**
 * The cost section's counts (issue 16): a local stack of its own whose DynamoDB, SQS and S3 requests all go through
 * counting proxies (bench/request-meter.ts), run through three flows, everything live:
 *
 *   - transactions posted at a steady rate to a store with 1 endpoint, until each webhook has arrived;
 *   - the same with 3 endpoints;
 *   - a subscription run of due subscriptions (stores without endpoints), until it is completed, its receipts sent
 *     and its datafeeds written.
 *
 * Each flow is counted from a quiet stack to a quiet stack: requests by operation with their consumed capacity,
 * invocations and handler time of every function (LocalFunction.stats), HTTP API requests, emails, the functions'
 * log bytes, and the bytes of the webhooks that reached the endpoints. bench/cost.ts prices them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { createDocumentClient } from '../lambdas/platform/dynamodb';
import { localClientConfig } from '../local/aws-clients';
import { startDynamoDbLocal } from '../local/emulators/dynamodb-local';
import { startFauxqs } from '../local/emulators/fauxqs';
import { type LocalStack, startLocalStack } from '../local/stack';
import {
  biggestLines,
  type CostAssumptions,
  type CostScenario,
  costScenario,
  DEFAULT_ASSUMPTIONS,
  type FlowCounts,
  type FunctionCount,
  money,
  scenarioMarkdown,
} from './cost';
import { PRICES, PRICES_CHECKED_ON, PRICES_REGION } from './prices';
import { countsBetween, MeteringProxy, type RequestCounts } from './request-meter';
import { seedSubscriptions } from './subscriptions';
import { api, createStore, refOf, round, sleep, storefrontTransaction } from './support';

export const COST_CONFIG = {
  /** Transactions per flow, posted at this steady rate (open loop), after a few to warm the functions. */
  transactions: 500,
  ratePerSecond: 50,
  warmupTransactions: 10,
  /** Due subscriptions in the run, spread over this many stores. */
  charges: 1_000,
  chargeStores: 4,
  /** A flow ends once no function has been invoked for this long (and what it waits for has happened). */
  quietMs: 3_000,
  flowTimeoutMs: 20 * 60_000,
  /** The target: at most this many dollars per million transactions delivered to 1 endpoint. */
  targetUsdPerMillion: 3,
  /** The gateway-bound charge rate in AWS (PAYMENT_GATEWAY_RATE_LIMIT's default): a million charges' length. */
  chargesPerSecondInAws: 80,
};

export interface CostBenchOptions {
  readonly adminApiKey: string;
  readonly paymentGatewayApiKey: string;
  /** The stack's settings, as the other sections start theirs. */
  readonly settings: Readonly<Record<string, string>>;
  readonly log: (line: string) => void;
}

export async function runCostBench(options: CostBenchOptions) {
  const dynamodbLocal = await startDynamoDbLocal();
  const fauxqs = await startFauxqs();
  const dynamodbProxy = await MeteringProxy.start(dynamodbLocal.endpoint, 'dynamodb');
  const sqsProxy = await MeteringProxy.start(fauxqs.endpoint, 'sqs-s3');
  const output = { bytes: 0, metrics: new Set<string>() };
  let stack: LocalStack | undefined;
  const receivers: Receiver[] = [];
  try {
    stack = await startLocalStack({
      port: 0,
      dynamodbEndpoint: dynamodbProxy.url,
      sqsEndpoint: sqsProxy.url,
      config: {
        adminApiKey: options.adminApiKey,
        paymentGatewayApiKey: options.paymentGatewayApiKey,
        settings: options.settings,
      },
      log: options.log,
      functionOutput: (_name, chunk) => {
        output.bytes += Buffer.byteLength(chunk);
        for (const line of chunk.split('\n')) if (line.includes('"_aws"')) noteMetrics(line, output.metrics);
      },
    });
    const running = stack;
    // The schedules would start runs and sweeps of their own: the bench drives every flow itself.
    const schedules = running.eventSources.filter((source) => /^(cron|rate|at)\(/.test(source.description));
    await Promise.all(schedules.map((source) => source.pause()));
    const meter: Meter = { stack: running, dynamodb: dynamodbProxy, sqs: sqsProxy, output };

    const flows: { name: string; counts: FlowCounts; seconds: number }[] = [];
    for (const endpoints of [1, 3]) {
      const flow = await transactionsFlow(meter, options, endpoints, receivers);
      flows.push({
        name: `1,000,000 transactions delivered to ${endpoints} endpoint${endpoints > 1 ? 's' : ''}`,
        ...flow,
      });
      options.log(
        `(cost) ${endpoints} endpoint(s): ${flow.counts.items} transactions counted in ${flow.seconds} s`,
      );
    }
    const charges = await chargesFlow(meter, options, dynamodbLocal.endpoint);
    flows.push({ name: '1,000,000 subscription charges', ...charges });
    options.log(`(cost) ${charges.counts.items} charges counted in ${charges.seconds} s`);

    const queueConsumers = running.eventSources.filter(
      (source) => !/^(cron|rate|at)\(/.test(source.description) && !source.description.includes(' stream → '),
    ).length;
    const assumptions = (secondsPerMillion: number): CostAssumptions => ({
      ...DEFAULT_ASSUMPTIONS,
      secondsPerMillion,
      queueConsumers,
    });
    const scenarios = flows.map((flow, index) =>
      costScenario(
        flow.name,
        flow.counts,
        PRICES,
        // Transactions come all day; a run's charges come as fast as the gateway allows.
        assumptions(index < 2 ? 86_400 : 1_000_000 / COST_CONFIG.chargesPerSecondInAws),
      ),
    );
    const [oneEndpoint] = scenarios as [CostScenario];
    return {
      pricesCheckedOn: PRICES_CHECKED_ON,
      region: PRICES_REGION,
      config: COST_CONFIG,
      assumptions: {
        ...assumptions(86_400),
        chargeSecondsPerMillion: 1_000_000 / COST_CONFIG.chargesPerSecondInAws,
      },
      scenarios,
      counts: Object.fromEntries(flows.map((flow) => [flow.name, { ...flow.counts, seconds: flow.seconds }])),
      /** Fixed a month whatever the volume: each distinct EMF metric (name and dimensions) the flows emitted. */
      customMetrics: {
        distinct: output.metrics.size,
        usdPerMonth: round(output.metrics.size * PRICES.cloudWatchCustomMetricMonth.usd, 2),
      },
      target: {
        usdPerMillion: COST_CONFIG.targetUsdPerMillion,
        value: round(oneEndpoint.totalUsdPerMillion, 3),
        met: oneEndpoint.totalUsdPerMillion <= COST_CONFIG.targetUsdPerMillion,
      },
    };
  } finally {
    await Promise.all(receivers.map((receiver) => receiver.stop()));
    await stack?.stop();
    await dynamodbProxy.stop();
    await sqsProxy.stop();
    await Promise.all([dynamodbLocal.stop(), fauxqs.stop()]);
  }
}

export type CostResults = Awaited<ReturnType<typeof runCostBench>>;

/** The bench table's rows. */
export function costRows(results: CostResults): string[] {
  const [one, three, charges] = results.scenarios as [CostScenario, CostScenario, CostScenario];
  const row = (scenario: CostScenario, target: string, met: string) =>
    `| cost of ${scenario.name} (us-east-1 list prices of ${results.pricesCheckedOn}; biggest: ${biggestLines(scenario)}) | ${money(scenario.totalUsdPerMillion)} | ${target} | ${met} |`;
  return [
    row(one, `<= $${results.target.usdPerMillion}`, results.target.met ? 'yes' : 'no'),
    row(three, '', ''),
    row(charges, '', ''),
    `| + fixed a month: ${results.customMetrics.distinct} custom metrics (EMF) | $${results.customMetrics.usdPerMonth} / month | | |`,
  ];
}

/** The detailed tables, one per scenario. */
export function costMarkdown(results: CostResults): string {
  return results.scenarios.map((scenario) => scenarioMarkdown(scenario)).join('\n\n');
}

// ---------------------------------------------------------------------------------------------------------------
// the flows

interface Meter {
  readonly stack: LocalStack;
  readonly dynamodb: MeteringProxy;
  readonly sqs: MeteringProxy;
  readonly output: { bytes: number };
}

interface Snapshot {
  readonly dynamodb: RequestCounts;
  readonly sqs: RequestCounts;
  readonly functions: Record<string, FunctionCount>;
  readonly apiRequests: number;
  readonly emails: number;
  readonly logBytes: number;
  readonly at: number;
}

function snapshot(meter: Meter): Snapshot {
  const functions: Record<string, FunctionCount> = {};
  let apiRequests = 0;
  for (const fn of meter.stack.functions.values()) {
    const { invocations, billedDurationMs } = fn.stats();
    functions[labelOf(fn.props.logicalId)] = { invocations, billedDurationMs, memoryMb: fn.props.memorySize };
    if (fn.props.entry === 'lambdas/api/handlers/api.ts') apiRequests += invocations;
  }
  return {
    dynamodb: meter.dynamodb.snapshot(),
    sqs: meter.sqs.snapshot(),
    functions,
    apiRequests,
    emails: meter.stack.smtpSink?.mails.length ?? 0,
    logBytes: meter.output.bytes,
    at: performance.now(),
  };
}

function between(before: Snapshot, after: Snapshot, items: number, webhookBytes: number): FlowCounts {
  const functions: Record<string, FunctionCount> = {};
  for (const [name, now] of Object.entries(after.functions)) {
    const then = before.functions[name];
    const invocations = now.invocations - (then?.invocations ?? 0);
    if (invocations > 0) {
      functions[name] = {
        invocations,
        billedDurationMs: now.billedDurationMs - (then?.billedDurationMs ?? 0),
        memoryMb: now.memoryMb,
      };
    }
  }
  return {
    items,
    dynamodb: countsBetween(before.dynamodb, after.dynamodb),
    sqsAndS3: countsBetween(before.sqs, after.sqs),
    functions,
    apiRequests: after.apiRequests - before.apiRequests,
    emails: after.emails - before.emails,
    logBytes: after.logBytes - before.logBytes,
    webhookBytes,
  };
}

/** Resolves once no function has been invoked for `quietMs` (an invocation counts when it ends). */
async function quiet(meter: Meter, what: string): Promise<void> {
  const total = () =>
    [...meter.stack.functions.values()].reduce((sum, fn) => sum + fn.stats().invocations, 0);
  const deadline = performance.now() + COST_CONFIG.flowTimeoutMs;
  let last = total();
  let since = performance.now();
  while (performance.now() - since < COST_CONFIG.quietMs) {
    if (performance.now() > deadline) throw new Error(`(cost) timed out waiting for ${what}`);
    await sleep(100);
    const now = total();
    if (now !== last) {
      last = now;
      since = performance.now();
    }
  }
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + COST_CONFIG.flowTimeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`(cost) timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function transactionsFlow(
  meter: Meter,
  options: CostBenchOptions,
  endpoints: number,
  receivers: Receiver[],
): Promise<{ counts: FlowCounts; seconds: number }> {
  const { stack } = meter;
  const storeId = `bench-cost-${endpoints}-${ulid().toLowerCase()}`;
  const apiKey = await createStore(stack, options.adminApiKey, storeId);
  const own: Receiver[] = [];
  for (let index = 0; index < endpoints; index += 1) {
    const receiver = await Receiver.start();
    receivers.push(receiver);
    own.push(receiver);
    await api(stack, apiKey, 'POST', '/v1/webhooks', { url: receiver.url, events: ['*'] });
  }
  // The fan-out caches a store's endpoints for a few seconds.
  await sleep(3_500);
  const post = async () => {
    const answer = await api(
      stack,
      apiKey,
      'POST',
      '/v1/transactions',
      storefrontTransaction(`txn_${ulid()}`),
    );
    return String(answer.eventId);
  };
  const warm = await Promise.all(Array.from({ length: COST_CONFIG.warmupTransactions }, post));
  await waitUntil(() => own.every((receiver) => receiver.has(warm)), 'the warm-up webhooks');
  await quiet(meter, 'the stack to settle');

  const before = snapshot(meter);
  const bytesBefore = own.reduce((sum, receiver) => sum + receiver.bytes, 0);
  const eventIds: Promise<string>[] = [];
  const intervalMs = 1000 / COST_CONFIG.ratePerSecond;
  const start = performance.now();
  for (let index = 0; index < COST_CONFIG.transactions; index += 1) {
    const wait = start + index * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    eventIds.push(post());
  }
  const ids = await Promise.all(eventIds);
  await waitUntil(() => own.every((receiver) => receiver.has(ids)), 'every webhook');
  await quiet(meter, 'the stack to settle');
  const after = snapshot(meter);
  const webhookBytes = own.reduce((sum, receiver) => sum + receiver.bytes, 0) - bytesBefore;
  const duplicates = own.reduce((sum, receiver) => sum + receiver.duplicates, 0);
  if (duplicates > 0) options.log(`(cost) ${duplicates} webhook(s) arrived more than once`);
  return {
    counts: between(before, after, COST_CONFIG.transactions, webhookBytes),
    seconds: round((after.at - before.at) / 1000, 1),
  };
}

async function chargesFlow(
  meter: Meter,
  options: CostBenchOptions,
  uncountedDynamodb: string,
): Promise<{ counts: FlowCounts; seconds: number }> {
  const { stack } = meter;
  const gateway = stack.paymentGateway;
  if (!gateway) throw new Error('(cost) the charges flow needs the bundled payment gateway');
  const storeIds: string[] = [];
  for (let index = 0; index < COST_CONFIG.chargeStores; index += 1) {
    const id = `bench-cost-run-${index}-${ulid().toLowerCase()}`;
    await createStore(stack, options.adminApiKey, id);
    storeIds.push(id);
  }
  // Seeded straight into DynamoDB Local, past the proxy: creating subscriptions is not what is priced. Their
  // `subscription.created` events go through the outbox and the fan-out before the count starts.
  const client = new DynamoDBClient(localClientConfig(uncountedDynamodb));
  const documents = createDocumentClient(client);
  try {
    await seedSubscriptions(client, refOf(stack, 'SubscriptionsTable'), storeIds, COST_CONFIG.charges);
    await sleep(2_000);
    await quiet(meter, 'the seeded subscriptions to be announced');

    const before = snapshot(meter);
    const ledgerBefore = gateway.ledger.length;
    const triggered = await api(stack, options.adminApiKey, 'POST', '/v1/admin/subscription-runs', {});
    if (triggered.outcome !== 'started')
      throw new Error(`(cost) run not started: ${JSON.stringify(triggered)}`);
    const runs = refOf(stack, 'RunsTable');
    await waitUntil(async () => {
      const { Item } = await documents.send(
        new GetCommand({ TableName: runs, Key: { runId: String(triggered.runId), sk: 'run' } }),
      );
      return Item?.status === 'completed';
    }, 'the run to complete');
    await waitUntil(
      () => (stack.smtpSink?.mails.length ?? 0) - before.emails >= COST_CONFIG.charges,
      'every receipt',
    );
    await quiet(meter, 'the stack to settle');
    const after = snapshot(meter);
    const succeeded = gateway.ledger
      .slice(ledgerBefore)
      .filter((entry) => entry.outcome === 'succeeded').length;
    if (succeeded !== COST_CONFIG.charges) {
      throw new Error(`(cost) the gateway made ${succeeded} successful charges, not ${COST_CONFIG.charges}`);
    }
    return {
      counts: between(before, after, COST_CONFIG.charges, 0),
      seconds: round((after.at - before.at) / 1000, 1),
    };
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** `ApiFunction685AAB5B` → `ApiFunction`. */
function labelOf(logicalId: string): string {
  return logicalId.replace(/[0-9A-F]{8}$/, '');
}

/** Adds the identities (namespace, name, dimension values) of the metrics of one EMF line to `into`. */
function noteMetrics(line: string, into: Set<string>): void {
  try {
    const emf = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown> & {
      _aws?: {
        CloudWatchMetrics?: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
      };
    };
    for (const directive of emf._aws?.CloudWatchMetrics ?? []) {
      for (const dimensions of directive.Dimensions) {
        const values = dimensions.map((name) => `${name}=${String(emf[name])}`).join(',');
        for (const metric of directive.Metrics) into.add(`${directive.Namespace}|${metric.Name}|${values}`);
      }
    }
  } catch {
    // Not an EMF document after all.
  }
}

/** A webhook receiver that answers 204 and counts the bytes of what reached it. */
class Receiver {
  bytes = 0;
  duplicates = 0;
  private readonly seen = new Set<string>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((request, response) => {
      let size = Buffer.byteLength(`${request.method} ${request.url} HTTP/${request.httpVersion}\r\n\r\n`);
      for (let index = 0; index < request.rawHeaders.length; index += 2)
        size += Buffer.byteLength(`${request.rawHeaders[index]}: ${request.rawHeaders[index + 1]}\r\n`);
      request.on('data', (chunk: Buffer) => {
        size += chunk.length;
      });
      request.on('end', () => {
        const id = String(request.headers['webhook-id'] ?? '');
        if (receiver) {
          receiver.bytes += size;
          if (receiver.seen.has(id)) receiver.duplicates += 1;
          receiver.seen.add(id);
        }
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new Receiver(server, `http://127.0.0.1:${port}/webhooks`);
    return receiver;
  }

  has(eventIds: readonly string[]): boolean {
    return eventIds.every((id) => this.seen.has(id));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
