/**
 * The cost section's arithmetic (issue 16, "No cost figure"): what the bench counted for a flow (requests by
 * operation, consumed capacity, invocations and their durations, emails, log bytes, bytes sent to endpoints),
 * divided by the flow's transactions or charges and multiplied by the list prices of bench/prices.ts, as lines of
 * (service, unit, count per million, price, $ per million). The counting itself is bench/cost-measure.ts.
 *
 * What the local stack cannot show is priced from stated assumptions, each written on its line: Lambda's SQS
 * pollers' empty receives, Lambda's START/END/REPORT log lines, X-Ray's sampling.
 */
import type { PriceTable } from './prices';
import type { RequestCounts } from './request-meter';

/** What one function did during a measured flow. */
export interface FunctionCount {
  readonly invocations: number;
  readonly billedDurationMs: number;
  readonly memoryMb: number;
}

/** Everything counted while a flow ran, for `items` transactions (or charges). */
export interface FlowCounts {
  readonly items: number;
  /** DynamoDB and DynamoDB Streams requests by operation, with their consumed capacity. */
  readonly dynamodb: RequestCounts;
  /** SQS (`SQS <Action>`) and S3 (`S3 PUT|GET|LIST|DELETE`) requests. */
  readonly sqsAndS3: RequestCounts;
  /** By function name. */
  readonly functions: Readonly<Record<string, FunctionCount>>;
  /** HTTP API requests (each invokes the API function once). */
  readonly apiRequests: number;
  readonly emails: number;
  /** What the functions wrote to stdout and stderr (their log lines and EMF metrics). */
  readonly logBytes: number;
  /** Bytes of the webhook requests that reached the endpoints (request line, headers, body). */
  readonly webhookBytes: number;
}

/** What the bench cannot observe, stated. */
export interface CostAssumptions {
  /** Items a day, for what costs by the day (Lambda's pollers poll every queue all day). */
  readonly itemsPerDay: number;
  /** Over how many seconds a million items come, for what costs by the second (X-Ray's reservoir). */
  readonly secondsPerMillion: number;
  /** Queues with a Lambda consumer (from the template). */
  readonly queueConsumers: number;
  /** Lambda's pollers on an idle queue, each long-polling for `pollSeconds`. */
  readonly idlePollersPerQueue: number;
  readonly pollSeconds: number;
  /** Lambda's own START, END and REPORT lines per invocation (with the X-Ray trace id), in bytes. */
  readonly platformLogBytesPerInvocation: number;
  /** X-Ray's default rule: a reservoir of this many traces a second, then this share of the rest. */
  readonly xrayReservoirPerSecond: number;
  readonly xraySampledShare: number;
}

export const DEFAULT_ASSUMPTIONS: Omit<CostAssumptions, 'queueConsumers'> = {
  itemsPerDay: 1_000_000,
  secondsPerMillion: 86_400,
  idlePollersPerQueue: 5,
  pollSeconds: 20,
  platformLogBytesPerInvocation: 350,
  xrayReservoirPerSecond: 1,
  xraySampledShare: 0.05,
};

export interface CostLine {
  readonly service: string;
  readonly unit: string;
  /** How many `unit`s per million items. */
  readonly perMillion: number;
  readonly price: string;
  readonly usdPerMillion: number;
  /** Where the count comes from, or the assumption it rests on. */
  readonly basis: string;
}

export interface CostScenario {
  readonly name: string;
  /** The items the counts were taken over. */
  readonly measuredItems: number;
  readonly lines: readonly CostLine[];
  readonly totalUsdPerMillion: number;
}

const MILLION = 1_000_000;
const GIB = 1024 ** 3;
const SECONDS_PER_DAY = 86_400;

/** The priced lines of one flow, per million items, biggest first. */
export function costScenario(
  name: string,
  counts: FlowCounts,
  prices: PriceTable,
  assumptions: CostAssumptions,
): CostScenario {
  if (!(counts.items > 0)) throw new Error(`${name}: no items counted`);
  const scale = MILLION / counts.items;
  const lines: CostLine[] = [];
  const add = (
    service: string,
    price: PriceTable[keyof PriceTable],
    perMillion: number,
    basis: string,
    unit: string = price.unit,
  ) => {
    lines.push({
      service,
      unit,
      perMillion,
      price: `${price.shown}${price.checked ? '' : ' (not re-checked)'}`,
      usdPerMillion: perMillion * price.usd,
      basis,
    });
  };
  const sum = (
    records: RequestCounts,
    pick: (name: string) => boolean,
    field: 'requests' | 'billedRequests',
  ) =>
    Object.entries(records)
      .filter(([operation]) => pick(operation))
      .reduce((total, [, count]) => total + count[field], 0);
  const listed = (
    records: RequestCounts,
    pick: (name: string) => boolean,
    field: 'requests' | 'writeUnits' | 'readUnits',
  ) =>
    Object.entries(records)
      .filter(([operation, count]) => pick(operation) && count[field] > 0)
      .sort(([, a], [, b]) => b[field] - a[field])
      .map(([operation, count]) => `${operation} ${round(count[field] / counts.items, 3)}`)
      .join(', ');

  // DynamoDB: capacity as ConsumedCapacity reported it, indexes included; refused conditional writes as 1 unit.
  const dynamo = Object.values(counts.dynamodb);
  const writeUnits = dynamo.reduce((total, count) => total + count.writeUnits, 0);
  const readUnits = dynamo.reduce((total, count) => total + count.readUnits, 0);
  add(
    'DynamoDB',
    prices.dynamodbWriteRequestUnit,
    writeUnits * scale,
    `ConsumedCapacity of every write, per item: ${listed(counts.dynamodb, () => true, 'writeUnits') || 'none'}`,
  );
  add(
    'DynamoDB',
    prices.dynamodbReadRequestUnit,
    readUnits * scale,
    `ConsumedCapacity of every read, per item: ${listed(counts.dynamodb, () => true, 'readUnits') || 'none'}`,
  );
  const getRecords = sum(counts.dynamodb, (operation) => operation.startsWith('GetRecords'), 'requests');
  add(
    'DynamoDB Streams',
    prices.dynamodbStreamsLambdaRead,
    getRecords * scale,
    "GetRecords by the stream triggers: free for Lambda (the local poller's count, which reads each shard 4 times a second)",
    'GetRecords by a Lambda trigger',
  );

  // SQS: what the functions and the pollers asked, per 64 KB chunk; the pollers' empty receives by assumption.
  const isSqs = (operation: string) => operation.startsWith('SQS ') && !operation.endsWith('(empty)');
  add(
    'SQS',
    prices.sqsRequest,
    sum(counts.sqsAndS3, isSqs, 'billedRequests') * scale,
    `counted, per item: ${listed(counts.sqsAndS3, isSqs, 'requests')}`,
  );
  const emptyPerDay =
    assumptions.queueConsumers *
    assumptions.idlePollersPerQueue *
    (SECONDS_PER_DAY / assumptions.pollSeconds);
  add(
    'SQS',
    prices.sqsRequest,
    (emptyPerDay * MILLION) / assumptions.itemsPerDay,
    `assumed: Lambda's empty long polls, ${assumptions.idlePollersPerQueue} pollers x 1 per ${assumptions.pollSeconds} s on each of ${assumptions.queueConsumers} queues with a consumer, all day, ${formatCount(assumptions.itemsPerDay)} items a day (the local poller's are not counted)`,
    'empty ReceiveMessage by Lambda pollers',
  );

  // Lambda: every invocation, and its measured duration at the function's memory.
  const functions = Object.entries(counts.functions).filter(([, fn]) => fn.invocations > 0);
  const invocations = functions.reduce((total, [, fn]) => total + fn.invocations, 0);
  const gbSeconds = functions.reduce(
    (total, [, fn]) => total + (fn.billedDurationMs / 1000) * (fn.memoryMb / 1024),
    0,
  );
  const byFunction = [...functions].sort(([, a], [, b]) => b.billedDurationMs - a.billedDurationMs);
  add(
    'Lambda',
    prices.lambdaRequest,
    invocations * scale,
    `counted, per item: ${byFunction.map(([fn, count]) => `${fn} ${round(count.invocations / counts.items, 3)}`).join(', ')}`,
  );
  add(
    'Lambda',
    prices.lambdaArmGbSecond,
    gbSeconds * scale,
    `measured handler time (ms per item, at MB): ${byFunction.map(([fn, count]) => `${fn} ${round(count.billedDurationMs / counts.items, 2)} at ${count.memoryMb}`).join(', ')}`,
  );

  if (counts.apiRequests > 0) {
    add('API Gateway', prices.httpApiRequest, counts.apiRequests * scale, 'counted: HTTP API requests');
  }
  const s3Put = sum(
    counts.sqsAndS3,
    (operation) => operation === 'S3 PUT' || operation === 'S3 LIST',
    'requests',
  );
  const s3Get = sum(counts.sqsAndS3, (operation) => operation === 'S3 GET', 'requests');
  if (s3Put > 0) add('S3', prices.s3PutRequest, s3Put * scale, 'counted: PUT and LIST (datafeeds)');
  if (s3Get > 0) add('S3', prices.s3GetRequest, s3Get * scale, 'counted: GET');
  if (counts.emails > 0) add('SES', prices.sesEmail, counts.emails * scale, 'counted: emails sent');

  const platformBytes = invocations * assumptions.platformLogBytesPerInvocation;
  add(
    'CloudWatch Logs',
    prices.cloudWatchLogsIngestedGb,
    ((counts.logBytes + platformBytes) / GIB) * scale,
    `counted: ${round(counts.logBytes / counts.items, 0)} B per item of log lines and EMF metrics; assumed: ${assumptions.platformLogBytesPerInvocation} B of START/END/REPORT per invocation`,
  );

  // X-Ray (active tracing on every function): per function, the reservoir's traces a second, then a share of the rest.
  let traces = 0;
  for (const [, fn] of functions) {
    const perMillion = fn.invocations * scale;
    const reservoir = Math.min(
      perMillion,
      assumptions.xrayReservoirPerSecond * assumptions.secondsPerMillion,
    );
    traces += reservoir + assumptions.xraySampledShare * (perMillion - reservoir);
  }
  add(
    'X-Ray',
    prices.xrayTraceRecorded,
    traces,
    `assumed: the default rule per function (${assumptions.xrayReservoirPerSecond}/s, then ${assumptions.xraySampledShare * 100} % of the rest) over the counted invocations, a million items in ${formatCount(assumptions.secondsPerMillion)} s; an upper bound, as a queue-triggered invocation may join its sender's trace`,
  );

  if (counts.webhookBytes > 0) {
    add(
      'Data transfer out',
      prices.dataTransferOutGb,
      (counts.webhookBytes / GIB) * scale,
      `counted: ${round(counts.webhookBytes / counts.items, 0)} B of webhook requests per item (TLS not included)`,
    );
  }

  const sorted = lines.sort((a, b) => b.usdPerMillion - a.usdPerMillion);
  return {
    name,
    measuredItems: counts.items,
    lines: sorted,
    totalUsdPerMillion: sorted.reduce((total, line) => total + line.usdPerMillion, 0),
  };
}

/** A scenario as a markdown table, its total last. */
export function scenarioMarkdown(scenario: CostScenario): string {
  return [
    `**${scenario.name}** (counted over ${formatCount(scenario.measuredItems)}):`,
    '',
    '| service | unit | count per million | price | $ per million | basis |',
    '|---|---|---|---|---|---|',
    ...scenario.lines.map(
      (line) =>
        `| ${line.service} | ${line.unit} | ${formatCount(line.perMillion)} | ${line.price} | ${money(line.usdPerMillion)} | ${line.basis} |`,
    ),
    `| **total** | | | | **${money(scenario.totalUsdPerMillion)}** | |`,
  ].join('\n');
}

/** The three biggest lines, e.g. `Lambda GB-second $0.91, DynamoDB write request unit $0.63, ...`. */
export function biggestLines(scenario: CostScenario, count = 3): string {
  return scenario.lines
    .slice(0, count)
    .map((line) => `${line.service} ${line.unit.split(' (')[0]} ${money(line.usdPerMillion)}`)
    .join(', ');
}

export function money(usd: number): string {
  if (usd === 0) return '$0';
  if (usd < 0.01) return `$${usd.toPrecision(2)}`;
  return `$${usd.toFixed(usd < 10 ? 3 : 2)}`;
}

function formatCount(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  return String(round(value, 3));
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
