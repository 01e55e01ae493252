import { createHash } from 'node:crypto';
import * as z from 'zod';
import { type EventsRepository, eventIdFor } from '../../events/domain/events';
import type { ChargeMessage } from './charge-consumer';
import {
  type ChargeRecord,
  type ChargesRepository,
  chargeRefFromString,
  chargeRefToString,
  claimFor,
  refOf,
} from './charges';
import { buildDatafeed } from './datafeed';
import { runIdOf } from './schedule';
import { allDueShards, type Subscription } from './subscription';

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
  readonly lastSweepAt?: number;
  readonly lastSweepOwed?: number;
  /** Added to the run's own claim count. */
  readonly claimed?: number;
  readonly leaseExpiresAt: number;
  readonly updatedAt: string;
}

/** Port: the runs table. */
export interface RunsRepository {
  create(run: Run): Promise<{ created: true } | { created: false; existing: Run }>;
  get(runId: string): Promise<Run | undefined>;
  /**
   * Renews the lease when `owner` holds it, takes it over when it is free or expired; either way under a new
   * version (+ 1), so that each step is its own holder and fences every earlier one, of its owner too.
   * @returns the run under the new lease, or undefined when another owner holds a live lease.
   */
  acquireLease(runId: string, owner: string, now: number, leaseMs: number): Promise<Run | undefined>;
  /** A fenced write. @returns the updated run, or undefined when the fence no longer holds. */
  saveProgress(fence: RunFence, patch: RunProgressPatch): Promise<Run | undefined>;
  /** Fenced: marks the run completed with its exact counts. */
  complete(
    fence: RunFence,
    result: {
      readonly total: number;
      readonly succeeded: number;
      readonly failed: number;
      readonly processing: number;
      readonly completedAt: string;
      readonly stores: readonly string[];
      readonly datafeedVersion?: number;
    },
  ): Promise<Run | undefined>;
  /** Fenced. */
  markAnnounced(fence: RunFence): Promise<boolean>;
  recordTrigger(runId: string, source: string, at: string): Promise<void>;
  /** Adds charge references to the run's manifest page `pageId` (a set union: repeating it adds nothing). */
  addToManifest(runId: string, pageId: string, refs: readonly string[]): Promise<void>;
  /** Every charge reference in the run's manifest. */
  manifest(runId: string): Promise<string[]>;
}

/** Port: the due index. */
export interface DueSubscriptions {
  /** Subscriptions of one due shard due at or before `asOf`, in due order, from after `cursor`. */
  page(
    shard: string,
    asOf: string,
    after: Readonly<Record<string, unknown>> | undefined,
    limit: number,
  ): Promise<{ subscriptions: Subscription[]; next?: Readonly<Record<string, unknown>> }>;
}

export type { ChargeMessage } from './charge-consumer';

export type RunMessage = z.infer<typeof runMessage>;

/** Port: the charges queue. */
export interface ChargeQueue {
  send(messages: readonly ChargeMessage[]): Promise<void>;
}

/** Port: the runs queue (a run's steps, and its continuation after a delay). */
export interface RunQueue {
  send(message: RunMessage, delaySeconds?: number): Promise<void>;
}

/** Port: where datafeeds are kept (S3), one object per lease version that wrote them (`Run.datafeedVersion`). */
export interface DatafeedStore {
  put(runId: string, storeId: string, xml: string, version?: number): Promise<void>;
  /** Undefined when the run wrote no datafeed for the store. */
  get(runId: string, storeId: string, version?: number): Promise<string | undefined>;
}

export interface RunSettings {
  /** How long a lease lasts without a heartbeat. */
  readonly leaseMs: number;
  /** How long after `asOf` the run should be complete (the missed-deadline alarm). */
  readonly deadlineMs: number;
  /** Due subscriptions read per page. */
  readonly pageSize: number;
  /**
   * After this long without a charge being resolved, the run sweeps the due index again and re-sends every charge
   * still owed (one whose message ended in a dead-letter queue, or whose gateway answer never came).
   */
  readonly stallSweepMs: number;
  /** Least time between two sweeps while something is still owed. */
  readonly sweepIntervalMs: number;
}

export const DEFAULT_RUN_SETTINGS: RunSettings = {
  leaseMs: 60_000,
  deadlineMs: 6 * 3_600_000,
  pageSize: 100,
  stallSweepMs: 5 * 60_000,
  sweepIntervalMs: 30_000,
};

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

export interface RunWorkDeps {
  readonly runs: RunsRepository;
  readonly due: DueSubscriptions;
  readonly charges: ChargesRepository;
  readonly chargeQueue: ChargeQueue;
  readonly datafeeds: DatafeedStore;
  readonly events: EventsRepository;
  readonly now: () => number;
  readonly settings?: Partial<RunSettings>;
  /** Called once per step with the run's progress (metrics). */
  readonly onProgress?: (run: Run, view: RunView) => void;
  /** Test hook: called at named points of a step, to crash a holder exactly there. */
  readonly checkpoint?: (point: RunStepPoint) => Promise<void> | void;
  /**
   * Called once the run is completed, before it is marked announced (so a crash calls it again): schedules the
   * run's reconciliation with the gateway. Must be safe to repeat.
   */
  readonly onCompleted?: (run: Run) => Promise<void>;
}

export type RunStepPoint = 'after-claims' | 'after-send' | 'after-datafeeds' | 'after-complete';

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
  const beat = await save({ samples, ...(moved ? { progressAt: now } : {}) });
  if (!beat) return 'fenced';
  deps.onProgress?.(beat, runView(beat, now));
  return 'continue';
}

/** Charges of the run that have an answer: final, or `processing`. */
function answeredOf(run: Run): number {
  return run.succeeded + run.failed + (run.processing ?? 0);
}

const START_SWEEP: SweepProgress = { cursor: { shard: 0 }, owed: 0 };

/** What a sweep pass leaves in the run: its progress while under way, its result once done. */
function sweepPatch(
  swept: SweepProgress & { readonly done: boolean; readonly claimed: number },
  now: number,
): Omit<RunProgressPatch, 'leaseExpiresAt' | 'updatedAt'> {
  return swept.done
    ? { sweep: null, lastSweepAt: now, lastSweepOwed: swept.owed, claimed: swept.claimed }
    : { sweep: { cursor: swept.cursor, owed: swept.owed }, claimed: swept.claimed };
}

/**
 * Records the page in the manifest, claims each due charge, saves the holder's fenced write `confirm` (the page's
 * checkpoint; in a sweep, a heartbeat when something was claimed), and sends a message for each charge that needs
 * one. @returns the run as saved, how many it claimed, and how many of the page's subscriptions are held by an
 * answer or by another run's unanswered charge (not owed by this run); undefined when the lease was taken over.
 *
 * The claims are plain conditional puts (1 write unit each), fenced as a page by that write: when it succeeds, the
 * lease was held all along (no successor can have started before it), so every claim of the page is one the run
 * and any successor see. When it fails, the holder stalled mid-page and a successor may have completed the run
 * without these claims: the holder withdraws the claims it has just made (while still pending and never asked) and
 * stops, having sent no message for them. A successor that found one first has sent it, and either it was asked
 * by then (it stays: `firstAskedAt` fences the withdrawal) or it is gone, still due, and claimed again under the same
 * key. A claim the holder could not withdraw (it crashed in between) is adopted by the next run that finds it
 * (`ownedClaim`). A crash after the checkpoint and before the messages leaves the page's charges pending, and the
 * run's stall sweep sends them. Fencing each claim instead, in a transaction with a check of the run item, would
 * cost 4 write units or more per claim (by the run item's size) instead of 1.
 */
async function claimAndSend(
  deps: RunWorkDeps,
  run: Run,
  pageId: string,
  subscriptions: readonly Subscription[],
  confirm: (claimed: number) => Promise<Run | undefined>,
): Promise<{ run: Run; claimed: number; held: number } | undefined> {
  const now = deps.now();
  const claims = subscriptions.map((subscription) => claimFor(subscription, run.runId, now));
  // The manifest first: a charge this run claims is listed before it exists, so the datafeed cannot miss it.
  await deps.runs.addToManifest(
    run.runId,
    pageId,
    claims.map((claim) => chargeRefToString(refOf(claim))),
  );
  const made: ChargeRecord[] = [];
  // Earlier runs whose pending claims the page meets, each read once (a stuck run may have many on one page).
  const earlierRuns = new Map<string, Promise<Run | undefined>>();
  const runOf = (runId: string) => {
    const read = earlierRuns.get(runId) ?? deps.runs.get(runId);
    earlierRuns.set(runId, read);
    return read;
  };
  const owed = await mapLimit(claims, 16, async (claim): Promise<ChargeRecord | undefined> => {
    const result = await deps.charges.claim(claim);
    if (result.claimed) {
      made.push(claim);
      return claim;
    }
    // Claimed before (by this run before a crash, or by an earlier run whose charge is still unanswered): a
    // resolved charge whose change did not reach the subscription is applied again by the charge consumer.
    return ownedClaim(deps, run, result.existing, runOf);
  });
  if (claims.length > 0) await deps.checkpoint?.('after-claims');
  const confirmed = await confirm(made.length);
  if (!confirmed) {
    await mapLimit(made, 16, (claim) => deps.charges.withdraw(refOf(claim), run.runId));
    return undefined;
  }
  if (claims.length > 0) {
    await deps.chargeQueue.send(
      owed.flatMap((charge) => (charge ? [chargeMessageOf(charge, run.runId)] : [])),
    );
    await deps.checkpoint?.('after-send');
  }
  // Held, not owed: a `processing` charge (an answer; polled until it settles), or another run's charge still
  // unanswered (sent again above, but never holding this run: that run waits for it, this one does not).
  const held = owed.filter(
    (charge) =>
      charge !== undefined &&
      (charge.status === 'processing' || (charge.status === 'pending' && charge.runId !== run.runId)),
  ).length;
  return { run: confirmed, claimed: made.length, held };
}

/** The message for one charge. */
function chargeMessageOf(charge: ChargeRecord, runId: string): ChargeMessage {
  return { ...refOf(charge), runId };
}

/**
 * An existing claim as this run sees it. A pending claim never asked, of a run that completed without it (left by
 * a holder that lost its lease and crashed before withdrawing it), is adopted: it becomes this run's, in its
 * manifest and datafeed. Any other stays its run's.
 */
async function ownedClaim(
  deps: RunWorkDeps,
  run: Run,
  existing: ChargeRecord,
  runOf: (runId: string) => Promise<Run | undefined>,
): Promise<ChargeRecord> {
  if (existing.status !== 'pending' || existing.runId === run.runId || existing.firstAskedAt) return existing;
  const earlier = await runOf(existing.runId);
  if (earlier && earlier.status !== 'completed') return existing;
  return (await deps.charges.adopt(refOf(existing), existing.runId, run.runId)) ?? existing;
}

/**
 * Reads the due shards from `from` on; claims and sends whatever is still due. Stops at `deadline`, done or not,
 * so that a sweep of a large run (a gateway outage leaves everything due) never outlives its step.
 * @returns where it got, what it found owed (the due subscriptions not held by an answer or by another run), and
 * how many it claimed; undefined when fenced.
 */
async function sweepPass(
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

/** The charges this run claimed, from its manifest. */
async function chargesOfRun(deps: RunWorkDeps, run: Run): Promise<ChargeRecord[]> {
  const refs = (await deps.runs.manifest(run.runId)).map(chargeRefFromString);
  return (await deps.charges.getMany(refs)).filter((charge) => charge.runId === run.runId);
}

/**
 * Completes the run once every charge it claimed is answered and nothing is due any more: the datafeeds first
 * (never before every charge is in), then the completion with exact counts; `datafeed.ready` follows.
 */
async function finish(
  deps: RunWorkDeps,
  fence: RunFence,
  run: Run,
  charges: readonly ChargeRecord[],
): Promise<Run | undefined> {
  const completedAt = new Date(deps.now()).toISOString();
  const stores = [...new Set(charges.map((charge) => charge.storeId))].sort();
  // Under this holder's version: the put is not fenced, so a holder that loses its lease right here and writes
  // late cannot overwrite the datafeeds of the one that completes (found by the chaos test); the completion, which
  // is fenced, names the version that counts.
  for (const storeId of stores) {
    await deps.datafeeds.put(
      run.runId,
      storeId,
      buildDatafeed({ runId: run.runId, storeId, generatedAt: completedAt, charges }),
      fence.version,
    );
  }
  await deps.checkpoint?.('after-datafeeds');
  const count = (status: ChargeRecord['status']) =>
    charges.filter((charge) => charge.status === status).length;
  const completed = await deps.runs.complete(fence, {
    total: charges.length,
    succeeded: count('succeeded'),
    failed: count('failed'),
    processing: count('processing'),
    completedAt,
    stores,
    datafeedVersion: fence.version,
  });
  if (completed) await deps.checkpoint?.('after-complete');
  return completed;
}
/** `datafeed.ready` for each store of the completed run, with ids fixed by (run, store): repeats store nothing. */
async function announce(deps: RunWorkDeps, fence: RunFence, run: Run): Promise<boolean> {
  const completedAt = run.completedAt ?? run.updatedAt;
  for (const storeId of run.stores ?? []) {
    await deps.events.put(
      {
        id: eventIdFor(Date.parse(completedAt), digest(`datafeed.ready:${run.runId}:${storeId}`)),
        type: 'datafeed.ready',
        createdAt: completedAt,
        storeId,
        data: {
          runId: run.runId,
          url: `/v1/datafeeds/subscriptions/${run.runId}`,
          contentType: 'application/xml',
          completedAt,
        },
      },
      'direct',
    );
  }
  await deps.onCompleted?.(run);
  return deps.runs.markAnnounced(fence);
}

/** A run's step message; the producers (triggers, continuations) and the consumer share this schema. */
export const runMessage = z.object({ runId: z.string().min(1), owner: z.string().min(1) });

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

export interface RunView {
  readonly runId: string;
  readonly status: RunStatus;
  readonly asOf: string;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  /** Answered `processing`, not settled yet: an answer for the run. */
  readonly processing: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly completedAt?: string;
  readonly deadlineAt: string;
  readonly ratePerMinute: number;
  /** Null while nothing is moving (no rate to extrapolate from). */
  readonly etaSeconds: number | null;
}

/** The shortest stretch of samples a moving rate is computed over. */
const MIN_RATE_WINDOW_MS = 30_000;

/** The run as the admin API shows it: counters, the moving rate (over about the last 5 minutes) and the ETA. */
export function runView(run: Run, now: number): RunView {
  const done = answeredOf(run);
  const pending = Math.max(0, run.total - done);
  let ratePerMinute = 0;
  if (run.status === 'completed') {
    const minutes = (Date.parse(run.completedAt ?? run.updatedAt) - Date.parse(run.startedAt)) / 60_000;
    ratePerMinute = minutes > 0 ? done / minutes : done;
  } else {
    const window = run.samples.filter((sample) => sample.at >= now - 5 * 60_000);
    const base = window[0] ?? run.samples[run.samples.length - 1];
    const started = Date.parse(run.startedAt);
    if (base && now - base.at >= MIN_RATE_WINDOW_MS) {
      ratePerMinute = Math.max(0, (done - base.done) / ((now - base.at) / 60_000));
    } else if (now - started >= 1_000) {
      // Too few seconds of samples for a moving rate (the run just began): the average since the start, which a
      // first burst of fast answers cannot blow up.
      ratePerMinute = done / (Math.max(now - started, MIN_RATE_WINDOW_MS) / 60_000);
    }
  }
  ratePerMinute = Math.round(ratePerMinute * 10) / 10;
  const etaSeconds =
    run.status === 'completed' ? 0 : ratePerMinute > 0 ? Math.ceil((pending / ratePerMinute) * 60) : null;
  return {
    runId: run.runId,
    status: run.status,
    asOf: run.asOf,
    total: run.total,
    succeeded: run.succeeded,
    failed: run.failed,
    pending,
    processing: run.processing ?? 0,
    startedAt: run.startedAt,
    updatedAt: run.updatedAt,
    ...(run.completedAt ? { completedAt: run.completedAt } : {}),
    deadlineAt: run.deadlineAt,
    ratePerMinute,
    etaSeconds,
  };
}

function pageIdOf(after: Readonly<Record<string, unknown>> | undefined): string {
  return after ? createHash('sha256').update(JSON.stringify(after)).digest('hex').slice(0, 16) : 'start';
}

export function digest(seed: string): Uint8Array {
  return createHash('sha256').update(seed).digest();
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
