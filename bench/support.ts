/**
 * What the bench's sections share: the admin and store API calls, the stack's resources by construct id, a
 * DynamoDB client that meters the capacity of every call, the transaction a storefront posts and the raw
 * conditional put it is compared with, timed samples, and small numeric helpers.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ulid } from 'ulid';
import { localClientConfig } from '../local/aws-clients';
import type { LocalStack } from '../local/stack';

/** One call of the pipeline's API at `apiUrl`; throws on any answer but 2xx. @returns the answer's JSON. */
export async function apiAt(
  apiUrl: string,
  key: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(new URL(route, apiUrl), {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (response.status >= 300)
    throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** One call of the local stack's API. */
export function api(
  stack: LocalStack,
  key: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  return apiAt(stack.apiUrl, key, method, route, body);
}

/** Creates the store `id` through the admin API. @returns its API key. */
export async function createStore(stack: LocalStack, adminApiKey: string, id: string): Promise<string> {
  const store = await api(stack, adminApiKey, 'POST', '/v1/admin/stores', { id, name: id });
  return String(store.apiKey);
}

/** The logical id of the construct `constructId` (CDK appends an 8-character hash). */
export function logicalIdOf(stack: LocalStack, constructId: string): string {
  const pattern = new RegExp(`^${constructId}[0-9A-F]{8}$`);
  const resource = stack.resources.all().find((candidate) => pattern.test(candidate.logicalId));
  if (!resource) throw new Error(`the local stack has no ${constructId}`);
  return resource.logicalId;
}

/** The local physical name (or URL) of the construct `constructId`. */
export function refOf(stack: LocalStack, constructId: string): string {
  const logicalId = logicalIdOf(stack, constructId);
  const resource = stack.resources.all().find((candidate) => candidate.logicalId === logicalId);
  return resource?.ref ?? '';
}

const WRITE_COMMANDS = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);

const READ_COMMANDS = new Set([
  'GetItemCommand',
  'QueryCommand',
  'BatchGetItemCommand',
  'TransactGetItemsCommand',
]);

/** Capacity consumed by one kind of call on one table: `PutItem:<table>`. */
export interface MeteredCall {
  calls: number;
  units: number;
  tableUnits: number;
  /** By index name (global and local secondary indexes). */
  indexUnits: Record<string, number>;
}

export interface Meter {
  writeUnits: number;
  writes: number;
  readUnits: number;
  reads: number;
  /** Keyed `<Operation>:<table name>`, e.g. `UpdateItem:cpab12-SubscriptionsTable...`. */
  readonly byCall: Map<string, MeteredCall>;
}

interface ConsumedCapacityEntry {
  TableName?: string;
  CapacityUnits?: number;
  WriteCapacityUnits?: number;
  ReadCapacityUnits?: number;
  Table?: { CapacityUnits?: number };
  GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
  LocalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
}

/**
 * A DynamoDB client that asks for the consumed capacity of every call, indexes included
 * (`ReturnConsumedCapacity: INDEXES`), and adds it up: in total, and by operation and table.
 */
export function meteredClient(endpoint: string): { client: DynamoDBClient; meter: Meter } {
  const meter: Meter = { writeUnits: 0, writes: 0, readUnits: 0, reads: 0, byCall: new Map() };
  const client = new DynamoDBClient(localClientConfig(endpoint));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      const write = WRITE_COMMANDS.has(command);
      const read = READ_COMMANDS.has(command);
      if (write || read) (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'INDEXES';
      const result = await next(args);
      if (!write && !read) return result;
      if (write) meter.writes += 1;
      else meter.reads += 1;
      const consumed = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
      const entries = (
        Array.isArray(consumed) ? consumed : consumed ? [consumed] : []
      ) as ConsumedCapacityEntry[];
      const operation = command.replace(/Command$/, '');
      for (const entry of entries) {
        const units = entry.WriteCapacityUnits ?? entry.ReadCapacityUnits ?? entry.CapacityUnits ?? 0;
        if (write) meter.writeUnits += units;
        else meter.readUnits += units;
        const key = `${operation}:${entry.TableName ?? '?'}`;
        const call = meter.byCall.get(key) ?? { calls: 0, units: 0, tableUnits: 0, indexUnits: {} };
        call.calls += 1;
        call.units += units;
        call.tableUnits += entry.Table?.CapacityUnits ?? units;
        for (const indexes of [entry.GlobalSecondaryIndexes, entry.LocalSecondaryIndexes]) {
          for (const [name, index] of Object.entries(indexes ?? {}))
            call.indexUnits[name] = (call.indexUnits[name] ?? 0) + (index.CapacityUnits ?? 0);
        }
        meter.byCall.set(key, call);
      }
      return result;
    },
    { step: 'initialize', name: 'benchMeterCapacity' },
  );
  return { client, meter };
}

/** Clears a meter's counts (between a warm-up and the measured part). */
export function resetMeter(meter: Meter): void {
  meter.writeUnits = 0;
  meter.writes = 0;
  meter.readUnits = 0;
  meter.reads = 0;
  meter.byCall.clear();
}

/** A small cart, as a storefront posts it to `POST /v1/transactions`. */
export function storefrontTransaction(id: string) {
  return {
    id,
    customer: { id: 'cus_bench', email: 'buyer@example.com' },
    currency: 'USD',
    total: 4_500,
    items: [
      { sku: 'SKU-MUG', name: 'Mug', quantity: 1, unitPrice: 2_500 },
      { sku: 'SKU-TEA', name: 'Tea', quantity: 2, unitPrice: 1_000 },
    ],
  };
}

/** The request fingerprint the API keeps with an accepted transaction. */
export function fingerprintOf(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url');
}

/** The transactions table's item for `transaction`: the same attributes and sizes as the API writes. */
export function acceptedItem(storeId: string, transaction: ReturnType<typeof storefrontTransaction>) {
  const acceptedAt = new Date().toISOString();
  return {
    storeId,
    txnId: transaction.id,
    eventId: `evt_${ulid()}`,
    fingerprint: fingerprintOf(transaction),
    acceptedAt,
    transaction: { ...transaction, createdAt: acceptedAt },
  };
}

/**
 * What the API is compared with: its one conditional put of a transaction's item, straight to DynamoDB Local from
 * one warm SDK client, into a table shaped as the transactions table (its stream included).
 */
export class RawConditionalPut {
  private constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly storeId: string,
  ) {}

  static async create(endpoint: string, name: string): Promise<RawConditionalPut> {
    const client = new DynamoDBClient(localClientConfig(endpoint));
    const tableName = `${name}-${ulid().toLowerCase()}`;
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'storeId', KeyType: 'HASH' },
          { AttributeName: 'txnId', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'storeId', AttributeType: 'S' },
          { AttributeName: 'txnId', AttributeType: 'S' },
        ],
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
      }),
    );
    return new RawConditionalPut(client, tableName, name);
  }

  /** The size of the item put, as JSON. */
  itemBytes(): number {
    return Buffer.byteLength(JSON.stringify(this.item()));
  }

  readonly put = async (): Promise<void> => {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(this.item(), { removeUndefinedValues: true }),
        ConditionExpression: 'attribute_not_exists(txnId)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  };

  async destroy(): Promise<void> {
    await this.client.send(new DeleteTableCommand({ TableName: this.tableName })).catch(() => undefined);
    this.client.destroy();
  }

  private item() {
    return acceptedItem(this.storeId, storefrontTransaction(`txn_raw_${ulid()}`));
  }
}

/** Latencies (ms) of a task run many times, and how long that took. */
export interface Samples {
  readonly latencies: number[];
  readonly seconds: number;
}

/** Runs `task` `count` times, at most `concurrency` at once, timing each. */
export async function timedSamples(
  count: number,
  concurrency: number,
  task: () => Promise<void>,
): Promise<Samples> {
  const latencies: number[] = [];
  const started = performance.now();
  await forEachLimit(count, concurrency, async () => {
    const t0 = performance.now();
    await task();
    latencies.push(performance.now() - t0);
  });
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

export interface RateSummary {
  readonly count: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** The rate and latency percentiles of rounds of samples, taken together. */
export function summarizeSamples(rounds: readonly Samples[]): RateSummary {
  const latencies = rounds.flatMap((round) => round.latencies);
  const seconds = rounds.reduce((sum, round) => sum + round.seconds, 0);
  return {
    count: latencies.length,
    perSecond: round(latencies.length / seconds, 1),
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
  };
}

/** Runs `task(index)` for 0..count-1 with at most `concurrency` at once. */
export async function forEachLimit(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next;
        next += 1;
        await task(index);
      }
    }),
  );
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPU time, in seconds, of this process (its worker threads included), of its child processes, and of the machine. */
export interface CpuSample {
  readonly self: number;
  /** By child process, named by command and pid, e.g. `java 1234`. */
  readonly children: ReadonlyMap<string, number>;
  /** Busy time of every CPU of the machine, whoever used it. */
  readonly machineBusy: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** The local stack's child processes by command. */
const CHILD_LABELS: Readonly<Record<string, string>> = {
  java: 'DynamoDB Local (java)',
  node: 'fauxqs: SQS and S3 (node)',
};

export function sampleCpu(): CpuSample {
  const { user, system } = process.cpuUsage();
  const children = new Map<string, number>();
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = safeRead(`/proc/${entry}/stat`);
    // `pid (comm) state ppid ...`: comm may hold spaces, so split after its closing parenthesis.
    const close = stat?.lastIndexOf(')') ?? -1;
    if (!stat || close < 0) continue;
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    if (Number(fields[1]) !== process.pid) continue;
    const ticks = Number(fields[11]) + Number(fields[12]);
    children.set(`${comm} ${entry}`, ticks / CLOCK_TICKS_PER_SECOND);
  }
  const cpu = (safeRead('/proc/stat') ?? '').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return { self: (user + system) / 1e6, children, machineBusy: (total - idle) / CLOCK_TICKS_PER_SECOND };
}

/** CPU seconds used between two samples: this process, its children by command, the rest of the machine. */
export function cpuBetween(before: CpuSample, after: CpuSample) {
  const byProcess: Record<string, number> = {
    'this process (functions in worker threads included)': after.self - before.self,
  };
  let ours = after.self - before.self;
  for (const [name, seconds] of after.children) {
    const used = seconds - (before.children.get(name) ?? 0);
    const command = name.split(' ')[0] ?? name;
    const label = CHILD_LABELS[command] ?? command;
    byProcess[label] = (byProcess[label] ?? 0) + used;
    ours += used;
  }
  const machine = after.machineBusy - before.machineBusy;
  return {
    seconds: byProcess,
    ours,
    /** Busy CPU time of every other process on the machine meanwhile (other work sharing the cores). */
    others: Math.max(0, machine - ours),
  };
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function safeRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
