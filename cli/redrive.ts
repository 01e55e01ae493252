import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { localClientConfig } from '../local/aws-clients';
import { readLocalStackFile } from './local-stack-file';
import { stackOutputs, TargetError } from './target';

/** A queue and the dead-letter queue its redrive policy moves failed messages to. */
export interface QueuePair {
  readonly sourceUrl: string;
  readonly deadLetterUrl: string;
}

/**
 * The queue pairs of the pipeline (each a DurableQueue: `<Construct>Queue` and `<Construct>DeadLetterQueue`,
 * with the stack outputs `<Construct>QueueUrl` and `<Construct>DeadLetterQueueUrl`), by the name
 * `npx pipeline redrive <queue>` takes.
 */
const QUEUES = {
  deliveries: { construct: 'Deliveries' },
  replays: { construct: 'Replays' },
  charges: { construct: 'Charges' },
  runs: { construct: 'Runs' },
  notifications: { construct: 'Notifications' },
} as const;
export type QueueName = keyof typeof QUEUES;
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];

export interface RedriveOptions {
  /** Seconds each receive waits for a message. @default 1 - short: the DLQ is not being written to */
  readonly waitTimeSeconds?: number;
  /** How long a received message stays hidden while it is moved. @default 60 */
  readonly visibilityTimeoutSeconds?: number;
  /** Called after every batch with the number of messages moved so far. */
  readonly onProgress?: (moved: number) => void;
}

export interface RedriveResult {
  readonly moved: number;
  /** Messages that could not be sent to the source queue; they stay on the DLQ. */
  readonly failed: number;
}

const BATCH = 10;

/**
 * Moves every message of `pair.deadLetterUrl` back to `pair.sourceUrl`: receive a batch, send it to the source
 * queue with its body and message attributes (and, on FIFO queues, its group and deduplication ids), then delete
 * from the DLQ only what was sent. A message is never deleted before its copy is on the source queue, so a crash
 * midway duplicates at most one batch and loses none; deliveries are idempotent by design. Ends when the DLQ
 * reads empty twice in a row (SQS's receive samples servers: one empty answer does not mean an empty queue).
 */
export async function redrive(
  sqs: SQSClient,
  pair: QueuePair,
  options: RedriveOptions = {},
): Promise<RedriveResult> {
  let moved = 0;
  let failed = 0;
  let emptyReads = 0;
  while (emptyReads < 2) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: pair.deadLetterUrl,
        MaxNumberOfMessages: BATCH,
        WaitTimeSeconds: options.waitTimeSeconds ?? 1,
        VisibilityTimeout: options.visibilityTimeoutSeconds ?? 60,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
      }),
    );
    if (Messages.length === 0) {
      emptyReads += 1;
      continue;
    }
    emptyReads = 0;
    const sent = await sendBatch(sqs, pair.sourceUrl, Messages);
    failed += Messages.length - sent.length;
    if (sent.length > 0) {
      const { Failed = [] } = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: pair.deadLetterUrl,
          Entries: sent.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle,
          })),
        }),
      );
      // Not deleted: it is on both queues now, and comes back to this loop after its visibility timeout.
      moved += sent.length - Failed.length;
    }
    options.onProgress?.(moved);
  }
  return { moved, failed };
}

/** Sends `messages` to `queueUrl` as they were; returns those that were sent. */
async function sendBatch(sqs: SQSClient, queueUrl: string, messages: Message[]): Promise<Message[]> {
  const { Successful = [] } = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: messages.map((message, index) => ({
        Id: String(index),
        MessageBody: message.Body ?? '',
        ...(message.MessageAttributes && Object.keys(message.MessageAttributes).length > 0
          ? { MessageAttributes: message.MessageAttributes }
          : {}),
        ...(message.Attributes?.MessageGroupId ? { MessageGroupId: message.Attributes.MessageGroupId } : {}),
        ...(message.Attributes?.MessageDeduplicationId
          ? { MessageDeduplicationId: message.Attributes.MessageDeduplicationId }
          : {}),
      })),
    }),
  );
  return Successful.flatMap((entry) => {
    const message = messages[Number(entry.Id)];
    return message ? [message] : [];
  });
}

/** Messages visible on a queue, to size the progress bar (SQS's approximate count). */
export async function approximateDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(Attributes.ApproximateNumberOfMessages ?? 0);
}

/** The SQS client and the queue pair `npx pipeline redrive <queue>` works on. */
export interface RedriveTarget {
  readonly sqs: SQSClient;
  readonly pair: QueuePair;
}

/**
 * `queue` is `deliveries`, `replays`, `charges`, `runs` or `notifications`, a logical name (`DeliveriesQueue`, `DeliveriesDeadLetterQueue`, with or
 * without CDK's hash) or a queue URL of either queue of a pair. With `--stack`, the URLs come from the stack's
 * outputs (and the caller's AWS credentials); otherwise from the running `npm start` (`.local/stack.json`).
 * `to` names the source queue for a dead-letter queue URL that is no pipeline queue.
 */
export async function resolveRedriveTarget(
  queue: string,
  options: { stack?: string; stackFile?: string; to?: string },
): Promise<RedriveTarget> {
  if (options.stack) {
    const pairs = deployedQueuePairs(await stackOutputs(options.stack));
    return { sqs: new SQSClient({}), pair: pickPair(queue, pairs, options.to) };
  }
  const local = readLocalStackFile(options.stackFile);
  if (!local) {
    if (options.to && isUrl(queue)) {
      return { sqs: new SQSClient({}), pair: { sourceUrl: options.to, deadLetterUrl: queue } };
    }
    throw new TargetError(
      'No queues to redrive: start the local stack with `npm start`, or pass --stack <name> for a deployed stack.',
    );
  }
  return {
    sqs: new SQSClient(localClientConfig(local.endpoints.sqs)),
    pair: pickPair(queue, localQueuePairs(local.resources ?? {}), options.to),
  };
}

/** A resource of the local stack (`.local/stack.json`'s `resources`) by its construct id, whatever CDK's hash. */
export function localResource(
  resources: Readonly<Record<string, string>>,
  constructId: string,
): string | undefined {
  // Logical ids are the construct path plus CDK's 8-character hash: DeliveriesQueue99C7B338.
  const pattern = new RegExp(`^${constructId}[0-9A-F]{8}$`);
  return Object.entries(resources).find(([logicalId]) => pattern.test(logicalId))?.[1];
}

/** The queue pairs of the local stack, from its resources (logical id to queue URL). */
export function localQueuePairs(
  resources: Readonly<Record<string, string>>,
): Record<QueueName, QueuePair | undefined> {
  return mapQueues(({ construct }) => {
    const sourceUrl = localResource(resources, `${construct}Queue`);
    const deadLetterUrl = localResource(resources, `${construct}DeadLetterQueue`);
    return sourceUrl && deadLetterUrl ? { sourceUrl, deadLetterUrl } : undefined;
  });
}

/** The queue pairs of a deployed stack, from its outputs. */
export function deployedQueuePairs(
  outputs: Readonly<Record<string, string | undefined>>,
): Record<QueueName, QueuePair | undefined> {
  return mapQueues(({ construct }) => {
    const sourceUrl = outputs[`${construct}QueueUrl`];
    const deadLetterUrl = outputs[`${construct}DeadLetterQueueUrl`];
    return sourceUrl && deadLetterUrl ? { sourceUrl, deadLetterUrl } : undefined;
  });
}

function mapQueues(
  of: (names: (typeof QUEUES)[QueueName]) => QueuePair | undefined,
): Record<QueueName, QueuePair | undefined> {
  return Object.fromEntries(QUEUE_NAMES.map((name) => [name, of(QUEUES[name])])) as Record<
    QueueName,
    QueuePair | undefined
  >;
}

function pickPair(
  queue: string,
  pairs: Record<QueueName, QueuePair | undefined>,
  to: string | undefined,
): QueuePair {
  const known = Object.entries(pairs).flatMap(([name, pair]) => (pair ? [[name, pair] as const] : []));
  const names = known.map(([name]) => name).join(', ') || 'none';
  if (isUrl(queue)) {
    const match = known.find(([, pair]) => pair.sourceUrl === queue || pair.deadLetterUrl === queue);
    if (match) return match[1];
    if (to) return { sourceUrl: to, deadLetterUrl: queue };
    throw new TargetError(`${queue} is no queue of this pipeline (${names}): pass --to <source queue URL>.`);
  }
  // `deliveries`, `DeliveriesQueue`, `DeliveriesDeadLetterQueue`, `DeliveriesQueue99C7B338`...
  const key = queue
    .replace(/[0-9A-F]{8}$/, '')
    .replace(/(DeadLetter)?Queue$/i, '')
    .toLowerCase();
  const match = known.find(([name]) => name === key);
  if (!match) throw new TargetError(`Unknown queue "${queue}": this pipeline has ${names}.`);
  return match[1];
}

function isUrl(text: string): boolean {
  return /^https?:\/\//.test(text);
}
