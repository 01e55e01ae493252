import { arrivedEarly, delaySecondsUntil } from '../../platform/delayed-messages';
import { type ChargeRef, chargeRefFromString } from './charges/charge';
import type { GatewayPaymentIntent, PaymentIntentLedger } from './charges/gateway';
import type { ChargesRepository } from './charges/ports';
import type { ReconcileMessage } from './messages';
import {
  buildReconciliation,
  chargeRefOfMetadata,
  forStorage,
  keyOf,
  MONEY_MOVING_STATUSES,
  RECONCILIATION_WINDOW_MARGIN_MS,
  type ReconciliationReport,
  runningReport,
} from './reconciliation-report';
import type { RunsRepository } from './runs/ports';
import type { Run } from './runs/run';

/**
 * The reconciliation of a run with the gateway (the report: reconciliation-report.ts): asked for by the API or
 * scheduled at the run's completion, carried by the runs queue, and computed from the run's charges and the
 * gateway's PaymentIntents of its window.
 */

/** Port: the reports, kept beside the run they reconcile (runs table, `sk = reconciliation`). */
export interface ReconciliationReports {
  /** Writes the date's report, replacing any earlier one. */
  put(report: ReconciliationReport): Promise<void>;
  get(date: string): Promise<ReconciliationReport | undefined>;
  /** The reports of these dates that exist, in no particular order (read by key, strongly consistent). */
  getMany(dates: readonly string[]): Promise<ReconciliationReport[]>;
}

/** Port: the runs queue, for reconcile messages. `delaySeconds` is SQS's, at most 900. */
export interface ReconciliationQueue {
  send(message: ReconcileMessage, delaySeconds: number): Promise<void>;
}

export type ReconciliationRequestOutcome =
  | { readonly kind: 'accepted'; readonly report: ReconciliationReport }
  | { readonly kind: 'no-run' }
  /** A run still charging has charges whose answers are on their way: they would all look like orphans. */
  | { readonly kind: 'run-not-completed'; readonly run: Run };

/**
 * Starts the reconciliation of the run of `date`, now: the report turns `running` and a reconcile message goes to
 * the runs queue. A repeat starts it again (it recomputes and replaces the report).
 */
export async function requestReconciliation(
  deps: {
    readonly runs: Pick<RunsRepository, 'get'>;
    readonly reports: ReconciliationReports;
    readonly queue: ReconciliationQueue;
    readonly now: () => number;
  },
  date: string,
): Promise<ReconciliationRequestOutcome> {
  const run = await deps.runs.get(date);
  if (!run) return { kind: 'no-run' };
  if (run.status !== 'completed') return { kind: 'run-not-completed', run };
  const report = runningReport(date, new Date(deps.now()).toISOString());
  // The report first: a message that overtakes it still finds the run, and its completed report replaces this one.
  await deps.reports.put(report);
  await deps.queue.send({ kind: 'reconcile', date }, 0);
  return { kind: 'accepted', report };
}

/**
 * For the run's completion: reconciles it RECONCILE_AFTER later, when the last webhooks and polls have settled and
 * a PaymentIntent made late by a misbehaving copy would have shown up. Sends the delayed message (chained past
 * SQS's 15 minutes, see `processReconcileMessage`). Sending it twice reconciles twice, which is harmless.
 */
export async function scheduleReconciliation(
  deps: { readonly queue: ReconciliationQueue; readonly now: () => number },
  run: Pick<Run, 'runId' | 'completedAt'>,
  reconcileAfterMs: number,
): Promise<ReconcileMessage> {
  const now = deps.now();
  const completedAt = run.completedAt ? Date.parse(run.completedAt) : now;
  const message: ReconcileMessage = {
    kind: 'reconcile',
    date: run.runId,
    notBefore: completedAt + reconcileAfterMs,
  };
  await deps.queue.send(message, delaySecondsUntil(message.notBefore ?? now, now));
  return message;
}

export interface ReconcileDeps {
  readonly runs: Pick<RunsRepository, 'get' | 'manifest'>;
  readonly charges: Pick<ChargesRepository, 'getMany'>;
  readonly ledger: PaymentIntentLedger;
  readonly reports: ReconciliationReports;
  readonly queue: ReconciliationQueue;
  readonly now: () => number;
  /** Called with each completed report, its lists whole (the metrics). */
  readonly onReport?: (report: ReconciliationReport) => void;
  /** @default RECONCILIATION_WINDOW_MARGIN_MS */
  readonly windowMarginMs?: number;
}

export type ReconcileResult =
  | { readonly kind: 'completed'; readonly report: ReconciliationReport }
  /** Not due yet: sent again with the delay that remains. */
  | { readonly kind: 'deferred'; readonly notBefore: number }
  | { readonly kind: 'no-run' }
  | { readonly kind: 'run-not-completed' };

/** A reconcile message from the runs queue: sent on while not due (chaining), then reconciled. */
export async function processReconcileMessage(
  deps: ReconcileDeps,
  message: ReconcileMessage,
): Promise<ReconcileResult> {
  const now = deps.now();
  if (arrivedEarly(message.notBefore, now)) {
    await deps.queue.send(message, delaySecondsUntil(message.notBefore, now));
    return { kind: 'deferred', notBefore: message.notBefore };
  }
  return reconcile(deps, message.date);
}

/**
 * Reconciles the run of `date` now: its charges (manifest, then the records that are still this run's), the
 * gateway's PaymentIntents from shortly before the run's start (or its earliest claim, for a charge it adopted)
 * until now, and the records those PaymentIntents point to. Stores the report (replacing any earlier one) and
 * reports it. Safe to repeat: it reads, then overwrites one item.
 */
export async function reconcile(deps: ReconcileDeps, date: string): Promise<ReconcileResult> {
  const run = await deps.runs.get(date);
  if (!run) return { kind: 'no-run' };
  if (run.status !== 'completed') return { kind: 'run-not-completed' };
  const startedAt = deps.now();
  const existing = await deps.reports.get(date);
  const requestedAt =
    existing?.status === 'running' ? existing.requestedAt : new Date(startedAt).toISOString();
  if (existing?.status !== 'running') await deps.reports.put(runningReport(date, requestedAt));

  const refs = (await deps.runs.manifest(date)).map(chargeRefFromString);
  // A manifest lists what the run enumerated; a charge adopted later by another run is that run's.
  const runCharges = (await deps.charges.getMany(refs)).filter((charge) => charge.runId === date);
  const margin = deps.windowMarginMs ?? RECONCILIATION_WINDOW_MARGIN_MS;
  // Not Math.min(...spread): a day's charges are more arguments than a call takes.
  const earliest = runCharges.reduce((min, charge) => {
    const claimedAt = Date.parse(charge.claimedAt);
    return Number.isFinite(claimedAt) ? Math.min(min, claimedAt) : min;
  }, Date.parse(run.startedAt));
  const fromMs = earliest - margin;
  // `created` is whole seconds: the current second is in.
  const toMs = startedAt + 1_000;
  const intents: GatewayPaymentIntent[] = [];
  for await (const intent of deps.ledger.list({ fromMs, toMs })) intents.push(intent);

  const known = new Set(runCharges.map(keyOf));
  const pointed = new Map<string, ChargeRef>();
  for (const intent of intents) {
    if (!MONEY_MOVING_STATUSES.has(intent.status)) continue;
    const ref = chargeRefOfMetadata(intent.metadata);
    if (ref && !known.has(keyOf(ref))) pointed.set(keyOf(ref), ref);
  }
  const records = pointed.size > 0 ? await deps.charges.getMany([...pointed.values()]) : [];

  const report = buildReconciliation({
    date,
    requestedAt,
    completedAt: new Date(deps.now()).toISOString(),
    runCharges,
    intents,
    records,
    window: { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() },
  });
  await deps.reports.put(forStorage(report));
  deps.onReport?.(report);
  return { kind: 'completed', report };
}
