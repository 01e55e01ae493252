/**
 * Subscription runs. A run charges every subscription due at its `asOf`, and is one per UTC date: the primary
 * schedule, the backup schedule and `POST /v1/admin/subscription-runs` all call `triggerRun`, which creates the
 * run or joins it. The work is done by whoever holds the run's lease (owner, version, expiry, heartbeat), one
 * bounded step per invocation, from a checkpoint: a holder that dies is taken over once its lease expires, and
 * its successor resumes at the checkpoint. Every write of a holder is conditional on its lease version (the
 * fence), so a holder that lost its lease cannot overwrite its successor's progress.
 *
 * Completion is decided by data, not by the clock: enumeration has covered every due shard, no subscription is
 * due at `asOf` any more, and every charge the run claimed is resolved. Only then are the datafeeds written and
 * the run marked completed; `datafeed.ready` follows.
 */

export type RunStatus = 'running' | 'completed';

export interface RunLease {
  readonly owner: string;
  readonly version: number;
  /** Epoch ms. */
  readonly expiresAt: number;
}

export interface RunCursor {
  /** Index into the due shards. */
  readonly shard: number;
  /** The due index's last evaluated key within that shard. */
  readonly after?: Readonly<Record<string, unknown>>;
}

export interface ProgressSample {
  /** Epoch ms. */
  readonly at: number;
  readonly done: number;
}

/** The runs table's run item. */
export interface Run {
  readonly runId: string;
  readonly asOf: string;
  readonly status: RunStatus;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly deadlineAt: string;
  readonly completedAt?: string;
  readonly lease?: RunLease;
  readonly cursor: RunCursor;
  readonly enumerated: boolean;
  /** Charges this run claimed, and how many of them are resolved (kept by the charges table's stream). */
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Charges answered `processing` and not settled yet (an answer for the run; absent on older runs: 0). */
  readonly processing?: number;
  /** Recent (time, resolved) points written by the lease holder: the moving rate. */
  readonly samples: readonly ProgressSample[];
  /** When the number of resolved charges last changed, epoch ms. */
  readonly progressAt?: number;
  /** The last point of the progress log (progress-log.ts) this run's steps wrote. */
  readonly progressLogged?: ProgressSample;
  readonly lastSweepAt?: number;
  /** Subscriptions the last sweep found still due (another sweep follows only while some are). */
  readonly lastSweepOwed?: number;
  /** A sweep pass under way: where it goes on, and what it has found owed so far (null: none). */
  readonly sweep?: SweepProgress | null;
  /** Claims this run's holders made themselves (the stream's `total` can lag behind them). */
  readonly claimed: number;
  /** Stores that have a datafeed in this run, once completed. */
  readonly stores?: readonly string[];
  /**
   * The lease version whose datafeeds are the run's, once completed: each holder writes its datafeeds under its
   * own version, so a holder that lost its lease cannot overwrite the completing holder's.
   */
  readonly datafeedVersion?: number;
  readonly announced?: boolean;
  readonly triggers: number;
  readonly lastTrigger?: { readonly source: string; readonly at: string };
}

/** A lease holder's identity for fenced writes. */
export interface RunFence {
  readonly runId: string;
  readonly owner: string;
  readonly version: number;
}

export interface SweepProgress {
  readonly cursor: RunCursor;
  readonly owed: number;
}

export interface RunProgressPatch {
  readonly sweep?: SweepProgress | null;
  readonly cursor?: RunCursor;
  readonly enumerated?: boolean;
  readonly samples?: readonly ProgressSample[];
  readonly progressAt?: number;
  readonly progressLogged?: ProgressSample;
  readonly lastSweepAt?: number;
  readonly lastSweepOwed?: number;
  /** Added to the run's own claim count. */
  readonly claimed?: number;
  readonly leaseExpiresAt: number;
  readonly updatedAt: string;
}

/** Charges of the run that have an answer: final, or `processing`. */
export function answeredOf(run: Run): number {
  return run.succeeded + run.failed + (run.processing ?? 0);
}
