/**
 * Counting proxies in front of the emulators, for the cost section (bench/cost.ts): every request the local stack
 * makes to DynamoDB, SQS and S3 (its functions in their worker threads, its stream and queue pollers) goes through
 * one, which counts it by operation. DynamoDB requests are made to return their consumed capacity
 * (`ReturnConsumedCapacity: INDEXES` is added to the request when the caller did not ask for it; the emulator does
 * not check signatures), so read and write units are counted as DynamoDB bills them, indexes included.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Requests, and what they are billed in, of one operation (`PutItem`, `SendMessageBatch`, `S3 PUT`...). */
export interface OperationCount {
  requests: number;
  /** SQS bills each 64 KB chunk of a request's payload as one request. */
  billedRequests: number;
  readUnits: number;
  writeUnits: number;
  /** Writes refused by their condition: DynamoDB bills them as writes, the emulator reports no capacity. */
  conditionFailures: number;
}

export type RequestCounts = Record<string, OperationCount>;

const CAPACITY_OPERATIONS = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
  'TransactGetItems',
  'TransactWriteItems',
]);
const WRITE_OPERATIONS = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);
const SQS_CHUNK_BYTES = 64 * 1024;

interface Capacity {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

export class MeteringProxy {
  private readonly counts: RequestCounts = {};

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** A proxy on 127.0.0.1 in front of `target` (DynamoDB Local, or fauxqs for SQS and S3). */
  static async start(target: string, kind: 'dynamodb' | 'sqs-s3'): Promise<MeteringProxy> {
    const upstream = new URL(target);
    let proxy: MeteringProxy | undefined;
    const server = createServer((incoming, outgoing) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        const original = Buffer.concat(chunks);
        const operation = operationOf(kind, incoming, original);
        const name = kind === 'dynamodb' ? withTable(operation, original) : operation;
        const body = kind === 'dynamodb' ? withConsumedCapacity(operation, original) : original;
        // The caller's Host is kept: fauxqs names queue URLs after it, and the SDK sends to a queue URL's host,
        // so queue URLs must lead back through the proxy.
        const headers = { ...incoming.headers, 'content-length': String(body.length) };
        const forwarded = httpRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: incoming.method,
            path: incoming.url,
            headers,
          },
          (response) => {
            const answer: Buffer[] = [];
            response.on('data', (chunk: Buffer) => answer.push(chunk));
            response.on('end', () => {
              const answered = Buffer.concat(answer);
              proxy?.record(kind, operation, name, body, response.statusCode ?? 0, answered);
              outgoing.writeHead(response.statusCode ?? 502, response.headers);
              outgoing.end(answered);
            });
            response.on('error', () => outgoing.destroy());
          },
        );
        forwarded.on('error', () => outgoing.destroy());
        forwarded.end(body);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    proxy = new MeteringProxy(server, `http://127.0.0.1:${port}`);
    return proxy;
  }

  /** A copy of the counts so far, by operation. */
  snapshot(): RequestCounts {
    return Object.fromEntries(Object.entries(this.counts).map(([name, count]) => [name, { ...count }]));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private record(
    kind: 'dynamodb' | 'sqs-s3',
    operation: string,
    counted: string,
    request: Buffer,
    status: number,
    response: Buffer,
  ): void {
    let name = counted;
    let readUnits = 0;
    let writeUnits = 0;
    let conditionFailures = 0;
    let billedRequests = 1;
    if (kind === 'dynamodb') {
      const answer = parseJson(response);
      if (status === 200 && CAPACITY_OPERATIONS.has(operation)) {
        const consumed = answer?.ConsumedCapacity as Capacity | Capacity[] | undefined;
        for (const entry of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
          const units = entry.WriteCapacityUnits ?? entry.ReadCapacityUnits ?? entry.CapacityUnits ?? 0;
          if (WRITE_OPERATIONS.has(operation)) writeUnits += units;
          else readUnits += units;
        }
      } else if (String(answer?.__type ?? '').endsWith('ConditionalCheckFailedException')) {
        conditionFailures = 1;
        writeUnits = 1;
      }
    } else if (operation.startsWith('SQS ')) {
      billedRequests = Math.max(1, Math.ceil(Math.max(request.length, response.length) / SQS_CHUNK_BYTES));
      if (operation === 'SQS ReceiveMessage') {
        const messages = parseJson(response)?.Messages;
        if (!Array.isArray(messages) || messages.length === 0) name = 'SQS ReceiveMessage (empty)';
      }
    }
    const count = this.counts[name] ?? {
      requests: 0,
      billedRequests: 0,
      readUnits: 0,
      writeUnits: 0,
      conditionFailures: 0,
    };
    this.counts[name] = count;
    count.requests += 1;
    count.billedRequests += billedRequests;
    count.readUnits += readUnits;
    count.writeUnits += writeUnits;
    count.conditionFailures += conditionFailures;
  }
}

/** The counts added between two snapshots. */
export function countsBetween(before: RequestCounts, after: RequestCounts): RequestCounts {
  const during: RequestCounts = {};
  for (const [name, now] of Object.entries(after)) {
    const then = before[name];
    const diff = {
      requests: now.requests - (then?.requests ?? 0),
      billedRequests: now.billedRequests - (then?.billedRequests ?? 0),
      readUnits: now.readUnits - (then?.readUnits ?? 0),
      writeUnits: now.writeUnits - (then?.writeUnits ?? 0),
      conditionFailures: now.conditionFailures - (then?.conditionFailures ?? 0),
    };
    if (diff.requests > 0) during[name] = diff;
  }
  return during;
}

/**
 * `PutItem TransactionsTable` for a call on one table (its construct id: the local prefix and CDK's hash
 * removed), the operation alone otherwise.
 */
function withTable(operation: string, body: Buffer): string {
  const table = parseJson(body)?.TableName;
  if (typeof table !== 'string') return operation;
  return `${operation} ${table.replace(/^[a-z0-9]+-/, '').replace(/[0-9A-F]{8}$/, '')}`;
}

/** `PutItem`, `GetRecords` (DynamoDB Streams), `SQS SendMessageBatch`, `S3 PUT`, `S3 GET`, `S3 LIST`... */
function operationOf(kind: 'dynamodb' | 'sqs-s3', incoming: IncomingMessage, body: Buffer): string {
  const target = String(incoming.headers['x-amz-target'] ?? '');
  if (kind === 'dynamodb') return target.split('.').pop() || 'unknown';
  if (target.startsWith('AmazonSQS.')) return `SQS ${target.slice('AmazonSQS.'.length)}`;
  // The query protocol (Action=...) of older SDKs.
  const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString('utf8'))?.[1];
  if (action) return `SQS ${action}`;
  const url = new URL(incoming.url ?? '/', 'http://local');
  const method = incoming.method ?? 'GET';
  const segments = url.pathname.split('/').filter(Boolean);
  if (method === 'GET' && (segments.length <= 1 || url.searchParams.has('list-type'))) return 'S3 LIST';
  if (method === 'GET' || method === 'HEAD') return 'S3 GET';
  if (method === 'DELETE') return 'S3 DELETE';
  return 'S3 PUT';
}

function withConsumedCapacity(operation: string, body: Buffer): Buffer {
  if (!CAPACITY_OPERATIONS.has(operation)) return body;
  const input = parseJson(body);
  if (!input || (input.ReturnConsumedCapacity && input.ReturnConsumedCapacity !== 'NONE')) return body;
  return Buffer.from(JSON.stringify({ ...input, ReturnConsumedCapacity: 'INDEXES' }));
}

function parseJson(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
