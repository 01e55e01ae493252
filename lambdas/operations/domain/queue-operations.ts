import {
  type OldestAgeReader,
  type QueueDepthReader,
  type QueueName,
  type QueuePair,
  type QueueState,
  readQueues,
} from './queues';
import { type RedriveQueues, redrive } from './redrive';

/** What the admin API's queue routes work with: the queue pairs by name, their readers, and the redrive's queues. */
export interface QueueOperations {
  /** The pipeline's queue pairs; a deployment without one (notifications) leaves it out. */
  readonly pairs: Readonly<Partial<Record<QueueName, QueuePair>>>;
  readonly depths: QueueDepthReader;
  readonly ages: OldestAgeReader;
  /** The messages are the adapter's own: the loop never looks inside. */
  readonly redrive: RedriveQueues<unknown>;
  /** How long one redrive request moves messages before it answers. @default REDRIVE_BUDGET_MS */
  readonly redriveBudgetMs?: number;
}

/**
 * One redrive request moves messages for this long at most, then answers with what is left: well inside API
 * Gateway's 29 s integration timeout (a receive waits up to 1 s more, and the batch under way finishes).
 */
export const REDRIVE_BUDGET_MS = 5_000;

/** A queue as `GET /v1/admin/queues` shows it (docs/api.md section 3). */
export interface QueueOverview {
  readonly name: QueueName;
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
  /** Absent when the queue is empty or the age is unknown. */
  readonly oldestAgeSeconds?: number;
  /** The dead-letter queue's messages: visible + in flight + delayed. */
  readonly deadLetters: number;
  readonly deadLetterOldestAgeSeconds?: number;
}

/** Every known work queue with its depths, its oldest message's age and its dead letters. */
export async function queueOverview(operations: QueueOperations, now: number): Promise<QueueOverview[]> {
  const statuses = await readQueues(operations, now);
  const age = (state: QueueState) => state.oldestAgeSeconds ?? undefined;
  return statuses.map(({ name, queue, deadLetterQueue }) => {
    const oldest = age(queue);
    const deadLetterOldest = age(deadLetterQueue);
    return {
      name,
      visible: queue.visible,
      inFlight: queue.inFlight,
      delayed: queue.delayed,
      ...(oldest !== undefined ? { oldestAgeSeconds: oldest } : {}),
      deadLetters: deadLetterQueue.total,
      ...(deadLetterOldest !== undefined ? { deadLetterOldestAgeSeconds: deadLetterOldest } : {}),
    };
  });
}

/**
 * Moves the dead letters of `name` back to its queue for at most the redrive budget. @returns what was moved and
 * the dead-letter queue's approximate visible count after (call again while it is not 0), or undefined when the
 * pipeline has no such queue.
 */
export async function redriveQueue(
  operations: QueueOperations,
  name: QueueName,
  options: { readonly now?: () => number } = {},
): Promise<{ moved: number; remaining: number } | undefined> {
  const pair = operations.pairs[name];
  if (!pair) return undefined;
  const { moved } = await redrive(operations.redrive, pair, {
    budgetMs: operations.redriveBudgetMs ?? REDRIVE_BUDGET_MS,
    ...(options.now ? { now: options.now } : {}),
  });
  const remaining = (await operations.depths.depth(pair.deadLetterUrl)).visible;
  return { moved, remaining };
}
