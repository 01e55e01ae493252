/**
 * The list prices the cost section (bench/cost.ts) multiplies the bench's counts by: us-east-1, on-demand, no free
 * tier, no volume tiers past the first, no savings plans. One table, looked up on PRICES_CHECKED_ON; each line names
 * its source, and says "not re-checked" where the lookup could not confirm the figure and the long-published one
 * is used.
 */

export const PRICES_CHECKED_ON = '2026-12-07';
export const PRICES_REGION = 'us-east-1';

export interface Price {
  /** US dollars per one `unit`. */
  readonly usd: number;
  readonly unit: string;
  /** How the figure is shown in the tables, e.g. `$0.625 / M`. */
  readonly shown: string;
  readonly source: string;
  /** Whether the lookup on PRICES_CHECKED_ON confirmed the figure. */
  readonly checked: boolean;
}

const perMillion = (usd: number, unit: string, source: string, checked = true): Price => ({
  usd: usd / 1e6,
  unit,
  shown: `$${usd} / M`,
  source,
  checked,
});

export const PRICES = {
  dynamodbWriteRequestUnit: perMillion(
    0.625,
    'write request unit (on-demand, Standard table class)',
    'https://aws.amazon.com/dynamodb/pricing/on-demand/',
  ),
  dynamodbReadRequestUnit: perMillion(
    0.125,
    'read request unit (on-demand, Standard table class)',
    'https://aws.amazon.com/dynamodb/pricing/on-demand/',
  ),
  /** GetRecords by a Lambda trigger: "You are not charged for GetRecords API calls invoked by AWS Lambda". */
  dynamodbStreamsLambdaRead: perMillion(
    0,
    'streams read request by a Lambda trigger (free)',
    'https://aws.amazon.com/dynamodb/pricing/on-demand/ (DynamoDB Streams)',
  ),
  sqsRequest: perMillion(
    0.4,
    'request (standard queue; each 64 KB chunk of a payload is one request)',
    'https://aws.amazon.com/sqs/pricing/',
  ),
  lambdaRequest: perMillion(0.2, 'invocation', 'https://aws.amazon.com/lambda/pricing/'),
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    unit: 'GB-second (arm64, first 7.5 billion GB-s a month)',
    shown: '$0.0000133334 / GB-s',
    source: 'https://aws.amazon.com/lambda/pricing/',
    checked: true,
  },
  httpApiRequest: perMillion(
    1.0,
    'HTTP API request (first 300 million a month; 512 KB increments)',
    'https://aws.amazon.com/api-gateway/pricing/',
  ),
  s3PutRequest: {
    usd: 0.005 / 1000,
    unit: 'S3 Standard PUT, COPY, POST or LIST request',
    shown: '$0.005 / 1,000',
    source: 'https://aws.amazon.com/s3/pricing/',
    checked: false,
  },
  s3GetRequest: {
    usd: 0.0004 / 1000,
    unit: 'S3 Standard GET, SELECT and other request',
    shown: '$0.0004 / 1,000',
    source: 'https://aws.amazon.com/s3/pricing/',
    checked: false,
  },
  sesEmail: {
    usd: 0.1 / 1000,
    unit: 'outbound email (SES)',
    shown: '$0.10 / 1,000',
    source: 'https://aws.amazon.com/ses/pricing/',
    checked: true,
  },
  cloudWatchLogsIngestedGb: {
    usd: 0.5,
    unit: 'GB of logs ingested (Standard log class)',
    shown: '$0.50 / GB',
    source: 'https://aws.amazon.com/cloudwatch/pricing/',
    checked: true,
  },
  xrayTraceRecorded: perMillion(5.0, 'X-Ray trace recorded', 'https://aws.amazon.com/xray/pricing/', false),
  dataTransferOutGb: {
    usd: 0.09,
    unit: 'GB out to the internet (first 10 TB a month)',
    shown: '$0.09 / GB',
    source: 'https://aws.amazon.com/ec2/pricing/on-demand/ (Data Transfer)',
    checked: false,
  },
  /** Fixed, not per request: what each distinct custom metric (name and dimensions) costs a month. */
  cloudWatchCustomMetricMonth: {
    usd: 0.3,
    unit: 'custom metric a month (first 10,000)',
    shown: '$0.30 / metric-month',
    source: 'https://aws.amazon.com/cloudwatch/pricing/',
    checked: false,
  },
} as const satisfies Record<string, Price>;

export type PriceTable = typeof PRICES;
export type PriceName = keyof PriceTable;
