import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { LOCAL_REGION } from '../aws-clients';
import { abortableSleep } from './abortable-sleep';
import type { EventSource } from './event-source';
import type { LocalFunction } from './local-function';
import { PauseGate } from './pause-gate';

export interface SqsEventSourceProps {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly function: LocalFunction;
  /** @default 10 */
  readonly batchSize?: number;
  /**
   * Concurrent invocations by this source (ScalingConfig.MaximumConcurrency).
   * @default 5 - Lambda's initial number of SQS pollers
   */
  readonly maximumConcurrency?: number;
  /** FunctionResponseTypes includes ReportBatchItemFailures. */
  readonly reportBatchItemFailures?: boolean;
  /** Long-poll wait, seconds. @default 20 */
  readonly waitTimeSeconds?: number;
  /** Called with every error of the poller itself (not of the function). */
  readonly onError?: (error: unknown) => void;
}

const SQS_MAX_MESSAGES_PER_RECEIVE = 10;

/**
 * Lambda's SQS event source mapping, by hand: Lambda's pollers are a managed service with no library to run them
 * locally. `maximumConcurrency` pollers each long-poll the queue, invoke the function with one batch, and delete
 * what succeeded: every message on success, all but the reported ones on a partial batch failure, none on an
 * error or a timeout (those come back after the visibility timeout and, past `maxReceiveCount`, go to the DLQ by
 * the queue's own redrive policy).
 */
export function startSqsEventSource(sqs: SQSClient, props: SqsEventSourceProps): EventSource {
  const abort = new AbortController();
  const gate = new PauseGate();
  const concurrency = props.maximumConcurrency ?? 5;
  const pollers = Array.from({ length: concurrency }, () => poll(sqs, props, gate, abort.signal));
  return {
    description: `${props.queueArn.split(':').pop()} → ${props.function.props.name}`,
    stop: async () => {
      abort.abort();
      await Promise.all(pollers);
    },
    pause: () => gate.pause(),
    resume: () => gate.resume(),
  };
}

async function poll(
  sqs: SQSClient,
  props: SqsEventSourceProps,
  gate: PauseGate,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await gate.open(signal);
      if (signal.aborted) return;
      const messages = await receiveBatch(sqs, props, signal);
      if (messages.length === 0) continue;
      // Paused during the long poll: the batch goes back to the queue at once rather than after its
      // visibility timeout (it counts as a receive, as it would in AWS).
      if (gate.isPaused) await release(sqs, props.queueUrl, messages);
      else await gate.track(deliver(sqs, props, messages));
    } catch (error) {
      if (signal.aborted) return;
      props.onError?.(error);
      await abortableSleep(1000, signal);
    }
  }
}

/** Up to `batchSize` messages: one long poll, then immediate receives while full batches keep coming. */
async function receiveBatch(
  sqs: SQSClient,
  props: SqsEventSourceProps,
  signal: AbortSignal,
): Promise<Message[]> {
  const batchSize = props.batchSize ?? 10;
  const messages: Message[] = [];
  let waitTimeSeconds = props.waitTimeSeconds ?? 20;
  while (messages.length < batchSize) {
    const wanted = Math.min(SQS_MAX_MESSAGES_PER_RECEIVE, batchSize - messages.length);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: props.queueUrl,
        MaxNumberOfMessages: wanted,
        WaitTimeSeconds: waitTimeSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: signal },
    );
    messages.push(...Messages);
    if (Messages.length < wanted) break;
    waitTimeSeconds = 0;
  }
  return messages;
}

async function deliver(sqs: SQSClient, props: SqsEventSourceProps, messages: Message[]): Promise<void> {
  const event: SQSEvent = { Records: messages.map((message) => toRecord(message, props.queueArn)) };
  let result: unknown;
  try {
    result = await props.function.invoke(event);
  } catch {
    // The function failed or timed out: every message comes back after its visibility timeout.
    return;
  }
  const failed = props.reportBatchItemFailures ? failedMessageIds(result, messages) : new Set<string>();
  if (failed === 'whole-batch') return;
  const succeeded = messages.filter((message) => !failed.has(message.MessageId ?? ''));
  for (let index = 0; index < succeeded.length; index += SQS_MAX_MESSAGES_PER_RECEIVE) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: props.queueUrl,
        Entries: succeeded
          .slice(index, index + SQS_MAX_MESSAGES_PER_RECEIVE)
          .map((message, position) => ({ Id: String(position), ReceiptHandle: message.ReceiptHandle })),
      }),
    );
  }
}

async function release(sqs: SQSClient, queueUrl: string, messages: Message[]): Promise<void> {
  for (let index = 0; index < messages.length; index += SQS_MAX_MESSAGES_PER_RECEIVE) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.slice(index, index + SQS_MAX_MESSAGES_PER_RECEIVE).map((message, position) => ({
          Id: String(position),
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

/**
 * The ids a partial batch response reports. As in Lambda, a response that names an id not in the batch (or no
 * id) fails the whole batch.
 */
function failedMessageIds(result: unknown, messages: Message[]): Set<string> | 'whole-batch' {
  const failures = (result as Partial<SQSBatchResponse> | null)?.batchItemFailures;
  if (!Array.isArray(failures)) return new Set();
  const ids = new Set(messages.map((message) => message.MessageId));
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !ids.has(id)) return 'whole-batch';
    failed.add(id);
  }
  return failed;
}

function toRecord(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? '',
      SenderId: attributes.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? '',
      ...(attributes.SequenceNumber ? { SequenceNumber: attributes.SequenceNumber } : {}),
      ...(attributes.MessageGroupId ? { MessageGroupId: attributes.MessageGroupId } : {}),
      ...(attributes.MessageDeduplicationId
        ? { MessageDeduplicationId: attributes.MessageDeduplicationId }
        : {}),
      ...(attributes.AWSTraceHeader ? { AWSTraceHeader: attributes.AWSTraceHeader } : {}),
    },
    messageAttributes: toMessageAttributes(message.MessageAttributes ?? {}),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: LOCAL_REGION,
  };
}

/** SQS's message attributes in the Lambda event's spelling (camelCase, binary as base64). */
function toMessageAttributes(attributes: Record<string, MessageAttributeValue>): SQSMessageAttributes {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      {
        dataType: value.DataType ?? 'String',
        ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
        ...(value.BinaryValue !== undefined ? { binaryValue: base64(value.BinaryValue) } : {}),
        stringListValues: value.StringListValues ?? [],
        binaryListValues: (value.BinaryListValues ?? []).map(base64),
      },
    ]),
  );
}
