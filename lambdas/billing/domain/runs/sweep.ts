import { allDueShards } from '../subscription';
import { claimAndSend, pageIdOf } from './claims';
import type { RunWorkDeps } from './ports';
import type { Run, RunProgressPatch, SweepProgress } from './run';

/** Sweeps of the due index: what a run still owes once enumeration is done, or after a stall. */

export const START_SWEEP: SweepProgress = { cursor: { shard: 0 }, owed: 0 };

/** What a sweep pass leaves in the run: its progress while under way, its result once done. */
export function sweepPatch(
  swept: SweepProgress & { readonly done: boolean; readonly claimed: number },
  now: number,
): Omit<RunProgressPatch, 'leaseExpiresAt' | 'updatedAt'> {
  return swept.done
    ? { sweep: null, lastSweepAt: now, lastSweepOwed: swept.owed, claimed: swept.claimed }
    : { sweep: { cursor: swept.cursor, owed: swept.owed }, claimed: swept.claimed };
}

/**
 * Reads the due shards from `from` on; claims and sends whatever is still due. Stops at `deadline`, done or not,
 * so that a sweep of a large run (a gateway outage leaves everything due) never outlives its step.
 * @returns where it got, what it found owed (the due subscriptions not held by an answer or by another run), and
 * how many it claimed; undefined when fenced.
 */
export async function sweepPass(
  deps: RunWorkDeps,
  run: Run,
  from: SweepProgress,
  pageSize: number,
  deadline: number,
  confirmLease: () => Promise<Run | undefined>,
): Promise<(SweepProgress & { done: boolean; claimed: number }) | undefined> {
  const shards = allDueShards();
  let { cursor, owed } = from;
  let claimed = 0;
  while (cursor.shard < shards.length) {
    if (deps.now() >= deadline) return { cursor, owed, claimed, done: false };
    const page = await deps.due.page(shards[cursor.shard] as string, run.asOf, cursor.after, pageSize);
    // Fenced by a heartbeat when the page made claims (nothing to fence otherwise).
    const paged = await claimAndSend(
      deps,
      run,
      `sweep-${cursor.shard}:${pageIdOf(cursor.after)}`,
      page.subscriptions,
      (made) => (made > 0 ? confirmLease() : Promise.resolve(run)),
    );
    if (!paged) return undefined;
    owed += page.subscriptions.length - paged.held;
    claimed += paged.claimed;
    cursor = page.next ? { shard: cursor.shard, after: page.next } : { shard: cursor.shard + 1 };
  }
  return { cursor, owed, claimed, done: true };
}
