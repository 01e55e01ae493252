/**
 * The pipeline's work queues as operators see them (`npx pipeline status`, `GET /v1/admin/queues`): each queue
 * and the dead-letter queue its redrive policy moves failed messages to, their depths and oldest messages.
 */

/** The work queues, by the name the CLI and the API take (`npx pipeline redrive <name>`, `/v1/admin/queues/{name}`). */
export const QUEUE_NAMES = ['deliveries', 'replays', 'charges', 'runs', 'notifications'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export function isQueueName(value: string): value is QueueName {
  return (QUEUE_NAMES as readonly string[]).includes(value);
}

/** A queue and the dead-letter queue its redrive policy moves failed messages to. */
export interface QueuePair {
  readonly sourceUrl: string;
  readonly deadLetterUrl: string;
}

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

/** Port: reads a queue's approximate counts (SQS GetQueueAttributes). */
export interface QueueDepthReader {
  depth(queueUrl: string): Promise<QueueDepth>;
}

/**
 * Port: reads the oldest message's age of each queue URL; a missing entry is an unknown age. SQS has no attribute
 * for it: it comes from the emulator's inspection (locally) or CloudWatch (in AWS).
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
export interface QueueSources {
  readonly depths: QueueDepthReader;
  readonly pairs: Readonly<Partial<Record<QueueName, QueuePair | undefined>>>;
  readonly ages: OldestAgeReader;
}

/**
 * Every known queue of the pipeline and its dead-letter queue: their depths and oldest messages. An age reader
 * that fails leaves the ages unknown (with its reason); a depth that cannot be read fails the whole answer.
 * @throws when no queue is known
 */
export async function readQueues({ depths, pairs, ages }: QueueSources, now: number): Promise<QueueStatus[]> {
  const known = QUEUE_NAMES.flatMap((name) => {
    const pair = pairs[name];
    return pair ? [{ name, pair }] : [];
  });
  if (known.length === 0) throw new Error('no queue of the pipeline was found');
  const urls = known.flatMap(({ pair }) => [pair.sourceUrl, pair.deadLetterUrl]);
  const [depthList, oldest] = await Promise.all([
    Promise.all(urls.map((url) => depths.depth(url))),
    ages
      .read(urls, now)
      .catch((error: Error): OldestAges => ({ seconds: new Map(), unknownReason: describeError(error) })),
  ]);
  const stateOf = (url: string): QueueState => {
    const depth = depthList[urls.indexOf(url)] as QueueDepth;
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

/** The last segment of a queue URL: the queue's name. */
export function queueNameOf(queueUrl: string): string {
  return decodeURIComponent(new URL(queueUrl).pathname.split('/').filter(Boolean).pop() ?? '');
}

/** An error as one line: fetch's socket error (its `cause`), or the SDK's error name and message. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause) return `${error.message} (${cause.code ?? cause.message})`;
  return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
}
