import {
  type CostAssumptions,
  costScenario,
  type FlowCounts,
  money,
  scenarioMarkdown,
} from '../../bench/cost';
import { PRICES } from '../../bench/prices';
import type { OperationCount } from '../../bench/request-meter';

// The cost section's arithmetic (bench/cost.ts): counts of a flow, divided by its items, times the prices of
// bench/prices.ts. Hand-made counts and hand-worked figures.

const op = (fields: Partial<OperationCount>): OperationCount => ({
  requests: 0,
  billedRequests: 0,
  readUnits: 0,
  writeUnits: 0,
  conditionFailures: 0,
  ...fields,
});

const assumptions: CostAssumptions = {
  itemsPerDay: 1_000_000,
  secondsPerMillion: 86_400,
  queueConsumers: 2,
  idlePollersPerQueue: 5,
  pollSeconds: 20,
  platformLogBytesPerInvocation: 350,
  xrayReservoirPerSecond: 1,
  xraySampledShare: 0.05,
};

/** 500 transactions: what the bench could have counted for them. */
const counts: FlowCounts = {
  items: 500,
  dynamodb: {
    PutItem: op({ requests: 1_000, billedRequests: 1_000, writeUnits: 1_000 }),
    UpdateItem: op({ requests: 500, billedRequests: 500, writeUnits: 500 }),
    GetItem: op({ requests: 10, billedRequests: 10, readUnits: 5 }),
    GetRecords: op({ requests: 400, billedRequests: 400 }),
  },
  sqsAndS3: {
    'SQS SendMessageBatch': op({ requests: 50, billedRequests: 50 }),
    'SQS ReceiveMessage': op({ requests: 100, billedRequests: 100 }),
    'SQS ReceiveMessage (empty)': op({ requests: 999, billedRequests: 999 }),
    'SQS DeleteMessageBatch': op({ requests: 100, billedRequests: 100 }),
  },
  functions: {
    ApiFunction: { invocations: 500, billedDurationMs: 10_000, memoryMb: 512 },
    DeliverFunction: { invocations: 100, billedDurationMs: 4_000, memoryMb: 1024 },
    Idle: { invocations: 0, billedDurationMs: 0, memoryMb: 512 },
  },
  apiRequests: 500,
  emails: 0,
  logBytes: 500 * 1_000,
  webhookBytes: 500 * 1_500,
};

const scenario = costScenario('a million transactions', counts, PRICES, assumptions);
const line = (service: string, unitStart: string) => {
  const found = scenario.lines.find(
    (candidate) => candidate.service === service && candidate.unit.startsWith(unitStart),
  );
  if (!found) throw new Error(`no line ${service} ${unitStart}`);
  return found;
};

test('DynamoDB: consumed units per item, times the on-demand prices; Lambda triggers read streams for free', () => {
  // 1,500 write units for 500 items: 3 a transaction, 3 million a million, at $0.625 a million.
  expect(line('DynamoDB', 'write').perMillion).toBe(3_000_000);
  expect(line('DynamoDB', 'write').usdPerMillion).toBeCloseTo(1.875, 10);
  expect(line('DynamoDB', 'read').perMillion).toBe(10_000);
  expect(line('DynamoDB', 'read').usdPerMillion).toBeCloseTo(0.00125, 10);
  expect(line('DynamoDB Streams', 'GetRecords').perMillion).toBe(800_000);
  expect(line('DynamoDB Streams', 'GetRecords').usdPerMillion).toBe(0);
});

test("SQS: the counted requests (the local pollers' empty receives left out), and the idle pollers by assumption", () => {
  // 250 requests for 500 items: 500,000 a million at $0.40 a million.
  expect(line('SQS', 'request').perMillion).toBe(500_000);
  expect(line('SQS', 'request').usdPerMillion).toBeCloseTo(0.2, 10);
  // 2 queues x 5 pollers x 4,320 polls a day, for a million items a day.
  expect(line('SQS', 'empty').perMillion).toBe(43_200);
  expect(line('SQS', 'empty').usdPerMillion).toBeCloseTo(0.01728, 10);
});

test("Lambda: invocations, and GB-seconds from the billed milliseconds at each function's memory", () => {
  expect(line('Lambda', 'invocation').perMillion).toBe(1_200_000);
  expect(line('Lambda', 'invocation').usdPerMillion).toBeCloseTo(0.24, 10);
  // (10 s x 0.5 GB + 4 s x 1 GB) = 9 GB-s for 500 items: 18,000 GB-s a million.
  expect(line('Lambda', 'GB-second').perMillion).toBeCloseTo(18_000, 6);
  expect(line('Lambda', 'GB-second').usdPerMillion).toBeCloseTo(18_000 * 0.0000133334, 10);
});

test('API Gateway, CloudWatch Logs, X-Ray and data transfer', () => {
  expect(line('API Gateway', 'HTTP API').usdPerMillion).toBeCloseTo(1, 10);
  // 1,000 B of lines + 1.2 invocations x 350 B = 1,420 B an item.
  const gib = 1024 ** 3;
  expect(line('CloudWatch Logs', 'GB').perMillion).toBeCloseTo((1_420 * 1_000_000) / gib, 9);
  expect(line('CloudWatch Logs', 'GB').usdPerMillion).toBeCloseTo(((1_420 * 1_000_000) / gib) * 0.5, 9);
  // Per function over a day: ApiFunction 1M invocations (86,400 reservoir + 5 % of the rest), DeliverFunction
  // 200,000 (86,400 + 5 % of the rest).
  const traces = 86_400 + 0.05 * (1_000_000 - 86_400) + 86_400 + 0.05 * (200_000 - 86_400);
  expect(line('X-Ray', 'X-Ray').perMillion).toBeCloseTo(traces, 6);
  expect(line('X-Ray', 'X-Ray').usdPerMillion).toBeCloseTo(traces * 5e-6, 9);
  expect(line('Data transfer out', 'GB').perMillion).toBeCloseTo((1_500 * 1_000_000) / gib, 9);
});

test('no line for what the flow did not use; lines biggest first; the total is their sum', () => {
  expect(scenario.lines.some((candidate) => candidate.service === 'SES' || candidate.service === 'S3')).toBe(
    false,
  );
  const dollars = scenario.lines.map((candidate) => candidate.usdPerMillion);
  expect(dollars).toEqual([...dollars].sort((a, b) => b - a));
  expect(scenario.totalUsdPerMillion).toBeCloseTo(
    dollars.reduce((sum, usd) => sum + usd, 0),
    12,
  );
  expect(scenario.measuredItems).toBe(500);
});

test('emails and S3 requests are priced when the flow made them', () => {
  const charges = costScenario(
    'charges',
    {
      ...counts,
      items: 1_000,
      emails: 1_000,
      sqsAndS3: {
        'S3 PUT': op({ requests: 4 }),
        'S3 LIST': op({ requests: 1 }),
        'S3 GET': op({ requests: 2 }),
      },
    },
    PRICES,
    { ...assumptions, secondsPerMillion: 12_500 },
  );
  const ses = charges.lines.find((candidate) => candidate.service === 'SES');
  expect(ses?.perMillion).toBe(1_000_000);
  expect(ses?.usdPerMillion).toBeCloseTo(100, 10);
  const puts = charges.lines.find(
    (candidate) => candidate.service === 'S3' && candidate.unit.includes('PUT'),
  );
  expect(puts?.perMillion).toBe(5_000);
  expect(puts?.usdPerMillion).toBeCloseTo(0.025, 10);
  // A million charges in 12,500 s: the reservoir holds at most 12,500 traces per function.
  const xray = charges.lines.find((candidate) => candidate.service === 'X-Ray');
  const api = 12_500 + 0.05 * (500_000 - 12_500);
  const deliver = 12_500 + 0.05 * (100_000 - 12_500);
  expect(xray?.perMillion).toBeCloseTo(api + deliver, 6);
});

test('refuses a flow with nothing counted', () => {
  expect(() => costScenario('empty', { ...counts, items: 0 }, PRICES, assumptions)).toThrow('no items');
});

test('the markdown table has a row per line and the total', () => {
  const table = scenarioMarkdown(scenario);
  expect(table).toContain('| service | unit | count per million | price | $ per million | basis |');
  expect(table.split('\n').filter((row) => row.startsWith('| ')).length).toBe(scenario.lines.length + 2);
  expect(table).toContain(`**${money(scenario.totalUsdPerMillion)}**`);
  expect(money(0.00125)).toBe('$0.0013');
  expect(money(1.875)).toBe('$1.875');
});
