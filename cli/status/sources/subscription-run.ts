import { getRun, RunNotFoundError, type SubscriptionRun } from '../../subscription-runs';
import type { Target } from '../../target';

export interface RunSection {
  /** The run ids looked up, today's (UTC) first. */
  readonly looked: readonly string[];
  /** Today's run, else yesterday's; null when neither exists. */
  readonly run: SubscriptionRun | null;
  /** The API's answer as it came. */
  readonly raw?: unknown;
  /** Not completed and past its deadlineAt. */
  readonly pastDeadline: boolean;
}

/**
 * From the admin API: today's run (the UTC date), or yesterday's when today's does not exist (yet): a run that
 * started before midnight may still be running. Neither: no run.
 */
export async function readCurrentRun(target: Target, now: number): Promise<RunSection> {
  const today = new Date(now).toISOString().slice(0, 10);
  const yesterday = new Date(now - 86_400_000).toISOString().slice(0, 10);
  const looked: string[] = [];
  for (const runId of [today, yesterday]) {
    looked.push(runId);
    try {
      const { value, raw } = await getRun(target, runId);
      return { looked, run: value, raw, pastDeadline: isPastDeadline(value, now) };
    } catch (error) {
      if (!(error instanceof RunNotFoundError)) throw error;
    }
  }
  return { looked, run: null, pastDeadline: false };
}

/** Not completed, and its deadline has passed. */
export function isPastDeadline(run: SubscriptionRun, now: number): boolean {
  if (run.status === 'completed' || run.deadlineAt === undefined) return false;
  const deadline = Date.parse(run.deadlineAt);
  return Number.isFinite(deadline) && now > deadline;
}
