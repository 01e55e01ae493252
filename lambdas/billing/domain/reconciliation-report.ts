import { type ChargeRecord, type ChargeRef, refOf } from './charges/charge';
import type { GatewayPaymentIntent } from './charges/gateway';

/**
 * Reconciliation of a run with the gateway (docs/api.md section 3). In 2018 customers noticed their duplicate
 * charges before the platform did: the claims and idempotency keys make a duplicate impossible by design, and this
 * is the proof, every day, from the other side. The gateway's PaymentIntents of the run's window that carry the
 * pipeline's metadata are set against the charges the pipeline recorded: two PaymentIntents that moved money for
 * one charge are a duplicate, one that moved money without a record naming it is an orphan, and a recorded payment
 * the gateway does not have is missing. Duplicates and orphans raise an alarm.
 */

/** Stripe statuses under which money moved or is moving (a bank debit still `processing` may yet settle). */
export const MONEY_MOVING_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'processing']);

/** The metadata keys the pipeline puts on every PaymentIntent (charges/gateway.ts `chargeMetadataOf`). */
export const PIPELINE_METADATA_KEYS = ['store_id', 'subscription_id', 'period', 'attempt'] as const;

/**
 * How far before the run's start (or its earliest claim) the window opens: Stripe's `created` is whole seconds of
 * Stripe's clock, ours is Lambda's. A wider margin costs nothing but a few PaymentIntents of an earlier run, which
 * are matched to their records and not counted.
 */
export const RECONCILIATION_WINDOW_MARGIN_MS = 5 * 60_000;

/** The lists kept in a stored report, each at most: a DynamoDB item is 400 KB at most. The counts stay exact. */
export const MAX_LISTED_FINDINGS = 500;

export type ReconciliationStatus = 'running' | 'completed';

/** Two or more PaymentIntents that moved money for one (store, subscription, period, attempt). */
export interface DuplicateCharge {
  readonly storeId: string;
  readonly subscriptionId: string;
  readonly period: string;
  readonly attempt: number;
  readonly paymentIntentIds: readonly string[];
  /** The PaymentIntent the charge's record names, if any (the others are the extra ones to refund). */
  readonly recordedPaymentIntentId?: string;
}

/**
 * Why a PaymentIntent that moved money is an orphan: its metadata does not name a whole charge; no charge has
 * that key; the charge's record names another PaymentIntent; or the record names none (or this one) but is not a
 * payment (failed, or pending in a run that says it has every answer).
 */
export type OrphanReason =
  | 'incomplete-metadata'
  | 'no-record'
  | 'other-payment-intent'
  | 'not-recorded-as-paid';

/** A PaymentIntent that moved money with nothing recorded for it. */
export interface OrphanPaymentIntent {
  readonly paymentIntentId: string;
  readonly storeId?: string;
  readonly subscriptionId?: string;
  readonly period?: string;
  readonly attempt?: number;
  readonly amount: number;
  readonly currency: string;
  /** The PaymentIntent's status at the gateway. */
  readonly status: string;
  readonly reason: OrphanReason;
  readonly recordedStatus?: string;
  readonly recordedPaymentIntentId?: string;
}

/** A payment the pipeline recorded that the gateway does not have, or shows as not having moved money. */
export interface MissingPaymentIntent {
  readonly storeId: string;
  readonly subscriptionId: string;
  readonly period: string;
  readonly attempt: number;
  readonly paymentIntentId: string;
  readonly recordedStatus: string;
  /** Absent: the gateway has no such PaymentIntent in the window. */
  readonly gatewayStatus?: string;
}

export interface ReconciliationReport {
  /** The run's UTC date, its id. */
  readonly date: string;
  readonly status: ReconciliationStatus;
  /** When this reconciliation was asked for (by the API, or by the schedule after the run's completion). */
  readonly requestedAt: string;
  /** PaymentIntents with the pipeline's metadata that moved money in the window: matched + duplicates' + orphans. */
  readonly gatewayPaymentIntents: number;
  /** The run's charges recorded as paid (`succeeded` or `processing`); a clean run has `matched` equal to it. */
  readonly recordedCharges: number;
  /** PaymentIntents that are exactly the recorded payment of one of the run's charges. */
  readonly matched: number;
  readonly duplicates: readonly DuplicateCharge[];
  readonly orphans: readonly OrphanPaymentIntent[];
  readonly missing: readonly MissingPaymentIntent[];
  /**
   * PaymentIntents of the window that are exactly the recorded payment of another run's charge (the window
   * overlaps the runs before and after it): correct, and not counted for this run.
   */
  readonly otherRuns: number;
  /** PaymentIntents whose charge, of another run, is still waiting for its answer: not an orphan yet. */
  readonly inFlight: number;
  /** The exact numbers of entries; a stored report lists at most MAX_LISTED_FINDINGS of each (`truncated`). */
  readonly counts: { readonly duplicates: number; readonly orphans: number; readonly missing: number };
  readonly truncated?: boolean;
  /** The creation times listed at the gateway, ISO: [from, to). */
  readonly window?: { readonly from: string; readonly to: string };
  readonly completedAt?: string;
}

/** What the reconciliation reads of a charge record. */
export type ReconciledCharge = Pick<
  ChargeRecord,
  'storeId' | 'subscriptionId' | 'period' | 'attempt' | 'runId' | 'status' | 'paymentIntentId'
>;

/** What the reconciliation reads of a PaymentIntent. */
export type ReconciledPaymentIntent = Pick<
  GatewayPaymentIntent,
  'id' | 'status' | 'amount' | 'currency' | 'metadata'
>;

/**
 * Sets the gateway's PaymentIntents of a run's window against the charges recorded. Pure.
 *
 * Every PaymentIntent that moved money and carries any of the pipeline's metadata keys ends up in exactly one of:
 * `matched` (the recorded payment of one of this run's charges), `otherRuns` (the recorded payment of another
 * run's charge), `inFlight` (its charge, of another run, still awaits its answer), a `duplicates` entry (with
 * every other PaymentIntent that moved money for the same charge, whichever run that charge is of), or `orphans`.
 * PaymentIntents without any of those keys belong to other integrations on the same account and are ignored.
 *
 * @param input.runCharges the run's charges (their `runId` is `date`), every status.
 * @param input.intents every PaymentIntent the gateway listed for the window, every status.
 * @param input.records the recorded charges the PaymentIntents' metadata point to, of any run (may repeat some of
 *   `runCharges`; a charge in both is read from `runCharges`).
 */
export function buildReconciliation(input: {
  readonly date: string;
  readonly requestedAt: string;
  readonly completedAt: string;
  readonly runCharges: readonly ReconciledCharge[];
  readonly intents: readonly ReconciledPaymentIntent[];
  readonly records: readonly ReconciledCharge[];
  readonly window?: { readonly from: string; readonly to: string };
}): ReconciliationReport {
  const recordOf = new Map<string, ReconciledCharge>();
  for (const record of input.records) recordOf.set(keyOf(record), record);
  // The run's own records win: they were read for this run, and a record is the same item either way.
  for (const record of input.runCharges) recordOf.set(keyOf(record), record);

  const intentById = new Map<string, ReconciledPaymentIntent>();
  for (const intent of input.intents) intentById.set(intent.id, intent);

  const orphans: OrphanPaymentIntent[] = [];
  const byCharge = new Map<string, { ref: ChargeRef; intents: ReconciledPaymentIntent[] }>();
  for (const intent of intentById.values()) {
    if (!MONEY_MOVING_STATUSES.has(intent.status) || !carriesPipelineMetadata(intent)) continue;
    const ref = chargeRefOfMetadata(intent.metadata);
    if (!ref) {
      orphans.push({
        ...partialRefOf(intent.metadata),
        ...intentFacts(intent),
        reason: 'incomplete-metadata',
      });
      continue;
    }
    const key = keyOf(ref);
    const group = byCharge.get(key) ?? { ref, intents: [] };
    group.intents.push(intent);
    byCharge.set(key, group);
  }

  const duplicates: DuplicateCharge[] = [];
  let matched = 0;
  let otherRuns = 0;
  let inFlight = 0;
  for (const [key, { ref, intents }] of byCharge) {
    const record = recordOf.get(key);
    const [intent] = intents;
    if (!intent) continue;
    if (intents.length > 1) {
      // Money moved twice for one charge, whoever recorded what: the extra ones are refunds to make.
      duplicates.push({
        ...ref,
        paymentIntentIds: intents.map((candidate) => candidate.id).sort(),
        ...(record?.paymentIntentId ? { recordedPaymentIntentId: record.paymentIntentId } : {}),
      });
      continue;
    }
    const ours = record?.runId === input.date;
    if (record && record.paymentIntentId === intent.id && MONEY_MOVING_STATUSES.has(record.status)) {
      if (ours) matched += 1;
      else otherRuns += 1;
      continue;
    }
    // A charge of another run that is still waiting for its gateway answer: the answer will name this one. This
    // run is completed, so a charge of its own is never waiting: one that is, with money moved, is an orphan.
    if (record && !ours && record.status === 'pending' && record.paymentIntentId === undefined) {
      inFlight += 1;
      continue;
    }
    orphans.push({
      ...ref,
      ...intentFacts(intent),
      reason: !record
        ? 'no-record'
        : record.paymentIntentId && record.paymentIntentId !== intent.id
          ? 'other-payment-intent'
          : 'not-recorded-as-paid',
      ...(record ? { recordedStatus: record.status } : {}),
      ...(record?.paymentIntentId ? { recordedPaymentIntentId: record.paymentIntentId } : {}),
    });
  }

  const missing: MissingPaymentIntent[] = [];
  let recordedCharges = 0;
  for (const charge of input.runCharges) {
    if (charge.runId !== input.date || !MONEY_MOVING_STATUSES.has(charge.status)) continue;
    recordedCharges += 1;
    // A paid charge always has its PaymentIntent id (charges/process.ts): one without is not checkable, and not missing.
    if (!charge.paymentIntentId) continue;
    const intent = intentById.get(charge.paymentIntentId);
    // A `processing` record whose debit has failed since is waiting for its poll, not missing.
    const moved = intent && (MONEY_MOVING_STATUSES.has(intent.status) || charge.status === 'processing');
    if (moved) continue;
    missing.push({
      ...refOf(charge),
      paymentIntentId: charge.paymentIntentId,
      recordedStatus: charge.status,
      ...(intent ? { gatewayStatus: intent.status } : {}),
    });
  }

  duplicates.sort(byRef);
  orphans.sort((a, b) => byRef(a, b) || a.paymentIntentId.localeCompare(b.paymentIntentId));
  missing.sort(byRef);
  const duplicatedIntents = duplicates.reduce((sum, entry) => sum + entry.paymentIntentIds.length, 0);
  return {
    date: input.date,
    status: 'completed',
    requestedAt: input.requestedAt,
    gatewayPaymentIntents: matched + duplicatedIntents + orphans.length,
    recordedCharges,
    matched,
    duplicates,
    orphans,
    missing,
    otherRuns,
    inFlight,
    counts: { duplicates: duplicates.length, orphans: orphans.length, missing: missing.length },
    ...(input.window ? { window: input.window } : {}),
    completedAt: input.completedAt,
  };
}

/** Whether the PaymentIntent carries any of the pipeline's metadata keys (else: another integration's). */
export function carriesPipelineMetadata(intent: Pick<GatewayPaymentIntent, 'metadata'>): boolean {
  return PIPELINE_METADATA_KEYS.some((key) => intent.metadata[key] !== undefined);
}

/** The charge a PaymentIntent's metadata names, or undefined when it does not name a whole one. */
export function chargeRefOfMetadata(metadata: Readonly<Record<string, string>>): ChargeRef | undefined {
  const { store_id: storeId, subscription_id: subscriptionId, period, attempt } = metadata;
  if (!storeId || !subscriptionId || !period || attempt === undefined || !/^\d{1,6}$/.test(attempt)) {
    return undefined;
  }
  return { storeId, subscriptionId, period, attempt: Number(attempt) };
}

/** The report as stored and shown: each list cut to MAX_LISTED_FINDINGS (the counts stay exact). */
export function forStorage(report: ReconciliationReport): ReconciliationReport {
  const cut = <T>(list: readonly T[]) => list.slice(0, MAX_LISTED_FINDINGS);
  const truncated = [report.duplicates, report.orphans, report.missing].some(
    (list) => list.length > MAX_LISTED_FINDINGS,
  );
  if (!truncated) return report;
  return {
    ...report,
    duplicates: cut(report.duplicates),
    orphans: cut(report.orphans),
    missing: cut(report.missing),
    truncated: true,
  };
}

/** The report of a reconciliation that has started and has no findings yet. */
export function runningReport(date: string, requestedAt: string): ReconciliationReport {
  return {
    date,
    status: 'running',
    requestedAt,
    gatewayPaymentIntents: 0,
    recordedCharges: 0,
    matched: 0,
    duplicates: [],
    orphans: [],
    missing: [],
    otherRuns: 0,
    inFlight: 0,
    counts: { duplicates: 0, orphans: 0, missing: 0 },
  };
}

/** A charge's identity as a map key: JSON, since the metadata of a stray PaymentIntent may hold any character. */
export function keyOf(ref: ChargeRef): string {
  return JSON.stringify([ref.storeId, ref.subscriptionId, ref.period, ref.attempt]);
}

function partialRefOf(metadata: Readonly<Record<string, string>>): Partial<ChargeRef> {
  const attempt = metadata.attempt !== undefined ? Number(metadata.attempt) : Number.NaN;
  return {
    ...(metadata.store_id ? { storeId: metadata.store_id } : {}),
    ...(metadata.subscription_id ? { subscriptionId: metadata.subscription_id } : {}),
    ...(metadata.period ? { period: metadata.period } : {}),
    ...(Number.isSafeInteger(attempt) && attempt >= 0 ? { attempt } : {}),
  };
}

function intentFacts(intent: ReconciledPaymentIntent) {
  return {
    paymentIntentId: intent.id,
    amount: intent.amount,
    currency: intent.currency.toUpperCase(),
    status: intent.status,
  };
}

function byRef(a: Partial<ChargeRef>, b: Partial<ChargeRef>): number {
  return (
    (a.storeId ?? '').localeCompare(b.storeId ?? '') ||
    (a.subscriptionId ?? '').localeCompare(b.subscriptionId ?? '') ||
    (a.period ?? '').localeCompare(b.period ?? '') ||
    (a.attempt ?? -1) - (b.attempt ?? -1)
  );
}
