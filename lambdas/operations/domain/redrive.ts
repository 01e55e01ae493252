import type { QueuePair } from './queues';

/**
 * Port: the queue operations a redrive needs (SQS in AWS and locally). `M` is a received message as the adapter
 * keeps it (body, attributes, receipt handle); the loop never looks inside.
 */
export interface RedriveQueues<M> {
  /** Up to 10 messages of `queueUrl`, hidden for `visibilityTimeoutSeconds` while they are moved. */
  receive(
    queueUrl: string,
    options: { readonly waitTimeSeconds: number; readonly visibilityTimeoutSeconds: number },
  ): Promise<readonly M[]>;
  /** Sends `messages` to `queueUrl` as they were received. @returns those that were sent. */
  send(queueUrl: string, messages: readonly M[]): Promise<readonly M[]>;
  /** Deletes `messages` (received from `queueUrl`). @returns how many were deleted. */
  delete(queueUrl: string, messages: readonly M[]): Promise<number>;
}

export interface RedriveOptions {
  /** Seconds each receive waits for a message. @default 1 - short: the DLQ is not being written to */
  readonly waitTimeSeconds?: number;
  /** How long a received message stays hidden while it is moved. @default 60 */
  readonly visibilityTimeoutSeconds?: number;
  /** Called after every batch with the number of messages moved so far. */
  readonly onProgress?: (moved: number) => void;
  /**
   * Starts no new batch after this many milliseconds (the batch under way finishes: a received message is always
   * sent or left to come back). @default - no limit: until the dead-letter queue reads empty
   */
  readonly budgetMs?: number;
  readonly now?: () => number;
}

export interface RedriveResult {
  readonly moved: number;
  /** Messages that could not be sent to the source queue; they stay on the DLQ. */
  readonly failed: number;
  /** `empty`: the DLQ read empty twice in a row; `budget`: the time budget ran out first (call again). */
  readonly stoppedBy: 'empty' | 'budget';
}

/**
 * Moves the messages of `pair.deadLetterUrl` back to `pair.sourceUrl`: receive a batch, send it to the source
 * queue with its body and message attributes (and, on FIFO queues, its group and deduplication ids), then delete
 * from the DLQ only what was sent. A message is never deleted before its copy is on the source queue, so a crash
 * midway duplicates at most one batch and loses none; deliveries are idempotent by design. Ends when the DLQ
 * reads empty twice in a row (SQS's receive samples servers: one empty answer does not mean an empty queue), or
 * when `budgetMs` has passed.
 */
export async function redrive<M>(
  queues: RedriveQueues<M>,
  pair: QueuePair,
  options: RedriveOptions = {},
): Promise<RedriveResult> {
  const now = options.now ?? Date.now;
  const deadline = options.budgetMs === undefined ? Number.POSITIVE_INFINITY : now() + options.budgetMs;
  let moved = 0;
  let failed = 0;
  let emptyReads = 0;
  while (emptyReads < 2) {
    if (now() >= deadline) return { moved, failed, stoppedBy: 'budget' };
    const messages = await queues.receive(pair.deadLetterUrl, {
      waitTimeSeconds: options.waitTimeSeconds ?? 1,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 60,
    });
    if (messages.length === 0) {
      emptyReads += 1;
      continue;
    }
    emptyReads = 0;
    const sent = await queues.send(pair.sourceUrl, messages);
    failed += messages.length - sent.length;
    // Not deleted: it is on both queues now, and comes back to this loop after its visibility timeout.
    if (sent.length > 0) moved += await queues.delete(pair.deadLetterUrl, sent);
    options.onProgress?.(moved);
  }
  return { moved, failed, stoppedBy: 'empty' };
}
