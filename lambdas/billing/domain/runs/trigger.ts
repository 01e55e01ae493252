import { runIdOf } from '../schedule';
import type { RunQueue, RunsRepository } from './ports';
import type { Run } from './run';
import { DEFAULT_RUN_SETTINGS, type RunSettings } from './settings';

/** Triggers of a run (the schedules and the admin API): one run per UTC date, created or joined. */

/** How long a run's first step message may take to be received before a trigger sends it again. */
const FIRST_STEP_GRACE_MS = 10_000;

/** Triggers may not charge ahead of time: an `asOf` this far in the future is refused. */
export const MAX_AS_OF_AHEAD_MS = 5 * 60_000;

export type TriggerOutcome = 'started' | 'joined' | 'resumed' | 'completed';

/**
 * Starts the run of `asOf`'s date, or joins it: a trigger for a run that is live or done starts no second pass.
 * A run whose lease has expired (its holder died) gets a step message, whose receiver takes the lease over and
 * resumes from the checkpoint.
 */
export async function triggerRun(
  deps: {
    readonly runs: RunsRepository;
    readonly queue: RunQueue;
    readonly now: () => number;
    readonly newOwner: () => string;
    readonly settings?: Partial<RunSettings>;
  },
  input: { readonly asOf?: string; readonly source: string },
): Promise<{ run: Run; outcome: TriggerOutcome }> {
  const settings = { ...DEFAULT_RUN_SETTINGS, ...deps.settings };
  const now = deps.now();
  const at = new Date(now).toISOString();
  const asOf = new Date(input.asOf ?? now).toISOString();
  const runId = runIdOf(asOf);
  // The run is created holding its first lease, for the owner of its first step message: a trigger that comes
  // before that message is processed finds the run live and joins it.
  const owner = deps.newOwner();
  const run: Run = {
    runId,
    asOf,
    status: 'running',
    startedAt: at,
    updatedAt: at,
    deadlineAt: new Date(Date.parse(asOf) + settings.deadlineMs).toISOString(),
    lease: { owner, version: 1, expiresAt: now + settings.leaseMs },
    cursor: { shard: 0 },
    enumerated: false,
    claimed: 0,
    total: 0,
    succeeded: 0,
    failed: 0,
    samples: [],
    triggers: 1,
    lastTrigger: { source: input.source, at },
  };
  const created = await deps.runs.create(run);
  if (created.created) {
    await deps.queue.send({ runId, owner });
    return { run, outcome: 'started' };
  }
  const existing = created.existing;
  await deps.runs.recordTrigger(runId, input.source, at);
  if (existing.status === 'completed') {
    // A completion whose announcement was cut short is finished by the next trigger.
    if (!existing.announced) await deps.queue.send({ runId, owner: deps.newOwner() });
    return { run: existing, outcome: 'completed' };
  }
  if (existing.lease && existing.lease.expiresAt > now) {
    // A lease no step has taken for a while (version 1 is the trigger's own) may belong to a first step message
    // whose send failed: send it again, for the same owner, rather than leave the run idle until the lease expires
    // and a later schedule fires. A copy that does arrive is fenced by the other (each acquisition is a version).
    if (existing.lease.version === 1 && now - Date.parse(existing.updatedAt) >= FIRST_STEP_GRACE_MS) {
      await deps.queue.send({ runId, owner: existing.lease.owner });
    }
    return { run: existing, outcome: 'joined' };
  }
  await deps.queue.send({ runId, owner: deps.newOwner() });
  return { run: existing, outcome: 'resumed' };
}
