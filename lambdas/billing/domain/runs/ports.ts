import type { EventsRepository } from '../../../events/domain/events';
import type { ChargesRepository } from '../charges/ports';
import type { DatafeedSubscriptions } from '../datafeed';
import type { ChargeMessage, RunMessage } from '../messages';
import type { Subscription } from '../subscription';
import type { SubscriptionsRepository } from '../subscriptions-repository';
import type { ProgressSample, Run, RunFence, RunProgressPatch } from './run';
import type { RunSettings } from './settings';
import type { RunView } from './view';

/** The ports of a run: its tables, queues and datafeed store, and what a step is given to work with. */

/** Port: the runs table. */
export interface RunsRepository {
  create(run: Run): Promise<{ created: true } | { created: false; existing: Run }>;
  get(runId: string): Promise<Run | undefined>;
  /** The runs of these ids that exist, in no particular order (read by key, strongly consistent). */
  getMany(runIds: readonly string[]): Promise<Run[]>;
  /**
   * Renews the lease when `owner` holds it, takes it over when it is free or expired; either way under a new
   * version (+ 1), so that each step is its own holder and fences every earlier one, of its owner too.
   * @returns the run under the new lease, or undefined when another owner holds a live lease.
   */
  acquireLease(runId: string, owner: string, now: number, leaseMs: number): Promise<Run | undefined>;
  /** A fenced write. @returns the updated run, or undefined when the fence no longer holds. */
  saveProgress(fence: RunFence, patch: RunProgressPatch): Promise<Run | undefined>;
  /** Fenced: marks the run completed with its exact counts. */
  complete(fence: RunFence, result: RunCompletion): Promise<Run | undefined>;
  /** Fenced. */
  markAnnounced(fence: RunFence): Promise<boolean>;
  recordTrigger(runId: string, source: string, at: string): Promise<void>;
  /** Adds charge references to the run's manifest page `pageId` (a set union: repeating it adds nothing). */
  addToManifest(runId: string, pageId: string, refs: readonly string[]): Promise<void>;
  /** Every charge reference in the run's manifest. */
  manifest(runId: string): Promise<string[]>;
  /** Appends points to the run's progress log (progress-log.ts); not fenced: every point is a true reading. */
  logProgress(runId: string, points: readonly ProgressSample[]): Promise<void>;
  /** The run's progress log, as written (possibly out of order). */
  progressLog(runId: string): Promise<ProgressSample[]>;
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

export interface RunWorkDeps {
  readonly runs: RunsRepository;
  readonly due: DueSubscriptions;
  /** The due subscriptions a run settles instead of charging (claims.ts `settleDue`). */
  readonly subscriptions: Pick<SubscriptionsRepository, 'replace'>;
  /** DUNNING_FINAL_ACTION, taken when a hard decline's wait runs out. @default 'cancel' */
  readonly dunningFinalAction?: 'cancel' | 'unpaid';
  readonly charges: ChargesRepository;
  readonly chargeQueue: ChargeQueue;
  readonly datafeeds: DatafeedStore;
  /**
   * The subscriptions the datafeeds show (their state, `<canceled_today>`, `<ending_soon>`). Absent: each
   * `<subscription>` carries its id and charges only, and the two lists are empty.
   */
  readonly datafeedSubscriptions?: DatafeedSubscriptions;
  /** The customer's manage link of a subscription, for the datafeeds' `<manage_url>`; absent: none written. */
  readonly manageUrlOf?: (storeId: string, subscriptionId: string) => string;
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

/** A completed run's exact counts, what it wrote, and under which lease version (`RunsRepository.complete`). */
export interface RunCompletion {
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly processing: number;
  readonly completedAt: string;
  readonly stores: readonly string[];
  readonly datafeedVersion?: number;
}
