import type { RunMessage } from '../messages';
import { allDueShards } from '../subscription';
import { chargeMessageOf, claimAndSend, pageIdOf } from './claims';
import { announce, chargesOfRun, finish } from './finish';
import type { RunQueue, RunWorkDeps } from './ports';
import { progressPointsToLog } from './progress-log';
import { answeredOf, type ProgressSample, type RunCursor, type RunFence, type RunProgressPatch } from './run';
import { DEFAULT_RUN_SETTINGS } from './settings';
import { START_SWEEP, sweepPass, sweepPatch } from './sweep';
import { runView } from './view';

/** A run's step (run.ts explains runs): the holder's loop from enumeration to completion, and the run consumer. */

export type RunStepResult =
  /** Nothing more to do. */
  | 'completed'
  /** The run goes on: send the continuation. */
  | 'continue'
  /** Another holder has a live lease: this message joins it and ends. */
  | 'joined'
  /** This holder's lease was taken over meanwhile: it stops. */
  | 'fenced'
  | 'missing';

/**
 * One step of a run by the holder `message.owner`, until `deadline` (epoch ms). Enumerates due subscriptions page
 * by page (manifest, claims, checkpoint, messages, in that order, so a crash between any two repeats harmless
 * work), then waits for the charges' answers, sweeping for anything still owed, then completes. Every pass that
 * can be long (enumeration, a sweep of the due index) stops at the deadline and goes on from its cursor in the
 * next step, so a step never outlives its function.
 */
export async function workOnRun(
  deps: RunWorkDeps,
  message: RunMessage,
  deadline: number,
): Promise<RunStepResult> {
  const settings = { ...DEFAULT_RUN_SETTINGS, ...deps.settings };
  const existing = await deps.runs.get(message.runId);
  if (!existing) return 'missing';
  if (existing.status === 'completed' && existing.announced) return 'completed';
  let run = await deps.runs.acquireLease(message.runId, message.owner, deps.now(), settings.leaseMs);
  if (!run?.lease) return 'joined';
  const fence: RunFence = { runId: run.runId, owner: message.owner, version: run.lease.version };
  const shards = allDueShards();
  // Where enumeration got past empty pages since the last write: saved with the next one (a crash reads them again).
  let unsaved: Pick<RunProgressPatch, 'cursor' | 'enumerated'> = {};
  const save = async (patch: Omit<RunProgressPatch, 'leaseExpiresAt' | 'updatedAt'>) => {
    const now = deps.now();
    const saved = await deps.runs.saveProgress(fence, {
      ...unsaved,
      ...patch,
      leaseExpiresAt: now + settings.leaseMs,
      updatedAt: new Date(now).toISOString(),
    });
    unsaved = {};
    return saved;
  };

  while (deps.now() < deadline) {
    if (run.status === 'completed') return (await announce(deps, fence, run)) ? 'completed' : 'fenced';
    if (!run.enumerated) {
      const shard = shards[run.cursor.shard] as string;
      const page = await deps.due.page(shard, run.asOf, run.cursor.after, settings.pageSize);
      const pageId = `${run.cursor.shard}:${pageIdOf(run.cursor.after)}`;
      const cursor: RunCursor = page.next
        ? { shard: run.cursor.shard, after: page.next }
        : { shard: run.cursor.shard + 1 };
      const enumerated = cursor.shard >= shards.length;
      if (page.subscriptions.length === 0) {
        // Nothing to claim, so nothing to fence: the cursor moves on without a write of its own.
        unsaved = { cursor, enumerated };
        run = { ...run, cursor, enumerated };
        continue;
      }
      // The page's checkpoint is its claims' fence: saved after them and before their messages.
      const paged = await claimAndSend(deps, run, pageId, page.subscriptions, (claimed) =>
        save({ cursor, enumerated, claimed }),
      );
      if (!paged) return 'fenced';
      run = paged.run;
      continue;
    }
    const now = deps.now();
    const lastProgress = run.progressAt ?? Date.parse(run.startedAt);
    const stalled = now - Math.max(lastProgress, run.lastSweepAt ?? 0) >= settings.stallSweepMs;
    if (run.sweep) {
      // A sweep pass cut short by the previous step's deadline goes on where it stopped.
      const swept = await sweepPass(deps, run, run.sweep, settings.pageSize, deadline, () => save({}));
      if (!swept) return 'fenced';
      const saved = await save(sweepPatch(swept, now));
      if (!saved) return 'fenced';
      run = saved;
      if (!swept.done || swept.owed > 0) break;
      const charges = await chargesOfRun(deps, run);
      if (charges.some((charge) => charge.status === 'pending')) break;
      const finished = await finish(deps, fence, run, charges);
      if (!finished) return 'fenced';
      run = finished;
      continue;
    }
    // The stream's counters can lag the claims this holder made itself: wait for the larger of the two.
    if (answeredOf(run) < Math.max(run.total, run.claimed) && !stalled) break;
    const charges = await chargesOfRun(deps, run);
    const pending = charges.filter((charge) => charge.status === 'pending');
    if (pending.length > 0) {
      // Still on their way; after a stall, re-sent (a message that ended in a DLQ, an answer that never came).
      if (!stalled) break;
      await deps.chargeQueue.send(pending.map((charge) => chargeMessageOf(charge, charge.runId)));
      // The stall sweep reads the due index too: a subscription that became due after enumeration passed it is
      // claimed now, not held back for as long as one charge of the run goes unanswered (found by the chaos test).
      const swept = await sweepPass(deps, run, START_SWEEP, settings.pageSize, deadline, () => save({}));
      if (!swept) return 'fenced';
      const resent = await save(sweepPatch(swept, now));
      if (!resent) return 'fenced';
      run = resent;
      break;
    }
    // Everything claimed is answered. Anything still due at asOf and not held by another answer is owed by this
    // run: a subscription created due after enumeration passed it, or a resolved charge whose change has not
    // reached its subscription yet. Swept again at most every sweepIntervalMs while something is owed.
    const sweepAllowed =
      run.lastSweepOwed === undefined ||
      stalled ||
      (run.lastSweepOwed > 0 && now - (run.lastSweepAt ?? 0) >= settings.sweepIntervalMs);
    if (!sweepAllowed) break;
    const swept = await sweepPass(deps, run, START_SWEEP, settings.pageSize, deadline, () => save({}));
    if (!swept) return 'fenced';
    const afterSweep = await save(sweepPatch(swept, now));
    if (!afterSweep) return 'fenced';
    run = afterSweep;
    if (!swept.done || swept.owed > 0) break;
    const finished = await finish(deps, fence, run, charges);
    if (!finished) return 'fenced';
    run = finished;
  }

  // The heartbeat, with a progress sample for the moving rate.
  const now = deps.now();
  const done = answeredOf(run);
  const previous = run.samples[run.samples.length - 1];
  const samples = [...run.samples, { at: now, done }]
    .filter((sample) => sample.at >= now - 15 * 60_000)
    .slice(-30);
  const moved = !previous || previous.done !== done;
  // The chart's log: a point that cannot be written now is written by a later heartbeat (progressLoggedAt stays),
  // so a throttled log never fails the step that keeps the run going.
  const toLog = progressPointsToLog(run, now, done);
  const logged = toLog.length > 0 && (await logProgressPoints(deps, run.runId, toLog));
  const beat = await save({
    samples,
    ...(moved ? { progressAt: now } : {}),
    ...(logged ? { progressLogged: { at: now, done } } : {}),
  });
  if (!beat) return 'fenced';
  deps.onProgress?.(beat, runView(beat, now));
  return 'continue';
}

export interface RunConsumerDeps extends RunWorkDeps {
  readonly queue: RunQueue;
  /** Delay of a run's continuation while it waits for its charges. */
  readonly pollSeconds: number;
  /** Time kept back from a step for its checkpoint and continuation. */
  readonly stepMarginMs: number;
  /** The shortest step, however little time the function has left. @default 1000 */
  readonly minStepMs?: number;
}

/**
 * The run consumer (RunsQueue): one step message is worked until shortly before the function's timeout
 * (`remainingMs`), then continued by a delayed copy. The handler wraps this; the chaos test drives it.
 */
export async function consumeRunMessage(
  deps: RunConsumerDeps,
  message: RunMessage,
  remainingMs: number,
): Promise<RunStepResult> {
  const deadline = deps.now() + Math.max(deps.minStepMs ?? 1_000, remainingMs - deps.stepMarginMs);
  const result = await workOnRun(deps, message, deadline);
  if (result === 'continue') await deps.queue.send(message, deps.pollSeconds);
  return result;
}

async function logProgressPoints(
  deps: RunWorkDeps,
  runId: string,
  points: readonly ProgressSample[],
): Promise<boolean> {
  try {
    await deps.runs.logProgress(runId, points);
    return true;
  } catch {
    return false;
  }
}
