import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { QUEUE_NAMES, type QueueName, type QueuePair } from '../../redrive';
import { describeError } from '../section';

/** SQS's three approximate counts of a queue. */
export interface QueueDepth {
  /** ApproximateNumberOfMessages: ready to be received. */
  readonly visible: number;
  /** ApproximateNumberOfMessagesNotVisible: received and neither deleted nor back yet. */
  readonly inFlight: number;
  /** ApproximateNumberOfMessagesDelayed: sent with a delay that has not passed. */
  readonly delayed: number;
}

export interface QueueState extends QueueDepth {
  readonly url: string;
  /** visible + inFlight + delayed. */
  readonly total: number;
  /** Age of the oldest message, in whole seconds; null when the queue is empty or the age is unknown. */
  readonly oldestAgeSeconds: number | null;
  /** Why the age is unknown although the queue has messages. */
  readonly oldestAgeUnknown?: string;
}

export interface QueueStatus {
  readonly name: QueueName;
  readonly queue: QueueState;
  readonly deadLetterQueue: QueueState;
}

/**
 * Reads the oldest message's age of each queue URL; a missing entry is an unknown age. SQS has no attribute for
 * it: it comes from the emulator's inspection (locally) or CloudWatch (in AWS).
 */
export interface OldestAgeReader {
  readonly source: 'fauxqs' | 'cloudwatch';
  read(queueUrls: readonly string[], now: number): Promise<OldestAges>;
}

export interface OldestAges {
  readonly seconds: ReadonlyMap<string, number>;
  /** Why ages are missing (shown beside an unknown age). */
  readonly unknownReason: string;
}

/** Where the queues are read from. */
export interface QueueSource {
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly pairs: Readonly<Record<QueueName, QueuePair | undefined>>;
  readonly ages: OldestAgeReader;
}

/** Every known queue of the pipeline and its dead-letter queue: their depths and oldest messages. */
export async function readQueues({ sqs, pairs, ages }: QueueSource, now: number): Promise<QueueStatus[]> {
  const known = QUEUE_NAMES.flatMap((name) => {
    const pair = pairs[name];
    return pair ? [{ name, pair }] : [];
  });
  if (known.length === 0) throw new Error('no queue of the pipeline was found');
  const urls = known.flatMap(({ pair }) => [pair.sourceUrl, pair.deadLetterUrl]);
  const [depths, oldest] = await Promise.all([
    Promise.all(urls.map((url) => readDepth(sqs, url))),
    ages
      .read(urls, now)
      .catch((error: Error): OldestAges => ({ seconds: new Map(), unknownReason: describeError(error) })),
  ]);
  const stateOf = (url: string): QueueState => {
    const depth = depths[urls.indexOf(url)] as QueueDepth;
    const total = depth.visible + depth.inFlight + depth.delayed;
    const age = oldest.seconds.get(url);
    // An empty queue has no oldest message, whatever a metric sampled a minute ago says.
    if (total === 0) return { url, ...depth, total, oldestAgeSeconds: null };
    if (age === undefined)
      return { url, ...depth, total, oldestAgeSeconds: null, oldestAgeUnknown: oldest.unknownReason };
    return { url, ...depth, total, oldestAgeSeconds: age };
  };
  return known.map(({ name, pair }) => ({
    name,
    queue: stateOf(pair.sourceUrl),
    deadLetterQueue: stateOf(pair.deadLetterUrl),
  }));
}

async function readDepth(sqs: Pick<SQSClient, 'send'>, queueUrl: string): Promise<QueueDepth> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/** The last segment of a queue URL: the queue's name. */
export function queueNameOf(queueUrl: string): string {
  return decodeURIComponent(new URL(queueUrl).pathname.split('/').filter(Boolean).pop() ?? '');
}
