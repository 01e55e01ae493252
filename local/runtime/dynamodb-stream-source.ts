import { randomUUID } from 'node:crypto';
import {
  type _Record,
  type AttributeValue,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { LOCAL_REGION } from '../aws-clients';
import { abortableSleep } from './abortable-sleep';
import type { EventSource } from './event-source';
import { FunctionError, type LocalFunction } from './local-function';
import { PauseGate } from './pause-gate';

export interface DynamoDbStreamSourceProps {
  readonly streamArn: string;
  readonly function: LocalFunction;
  /** @default 100 */
  readonly batchSize?: number;
  /** Where reading starts in the shards open when the source starts. @default 'LATEST' */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Retries of a failing batch before it is sent to `onFailure` and skipped. @default -1 - until it succeeds */
  readonly maximumRetryAttempts?: number;
  /** Split a failing batch in two and retry each half (splits do not count as retries). @default false */
  readonly bisectBatchOnFunctionError?: boolean;
  /**
   * A tumbling window: Lambda then adds the window, its state and the record's shard to each event. Locally every
   * batch is a window of its own (`isFinalInvokeForWindow`), which is what a consumer that keeps no state sees.
   */
  readonly tumblingWindowInSeconds?: number;
  /** FunctionResponseTypes includes ReportBatchItemFailures. */
  readonly reportBatchItemFailures?: boolean;
  /** The OnFailure destination: receives Lambda's failure record of a batch whose retries are exhausted. */
  readonly onFailure?: (failureRecord: StreamBatchFailureRecord) => Promise<void>;
  /** Pause between reads of a shard with no new records. @default 250 - Lambda reads a shard 4 times a second */
  readonly pollIntervalMs?: number;
  /** Called with every error of the poller itself (not of the function). */
  readonly onError?: (error: unknown) => void;
}

/** The record Lambda sends to a stream source's on-failure destination. */
export interface StreamBatchFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: string;
    approximateInvokeCount: number;
  };
  responseContext: { statusCode: number; executedVersion: string; functionError: string };
  version: '1.0';
  timestamp: string;
  DDBStreamBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

/**
 * Lambda's DynamoDB-stream event source mapping, by hand (it is a managed service with no library to run it
 * locally): follows the stream's shards, parents before children, reads each shard in order, and invokes the
 * function with one batch of a shard at a time. A failing batch is retried (from the first reported failure on a
 * partial batch response) until it succeeds or `maximumRetryAttempts` is exhausted, when its failure record goes to
 * `onFailure` and the shard moves on. Resolves once it holds an iterator on every open shard, so nothing written
 * after that is missed, even with LATEST.
 */
export async function startDynamoDbStreamSource(
  streams: DynamoDBStreamsClient,
  props: DynamoDbStreamSourceProps,
): Promise<EventSource> {
  const abort = new AbortController();
  const gate = new PauseGate();
  const running = new Map<string, Promise<void>>();
  const finished = new Set<string>();
  const pollIntervalMs = props.pollIntervalMs ?? 250;

  const discover = async (initial: boolean) => {
    const started: Promise<unknown>[] = [];
    for (const shard of await describeShards(streams, props.streamArn)) {
      const shardId = shard.ShardId ?? '';
      if (running.has(shardId)) continue;
      const parent = shard.ParentShardId;
      if (parent && running.has(parent) && !finished.has(parent)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      // LATEST skips what was written before the source started, so closed shards are of no interest then.
      if (initial && closed && (props.startingPosition ?? 'LATEST') === 'LATEST') {
        running.set(shardId, Promise.resolve());
        finished.add(shardId);
        continue;
      }
      const position = initial ? (props.startingPosition ?? 'LATEST') : 'TRIM_HORIZON';
      const iterator = shardIterator(streams, props.streamArn, shardId, position);
      started.push(iterator);
      running.set(
        shardId,
        readShard(streams, props, gate, shardId, position, iterator, abort.signal).then(() => {
          finished.add(shardId);
        }),
      );
    }
    await Promise.all(started);
  };

  await discover(true);
  // New shards (a shard rolls over into children now and then) are looked for once a second.
  const loop = (async () => {
    while (!abort.signal.aborted) {
      await abortableSleep(pollIntervalMs * 4, abort.signal);
      await discover(false).catch((error) => {
        if (!abort.signal.aborted) props.onError?.(error);
      });
    }
  })();

  return {
    description: `${props.streamArn.split('/')[1] ?? props.streamArn} stream → ${props.function.props.name}`,
    stop: async () => {
      abort.abort();
      await loop;
      await Promise.all(running.values());
    },
    pause: () => gate.pause(),
    resume: () => gate.resume(),
  };
}

async function describeShards(streams: DynamoDBStreamsClient, streamArn: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let exclusiveStartShardId: string | undefined;
  do {
    const { StreamDescription } = await streams.send(
      new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
    );
    shards.push(...(StreamDescription?.Shards ?? []));
    exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
  } while (exclusiveStartShardId);
  return shards;
}

async function shardIterator(
  streams: DynamoDBStreamsClient,
  streamArn: string,
  shardId: string,
  position: 'TRIM_HORIZON' | 'LATEST' | { after: string },
): Promise<string | undefined> {
  const { ShardIterator } = await streams.send(
    new GetShardIteratorCommand({
      StreamArn: streamArn,
      ShardId: shardId,
      ...(typeof position === 'string'
        ? { ShardIteratorType: position }
        : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: position.after }),
    }),
  );
  return ShardIterator;
}

/**
 * DynamoDB Local invalidates the iterator an empty shard returned once a record lands in that shard while
 * another stream is read too (TrimmedDataAccessException); an iterator also expires after 15 minutes. Lambda
 * keeps a checkpoint per shard and carries on from it: so does this source.
 */
function isLostIterator(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === 'TrimmedDataAccessException' || name === 'ExpiredIteratorException';
}

async function readShard(
  streams: DynamoDBStreamsClient,
  props: DynamoDbStreamSourceProps,
  gate: PauseGate,
  shardId: string,
  position: 'TRIM_HORIZON' | 'LATEST',
  firstIterator: Promise<string | undefined>,
  signal: AbortSignal,
): Promise<void> {
  const pollIntervalMs = props.pollIntervalMs ?? 250;
  const startedAt = Math.floor(Date.now() / 1000) * 1000;
  let iterator = await firstIterator.catch((error) => {
    props.onError?.(error);
    return undefined;
  });
  // The checkpoint: the last record of the shard that was delivered (or given up on).
  let checkpoint: string | undefined;
  // Before the first checkpoint of a LATEST source, a re-read from the trim horizon skips what was written before
  // the source started (to the second: a record of that very second may come through, never one is missed).
  let skipBefore = position === 'LATEST' ? startedAt : 0;
  while (iterator && !signal.aborted) {
    try {
      // Paused: the shard is not read on, so its records wait in the stream, as behind a disabled mapping.
      await gate.open(signal);
      if (signal.aborted) return;
      const { Records: read = [], NextShardIterator } = await streams.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: props.batchSize ?? 100 }),
      );
      const Records = read.filter(
        (record) => (record.dynamodb?.ApproximateCreationDateTime?.getTime() ?? skipBefore) >= skipBefore,
      );
      if (Records.length > 0) await deliverWithRetries(props, gate, shardId, Records, 0, signal);
      if (signal.aborted) return;
      const last = read[read.length - 1]?.dynamodb?.SequenceNumber;
      if (last) {
        checkpoint = last;
        skipBefore = 0;
      }
      // No next iterator: the shard is closed and fully read; its children take over.
      iterator = NextShardIterator;
      if (read.length === 0) await abortableSleep(pollIntervalMs, signal);
    } catch (error) {
      if (signal.aborted) return;
      if (isLostIterator(error)) {
        iterator = await shardIterator(
          streams,
          props.streamArn,
          shardId,
          checkpoint ? { after: checkpoint } : 'TRIM_HORIZON',
        ).catch((lost) => {
          props.onError?.(lost);
          return iterator;
        });
        if (!signal.aborted) await abortableSleep(pollIntervalMs, signal);
        continue;
      }
      props.onError?.(error);
      await abortableSleep(1000, signal);
    }
  }
}

async function deliverWithRetries(
  props: DynamoDbStreamSourceProps,
  gate: PauseGate,
  shardId: string,
  records: _Record[],
  retriesUsed: number,
  signal: AbortSignal,
): Promise<void> {
  let pending = records;
  let retries = retriesUsed;
  let invocations = 0;
  while (!signal.aborted) {
    await gate.open(signal);
    if (signal.aborted) return;
    invocations += 1;
    const outcome = await gate.track(invokeBatch(props, shardId, pending));
    if (outcome.kind === 'succeeded') return;
    if (outcome.kind === 'partial') {
      pending = pending.slice(outcome.firstFailedIndex);
    } else if (props.bisectBatchOnFunctionError && pending.length > 1) {
      const half = Math.ceil(pending.length / 2);
      await deliverWithRetries(props, gate, shardId, pending.slice(0, half), retries, signal);
      await deliverWithRetries(props, gate, shardId, pending.slice(half), retries, signal);
      return;
    }
    const maximum = props.maximumRetryAttempts ?? -1;
    if (maximum >= 0 && retries >= maximum) {
      await props.onFailure?.(failureRecord(props, shardId, pending, invocations, outcome.functionError));
      return;
    }
    retries += 1;
    // Lambda backs off between retries of a stream batch; locally short, so tests stay quick.
    await abortableSleep(Math.min(100 * 2 ** (retries - 1), 2000), signal);
  }
}

type BatchOutcome =
  | { kind: 'succeeded' }
  | { kind: 'partial'; firstFailedIndex: number; functionError: string }
  | { kind: 'failed'; functionError: string };

async function invokeBatch(
  props: DynamoDbStreamSourceProps,
  shardId: string,
  records: _Record[],
): Promise<BatchOutcome> {
  const now = new Date();
  const event: DynamoDBStreamEvent = {
    Records: records.map((record) => toLambdaRecord(record, props.streamArn)),
    ...(props.tumblingWindowInSeconds
      ? {
          shardId,
          eventSourceARN: props.streamArn,
          window: {
            start: now.toISOString(),
            end: new Date(now.getTime() + props.tumblingWindowInSeconds * 1000).toISOString(),
          },
          state: {},
          isFinalInvokeForWindow: true,
          isWindowTerminatedEarly: false,
        }
      : {}),
  };
  let result: unknown;
  try {
    result = await props.function.invoke(event);
  } catch (error) {
    return { kind: 'failed', functionError: error instanceof FunctionError ? error.errorType : 'Unhandled' };
  }
  if (!props.reportBatchItemFailures) return { kind: 'succeeded' };
  const failures = (result as Partial<DynamoDBBatchResponse> | null)?.batchItemFailures;
  if (!Array.isArray(failures) || failures.length === 0) return { kind: 'succeeded' };
  // Lambda resumes from the lowest reported sequence number; an unknown one fails the whole batch.
  const indexes = failures.map((failure) =>
    records.findIndex((record) => record.dynamodb?.SequenceNumber === failure?.itemIdentifier),
  );
  if (indexes.some((index) => index < 0))
    return { kind: 'failed', functionError: 'InvalidBatchItemFailures' };
  return { kind: 'partial', firstFailedIndex: Math.min(...indexes), functionError: 'PartialBatchFailure' };
}

function failureRecord(
  props: DynamoDbStreamSourceProps,
  shardId: string,
  records: _Record[],
  invocations: number,
  functionError: string,
): StreamBatchFailureRecord {
  const first = records[0]?.dynamodb;
  const last = records[records.length - 1]?.dynamodb;
  return {
    requestContext: {
      requestId: randomUUID(),
      functionArn: props.function.props.arn,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: invocations,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError },
    version: '1.0',
    timestamp: new Date().toISOString(),
    DDBStreamBatchInfo: {
      shardId,
      startSequenceNumber: first?.SequenceNumber ?? '',
      endSequenceNumber: last?.SequenceNumber ?? '',
      approximateArrivalOfFirstRecord: (first?.ApproximateCreationDateTime ?? new Date()).toISOString(),
      approximateArrivalOfLastRecord: (last?.ApproximateCreationDateTime ?? new Date()).toISOString(),
      batchSize: records.length,
      streamArn: props.streamArn,
    },
  };
}

/** The SDK's record in the Lambda event's shape: creation time in epoch seconds, binary values in base64. */
function toLambdaRecord(record: _Record, streamArn: string): DynamoDBRecord {
  const data = record.dynamodb ?? {};
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion,
    eventSource: 'aws:dynamodb',
    awsRegion: LOCAL_REGION,
    eventSourceARN: streamArn,
    ...(record.userIdentity ? { userIdentity: record.userIdentity } : {}),
    dynamodb: {
      ...(data.ApproximateCreationDateTime
        ? { ApproximateCreationDateTime: Math.floor(data.ApproximateCreationDateTime.getTime() / 1000) }
        : {}),
      ...(data.Keys ? { Keys: toLambdaImage(data.Keys) } : {}),
      ...(data.NewImage ? { NewImage: toLambdaImage(data.NewImage) } : {}),
      ...(data.OldImage ? { OldImage: toLambdaImage(data.OldImage) } : {}),
      SequenceNumber: data.SequenceNumber,
      SizeBytes: data.SizeBytes,
      StreamViewType: data.StreamViewType,
    },
  };
}

type LambdaImage = NonNullable<NonNullable<DynamoDBRecord['dynamodb']>['NewImage']>;
type LambdaAttributeValue = LambdaImage[string];

function toLambdaImage(image: Record<string, AttributeValue>): LambdaImage {
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toLambdaValue(value)]));
}

function toLambdaValue(value: AttributeValue): LambdaAttributeValue {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaValue) };
  return value as LambdaAttributeValue;
}
