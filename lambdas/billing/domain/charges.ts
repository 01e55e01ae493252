import { createHash } from 'node:crypto';
import { eventIdFor } from '../../events/domain/events';
import {
  afterDecline,
  afterSuccess,
  type DunningPolicy,
  type Subscription,
  type SubscriptionChange,
} from './subscription';

/**
 * Charges: exactly once per (subscription, period, attempt), enforced twice. The run claims each charge with a
 * conditional write before any message about it exists; the charge then goes to the gateway with an
 * Idempotency-Key derived from the claim's key alone, the same on every retry, in every run and in the backup
 * run, so a request that timed out is asked again and answered with its first outcome.
 */

/**
 * `pending`: claimed, no answer yet. `processing`: the gateway took it and answers later (a bank debit); it is an
 * answer for the run, and is looked up every PAYMENT_PROCESSING_POLL until it settles. `succeeded` / `failed`: final.
 */
export type ChargeStatus = 'pending' | 'processing' | 'succeeded' | 'failed';

/** The charges table's item, exactly. One per (subscription, period, attempt). */
export interface ChargeRecord {
  readonly subscriptionKey: string;
  readonly chargeKey: string;
  readonly storeId: string;
  readonly subscriptionId: string;
  readonly period: string;
  readonly attempt: number;
  /** The subscription's cycle this charge is for (the period names it for people; the cycle for the code). */
  readonly cycle: number;
  /** What is charged, fixed at the claim: every retry sends the same parameters with the same key. */
  readonly amount: number;
  readonly currency: string;
  readonly paymentMethod: string;
  readonly customer: { readonly id: string; readonly email: string };
  readonly plan: string;
  readonly interval: Subscription['interval'];
  readonly intervalCount: number;
  /** The run that claimed it (or adopted it, see `adoptedFrom`). */
  readonly runId: string;
  /** The run that claimed it, when a later run adopted it (a claim its run completed without). */
  readonly adoptedFrom?: string;
  /** The Idempotency-Key in use: `idempotencyKeyOf(ref, keyGeneration)`. */
  readonly idempotencyKey: string;
  /** 0 for the charge's first key; n once it was asked under a new key n times (a pruned or 5xx-stored key). */
  readonly keyGeneration?: number;
  /**
   * When the current key was first sent to the gateway: written just before that first ask, under the condition
   * that the claim is still pending. From then on the claim can no longer be withdrawn or released (money may
   * move), and its age tells when Stripe may have pruned the key (24 h).
   */
  readonly firstAskedAt?: string;
  /**
   * When the gateway was last asked (each ask writes it just before it is sent). A search that finds nothing is
   * believed only `searchSettleMs` after it: by then every ask made so far has ended (a charge function cannot
   * outlive its timeout) and what it created is findable.
   */
  readonly lastAskedAt?: string;
  /** How many times the current key was written down as asked: 1 means only one process ever meant to ask. */
  readonly asks?: number;
  /**
   * When the gateway was first seen replaying a stored 5xx for the current key. Such a key can never tell more,
   * nor create anything until Stripe prunes it: it is not asked again, and the charge is reconciled by search.
   */
  readonly serverErrorAt?: string;
  readonly status: ChargeStatus;
  readonly claimedAt: string;
  /** When the gateway answered `processing`, and the id of the `subscription.payment_processing` event. */
  readonly processingSince?: string;
  readonly processingEventId?: string;
  readonly resolvedAt?: string;
  readonly paymentIntentId?: string;
  readonly declineCode?: string;
  readonly failureMessage?: string;
  /** What the outcome does to the subscription, decided at resolution; absent if the subscription had ended. */
  readonly change?: SubscriptionChange;
  /** The id of the event that announces the outcome. */
  readonly eventId?: string;
}

/** Identifies one charge: a claim key. */
export interface ChargeRef {
  readonly storeId: string;
  readonly subscriptionId: string;
  readonly period: string;
  readonly attempt: number;
}

export function subscriptionKeyOf(storeId: string, subscriptionId: string): string {
  return `${storeId}#${subscriptionId}`;
}

export function chargeKeyOf(period: string, attempt: number): string {
  return `${period}#${String(attempt).padStart(2, '0')}`;
}

/**
 * The Idempotency-Key of a charge at the gateway: a function of the claim's key and of how many times the charge
 * had to be asked under a new key (0 for its first; CONTRACT.md section 5), so that every process derives the
 * same one.
 */
export function idempotencyKeyOf(ref: ChargeRef, generation = 0): string {
  const base = `charge:${ref.storeId}:${ref.subscriptionId}:${ref.period}:${ref.attempt}`;
  return generation === 0 ? base : `${base}:k${generation}`;
}

/** A charge reference as one string (run manifests hold these). */
export function chargeRefToString(ref: ChargeRef): string {
  return `${subscriptionKeyOf(ref.storeId, ref.subscriptionId)}|${chargeKeyOf(ref.period, ref.attempt)}`;
}

export function chargeRefFromString(text: string): ChargeRef {
  const [subscriptionKey = '', chargeKey = ''] = text.split('|');
  const split = subscriptionKey.indexOf('#');
  const [period = '', attempt = ''] = chargeKey.split('#');
  return {
    storeId: subscriptionKey.slice(0, split),
    subscriptionId: subscriptionKey.slice(split + 1),
    period,
    attempt: Number(attempt),
  };
}

export function refOf(
  charge: Pick<ChargeRecord, 'storeId' | 'subscriptionId' | 'period' | 'attempt'>,
): ChargeRef {
  return {
    storeId: charge.storeId,
    subscriptionId: charge.subscriptionId,
    period: charge.period,
    attempt: charge.attempt,
  };
}

/** The claim of the charge a due subscription owes now. */
export function claimFor(subscription: Subscription, runId: string, now: number): ChargeRecord {
  const ref: ChargeRef = {
    storeId: subscription.storeId,
    subscriptionId: subscription.subscriptionId,
    period: subscription.nextChargeAt.slice(0, 10),
    attempt: subscription.attempt,
  };
  return {
    subscriptionKey: subscriptionKeyOf(ref.storeId, ref.subscriptionId),
    chargeKey: chargeKeyOf(ref.period, ref.attempt),
    ...ref,
    cycle: subscription.cycle,
    amount: subscription.amount,
    currency: subscription.currency,
    paymentMethod: subscription.paymentMethod,
    customer: subscription.customer,
    plan: subscription.plan,
    interval: subscription.interval,
    intervalCount: subscription.intervalCount,
    runId,
    idempotencyKey: idempotencyKeyOf(ref),
    status: 'pending',
    claimedAt: new Date(now).toISOString(),
  };
}

/** The metadata every PaymentIntent of the pipeline carries (CONTRACT.md section 5): how a charge is found again. */
export interface ChargeMetadata {
  readonly store_id: string;
  readonly subscription_id: string;
  readonly period: string;
  readonly attempt: string;
}

export function chargeMetadataOf(ref: ChargeRef): ChargeMetadata {
  return {
    store_id: ref.storeId,
    subscription_id: ref.subscriptionId,
    period: ref.period,
    attempt: String(ref.attempt),
  };
}

/** A PaymentIntent as the gateway shows it, reduced to what the pipeline reads. */
export interface GatewayPaymentIntent {
  readonly id: string;
  /** Stripe's status: `succeeded`, `processing`, `requires_payment_method` (declined), or another. */
  readonly status: string;
  readonly amount: number;
  readonly currency: string;
  /** Unix seconds, as Stripe gives it. */
  readonly created: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** `last_payment_error`'s decline code (or code) and message, for a declined one. */
  readonly declineCode?: string;
  readonly failureMessage?: string;
}

/** What the gateway said about one charge. */
export type GatewayOutcome =
  | { readonly kind: 'succeeded'; readonly paymentIntentId: string }
  /** Taken, answered later (a bank debit): looked up by id until it settles. */
  | { readonly kind: 'processing'; readonly paymentIntentId: string }
  /** A definite no (card declined, or the request itself refused): the attempt failed. */
  | {
      readonly kind: 'declined';
      readonly declineCode?: string;
      readonly message: string;
      readonly paymentIntentId?: string;
    }
  /**
   * No answer that can be trusted (timeout, 5xx, garbage, an unknown status, the same key in flight, 429): the
   * charge may or may not have happened, and stays pending. `replayedServerError`: the gateway replayed a stored
   * 5xx for the key, so asking again under it can never tell more: the charge is reconciled by search.
   */
  | {
      readonly kind: 'unknown';
      readonly reason: string;
      /** A short, fixed name of the cause, for the metric and the log (`timeout`, `server-error`, ...). */
      readonly cause: string;
      readonly replayedServerError?: boolean;
    }
  /** 401/403: the gateway refuses the API key. Asking again with it cannot help: an operator must act. */
  | { readonly kind: 'refused'; readonly reason: string };

/** Port: the payment gateway (CONTRACT.md section 5). */
export interface PaymentGateway {
  /** Creates and confirms a PaymentIntent under the Idempotency-Key. */
  charge(request: {
    readonly amount: number;
    readonly currency: string;
    readonly paymentMethod: string;
    readonly idempotencyKey: string;
    readonly metadata: ChargeMetadata;
  }): Promise<GatewayOutcome>;
  /** One PaymentIntent by id (a `processing` one, polled until it settles). */
  retrieve(paymentIntentId: string): Promise<GatewayOutcome>;
  /**
   * The PaymentIntents carrying this metadata (search; a new one may take up to a minute to be found).
   * @returns `found` with every match (possibly none), or why the gateway could not be asked.
   */
  search(
    metadata: ChargeMetadata,
  ): Promise<
    | { readonly kind: 'found'; readonly intents: readonly GatewayPaymentIntent[] }
    | Extract<GatewayOutcome, { kind: 'unknown' | 'refused' }>
  >;
}

/** Port: the gateway's PaymentIntents by creation time (the reconciliation reads a run's window with it). */
export interface PaymentIntentLedger {
  /** Every PaymentIntent created in [fromMs, toMs), newest first. @throws when the gateway cannot be read. */
  list(range: { readonly fromMs: number; readonly toMs: number }): AsyncIterable<GatewayPaymentIntent>;
}

/** Port: the charges table. */
export interface ChargesRepository {
  /**
   * Writes the claim unless the charge exists (one conditional put). A run fences its claims as a page, with a
   * checkpoint after them (runs.ts `claimAndSend`). @returns the existing charge when it does.
   */
  claim(charge: ChargeRecord): Promise<{ claimed: true } | { claimed: false; existing: ChargeRecord }>;
  /**
   * Deletes the claim if it is still pending, still `runId`'s, and was never asked: a run holder that lost its
   * lease takes back the claims it made after losing it. @returns whether it deleted it.
   */
  withdraw(ref: ChargeRef, runId: string): Promise<boolean>;
  /**
   * Makes a pending, never-asked claim of run `fromRunId` the claim of run `toRunId`. @returns the adopted claim,
   * or undefined when it was not (asked, resolved or adopted meanwhile).
   */
  adopt(ref: ChargeRef, fromRunId: string, toRunId: string): Promise<ChargeRecord | undefined>;
  /** A strongly consistent read. */
  get(ref: ChargeRef): Promise<ChargeRecord | undefined>;
  /**
   * Marks a pending claim never asked as asked for the first time (`firstAskedAt`, `lastAskedAt`, `asks = 1`),
   * in the same write that reads it back. @returns whether this call was that first ask, and the claim as stored
   * (undefined when there is none).
   */
  markFirstAsk(
    ref: ChargeRef,
    at: string,
  ): Promise<{ readonly first: boolean; readonly charge?: ChargeRecord }>;
  /**
   * Records that the current key is about to be asked (`lastAskedAt`, and `firstAskedAt` unless already set), if
   * the claim is still pending. From then on it can be neither withdrawn nor released unasked.
   * @returns the claim as stored (possibly resolved by another copy meanwhile); undefined when there is none.
   */
  markAsked(ref: ChargeRef, at: string): Promise<ChargeRecord | undefined>;
  /**
   * Deletes a pending claim marked asked exactly once (`asks = 1`): the one process that marked it found the
   * subscription no longer owing it before sending anything. @returns whether it did.
   */
  releaseUnsent(ref: ChargeRef): Promise<boolean>;
  /**
   * Records that the current key `idempotencyKey` replays a stored 5xx (`serverErrorAt`, kept if already set), if
   * the claim is still pending under it. @returns the claim as stored.
   */
  markServerError(ref: ChargeRef, idempotencyKey: string, at: string): Promise<ChargeRecord | undefined>;
  /**
   * Moves a pending charge to key generation `generation` (its key derived from the charge), asked from `at`, if
   * it is still under `seen`'s key and nobody asked since `seen.lastAskedAt`. @returns the claim as stored after.
   */
  rekey(ref: ChargeRef, seen: AskedKey, generation: number, at: string): Promise<ChargeRecord | undefined>;
  /**
   * Deletes a pending claim whose subscription no longer owes it: only while it was never asked, or (after a
   * believed search found nothing) while it is still as `asked` saw it. @returns whether it did.
   */
  release(ref: ChargeRef, asked?: AskedKey): Promise<boolean>;
  /**
   * Records the outcome if the charge is still `from` (pending, or processing for a settlement). @returns the
   * stored charge: this resolution, or the one that came first; undefined if the claim is gone.
   */
  resolve(
    ref: ChargeRef,
    resolution: ChargeResolution,
    from?: 'pending' | 'processing',
  ): Promise<ChargeRecord | undefined>;
  /** Every charge of a subscription, oldest period first. */
  listForSubscription(storeId: string, subscriptionId: string): Promise<ChargeRecord[]>;
  /** Many charges by reference (missing ones are left out). */
  getMany(refs: readonly ChargeRef[]): Promise<ChargeRecord[]>;
}

/** A claim's key as a process saw it, and when it was last asked: what rekeying and releasing are conditional on. */
export interface AskedKey {
  readonly idempotencyKey: string;
  readonly lastAskedAt: string;
}

export interface ChargeResolution {
  /** `processing` only from pending; `succeeded` / `failed` from pending or processing. */
  readonly status: 'processing' | 'succeeded' | 'failed';
  /** When the final answer came; for `processing`, use `processingSince`. */
  readonly resolvedAt?: string;
  readonly processingSince?: string;
  readonly processingEventId?: string;
  readonly paymentIntentId?: string;
  readonly declineCode?: string;
  readonly failureMessage?: string;
  readonly change?: SubscriptionChange;
  /** The id of the event that announces the final outcome. */
  readonly eventId?: string;
}

/** Port: the subscriptions table, as the charge path uses it. */
export interface SubscriptionStateRepository {
  get(storeId: string, subscriptionId: string): Promise<Subscription | undefined>;
  /**
   * Applies a charge's change if the subscription is still at that charge's cycle and attempt and has not ended
   * (the fence: a repeated or late application changes nothing). @returns whether it applied.
   */
  applyChange(
    storeId: string,
    subscriptionId: string,
    at: { readonly cycle: number; readonly attempt: number },
    change: SubscriptionChange,
  ): Promise<boolean>;
}

export interface ChargeSettings {
  /**
   * A key first asked this long ago is never sent again: Stripe prunes keys after 24 h, after which the same key
   * would be a new request. The charge is reconciled by search instead.
   */
  readonly keyMaxAgeMs: number;
  /**
   * How long after the last ask a search that finds nothing is believed: every ask has ended by then (a charge
   * function cannot outlive its timeout, which bounds the ask, its SDK retry and any pause before it), and what it
   * created is findable (Stripe's search may miss a new PaymentIntent for up to a minute). See searchSettleFor.
   */
  readonly searchSettleMs: number;
}

/**
 * The settle time for a gateway timeout: the charge function's timeout as lib/billing.ts sizes it (two gateway
 * requests and 15 s, at least 30 s), Stripe's search delay (a minute) and a minute to spare; at least 5 minutes.
 */
export function searchSettleFor(gatewayTimeoutMs: number): number {
  const functionTimeoutMs = Math.max(30_000, 2 * gatewayTimeoutMs + 15_000);
  return Math.max(5 * 60_000, functionTimeoutMs + 2 * 60_000);
}

export const DEFAULT_CHARGE_SETTINGS: ChargeSettings = {
  keyMaxAgeMs: 23 * 3_600_000,
  searchSettleMs: searchSettleFor(10_000),
};

export type ChargeProcessOutcome =
  | { readonly outcome: 'succeeded' | 'failed'; readonly repeated: boolean; readonly applied: boolean }
  /** The gateway took it and answers later: looked up again after PAYMENT_PROCESSING_POLL. */
  | { readonly outcome: 'processing'; readonly repeated: boolean }
  /** No trustworthy answer yet: the message must come back later (same key, or a search). */
  | { readonly outcome: 'pending'; readonly reason: string; readonly cause: string }
  /** The gateway refuses the API key: an operator must act; asking again with it cannot help. */
  | { readonly outcome: 'refused'; readonly reason: string }
  /** The subscription was canceled (or no longer owes this charge) before the ask: the claim is released. */
  | { readonly outcome: 'released' }
  | { readonly outcome: 'missing-claim' };

export class ChargeStillPendingError extends Error {
  constructor(
    readonly ref: ChargeRef,
    readonly reason: string,
  ) {
    super(
      `Charge ${chargeRefToString(ref)} is still pending: ${reason}. It will be asked again with the same key.`,
    );
    this.name = 'ChargeStillPendingError';
  }
}

export interface ChargeDeps {
  readonly charges: ChargesRepository;
  readonly subscriptions: SubscriptionStateRepository;
  readonly gateway: PaymentGateway;
  readonly dunning: DunningPolicy;
  /** @default chargeEventId */
  readonly newEventId?: typeof chargeEventId;
  readonly now: () => number;
  readonly settings?: Partial<ChargeSettings>;
}

/**
 * The id of the event announcing a charge's outcome (or its `processing`): its time, and a digest of the charge,
 * so that a resolution repeated after a crash announces under the same id.
 */
export function chargeEventId(ref: ChargeRef, now: number, purpose: 'outcome' | 'processing'): string {
  const seed = `charge:${purpose === 'outcome' ? '' : `${purpose}:`}${chargeRefToString(ref)}`;
  return eventIdFor(now, createHash('sha256').update(seed).digest());
}

/** Whether `subscription` still owes `charge`: not ended (nor paused), and still at the charge's cycle and attempt. */
export function owes(
  subscription: Subscription | undefined,
  charge: Pick<ChargeRecord, 'cycle' | 'attempt'>,
) {
  return (
    subscription !== undefined &&
    subscription.cycle === charge.cycle &&
    subscription.attempt === charge.attempt &&
    (subscription.status === 'active' || subscription.status === 'past_due')
  );
}

/**
 * Processes one charge message. Every step is safe to repeat, so a duplicate message, a crash at any point, or a
 * concurrent backup run converges on the same state:
 * - the claim is read (consistent); a resolved one only has its change applied again (a crash between writes);
 * - a pending one never asked is first marked asked (`firstAskedAt`, `asks`), then its subscription is read: a
 *   cancel written before the mark is seen and the claim released (nothing was sent), one written after it came
 *   after the ask. The mark also fences withdrawal: a claim that money may move for always keeps its record;
 * - the key is asked (each ask marked first) while younger than `keyMaxAgeMs`; past that, when the gateway replays
 *   a stored 5xx, or when the subscription no longer owes an asked charge, the charge is reconciled by search on its
 *   metadata, and asked again under a new key derived from the charge only when the search, believed
 *   `searchSettleMs` after the last ask, finds nothing;
 * - `processing` is recorded as such and looked up by id until it settles.
 */
export async function processCharge(deps: ChargeDeps, ref: ChargeRef): Promise<ChargeProcessOutcome> {
  const settings = { ...DEFAULT_CHARGE_SETTINGS, ...deps.settings };
  // The common case, a claim nobody asked yet, is marked asked and read back in one write. The mark comes before
  // the subscription is read: a cancel written before it is seen, one written after it came after the ask.
  const marked = await deps.charges.markFirstAsk(ref, new Date(deps.now()).toISOString());
  let charge = marked.charge;
  if (!charge) return { outcome: 'missing-claim' };
  if (charge.status === 'succeeded' || charge.status === 'failed') return applyOutcome(deps, charge, true);
  if (charge.status === 'processing') return poll(deps, charge);

  let answer: GatewayOutcome | { kind: 'released' } | undefined;
  const subscription = await deps.subscriptions.get(ref.storeId, ref.subscriptionId);
  const owed = owes(subscription, charge);
  // Nobody else marked it and the subscription no longer owes it: nothing was ever sent, the claim goes.
  if (marked.first && !owed && (await deps.charges.releaseUnsent(ref))) return { outcome: 'released' };
  const keyAge = deps.now() - Date.parse(charge.firstAskedAt as string);
  if (owed && keyAge < settings.keyMaxAgeMs && !charge.serverErrorAt) {
    if (!marked.first) {
      // A later ask under the same key is written down too: the last ask dates a search that may have to be
      // believed. (Only while the subscription owes it: a search for a canceled one must be able to settle.)
      const marked = await deps.charges.markAsked(ref, new Date(deps.now()).toISOString());
      if (!marked) return { outcome: 'missing-claim' };
      if (marked.status !== 'pending') return processCharge(deps, ref);
      charge = marked;
    }
    answer = await deps.gateway.charge(requestOf(charge));
    if (answer.kind === 'unknown' && answer.replayedServerError) {
      const marked = await deps.charges.markServerError(
        ref,
        charge.idempotencyKey,
        new Date(deps.now()).toISOString(),
      );
      if (!marked) return { outcome: 'missing-claim' };
      if (marked.status !== 'pending') return processCharge(deps, ref);
      charge = marked;
      answer = undefined;
    }
  }
  // Never asked again blindly: a pruned or 5xx-stored key, or a subscription that no longer owes the charge after
  // an ask (what that ask did is found; nothing new is asked for a subscription that no longer owes it).
  answer ??= await reconcileBySearch(deps, settings, charge, owed);
  if (answer.kind === 'released') return { outcome: 'released' };
  return record(deps, charge, answer, subscription);
}

function requestOf(charge: ChargeRecord): Parameters<PaymentGateway['charge']>[0] {
  return {
    amount: charge.amount,
    currency: charge.currency,
    paymentMethod: charge.paymentMethod,
    idempotencyKey: charge.idempotencyKey,
    metadata: chargeMetadataOf(charge),
  };
}

/**
 * The answer of a charge whose key can no longer be trusted, from a search on its metadata: a PaymentIntent found
 * is the answer (one that moved money first); none found, once the search can be believed, means no ask moved
 * money, so the charge is asked under its next key (or released, if its subscription no longer owes it).
 */
async function reconcileBySearch(
  deps: ChargeDeps,
  settings: ChargeSettings,
  charge: ChargeRecord,
  owed: boolean,
): Promise<GatewayOutcome | { kind: 'released' }> {
  const found = await deps.gateway.search(chargeMetadataOf(charge));
  if (found.kind !== 'found') return found;
  const metadata = chargeMetadataOf(charge);
  const mine = found.intents.filter((intent) =>
    Object.entries(metadata).every(([name, value]) => intent.metadata[name] === value),
  );
  const moved =
    mine.find((intent) => intent.status === 'succeeded') ??
    mine.find((intent) => intent.status === 'processing');
  if (moved) {
    return moved.status === 'succeeded'
      ? { kind: 'succeeded', paymentIntentId: moved.id }
      : { kind: 'processing', paymentIntentId: moved.id };
  }
  const declined = mine.find((intent) => intent.status === 'requires_payment_method');
  if (declined) {
    return {
      kind: 'declined',
      paymentIntentId: declined.id,
      ...(declined.declineCode ? { declineCode: declined.declineCode } : {}),
      message: declined.failureMessage ?? 'The payment failed.',
    };
  }
  if (mine.length > 0) {
    const statuses = mine.map((intent) => `${intent.id} ${intent.status}`).join(', ');
    return { kind: 'unknown', cause: 'unknown-status', reason: `found ${statuses}` };
  }
  const lastAskedAt = charge.lastAskedAt ?? charge.firstAskedAt;
  // A key that replays a stored 5xx created whatever it created before the replay was first seen; otherwise any
  // ask up to the last one may have.
  const believedFrom = charge.serverErrorAt ?? lastAskedAt;
  if (!lastAskedAt || !believedFrom || deps.now() - Date.parse(believedFrom) < settings.searchSettleMs) {
    return {
      kind: 'unknown',
      cause: 'search-not-settled',
      reason: `nothing found yet; a search is believed ${settings.searchSettleMs} ms after the last ask`,
    };
  }
  const seen = { idempotencyKey: charge.idempotencyKey, lastAskedAt };
  if (!owed) {
    if (await deps.charges.release(charge, seen)) return { kind: 'released' };
    return { kind: 'unknown', cause: 'changed', reason: 'the claim changed meanwhile' };
  }
  const generation = (charge.keyGeneration ?? 0) + 1;
  const rekeyed = await deps.charges.rekey(charge, seen, generation, new Date(deps.now()).toISOString());
  // Another copy asked or moved it on first (or resolved it): its ask is the one; this copy comes back later.
  if (rekeyed?.status !== 'pending' || rekeyed.keyGeneration !== generation) {
    return { kind: 'unknown', cause: 'changed', reason: 'another process asked under a new key first' };
  }
  return deps.gateway.charge(requestOf(rekeyed));
}

/** A `processing` charge, looked up by id: settled, or still processing. */
async function poll(deps: ChargeDeps, charge: ChargeRecord): Promise<ChargeProcessOutcome> {
  if (!charge.paymentIntentId) {
    return {
      outcome: 'pending',
      cause: 'malformed',
      reason: 'a processing charge without its payment intent',
    };
  }
  const answer = await deps.gateway.retrieve(charge.paymentIntentId);
  if (answer.kind === 'processing') return { outcome: 'processing', repeated: true };
  const subscription = await deps.subscriptions.get(charge.storeId, charge.subscriptionId);
  return record(deps, charge, answer, subscription);
}

/** Stores what the gateway said, once, and applies its change to the subscription. */
async function record(
  deps: ChargeDeps,
  charge: ChargeRecord,
  answer: GatewayOutcome,
  subscription: Subscription | undefined,
): Promise<ChargeProcessOutcome> {
  if (answer.kind === 'unknown') return { outcome: 'pending', reason: answer.reason, cause: answer.cause };
  if (answer.kind === 'refused') return { outcome: 'refused', reason: answer.reason };
  const now = deps.now();
  const at = new Date(now).toISOString();
  const from = charge.status === 'processing' ? 'processing' : 'pending';
  const current = owes(subscription, charge) ? subscription : undefined;
  let resolution: ChargeResolution;
  if (answer.kind === 'processing') {
    if (from === 'processing') return { outcome: 'processing', repeated: true };
    resolution = {
      status: 'processing',
      processingSince: at,
      paymentIntentId: answer.paymentIntentId,
      processingEventId: (deps.newEventId ?? chargeEventId)(charge, now, 'processing'),
    };
  } else if (answer.kind === 'succeeded') {
    resolution = {
      status: 'succeeded',
      resolvedAt: at,
      paymentIntentId: answer.paymentIntentId,
      eventId: (deps.newEventId ?? chargeEventId)(charge, now, 'outcome'),
      ...(current ? { change: afterSuccess(current, at) } : {}),
    };
  } else {
    resolution = {
      status: 'failed',
      resolvedAt: at,
      failureMessage: answer.message,
      ...(answer.paymentIntentId ? { paymentIntentId: answer.paymentIntentId } : {}),
      ...(answer.declineCode ? { declineCode: answer.declineCode } : {}),
      eventId: (deps.newEventId ?? chargeEventId)(charge, now, 'outcome'),
      ...(current ? { change: afterDecline(current, at, deps.dunning) } : {}),
    };
  }
  const stored = await deps.charges.resolve(charge, resolution, from);
  // Asked claims cannot be withdrawn or released (`firstAskedAt` fences both), so a missing one is a bug: fail loudly,
  // the message is retried and ends in the DLQ, where it is seen.
  if (!stored) {
    throw new Error(
      `Charge ${chargeRefToString(charge)} was answered ${answer.kind}, but its claim is gone.`,
    );
  }
  if (stored.status === 'processing') {
    return { outcome: 'processing', repeated: stored.processingEventId !== resolution.processingEventId };
  }
  if (stored.status === 'pending') return processCharge(deps, charge);
  const repeated = stored.resolvedAt !== resolution.resolvedAt || stored.eventId !== resolution.eventId;
  return applyOutcome(deps, stored, repeated);
}

async function applyOutcome(
  deps: ChargeDeps,
  charge: ChargeRecord,
  repeated: boolean,
): Promise<ChargeProcessOutcome> {
  const applied = charge.change
    ? await deps.subscriptions.applyChange(
        charge.storeId,
        charge.subscriptionId,
        { cycle: charge.cycle, attempt: charge.attempt },
        charge.change,
      )
    : false;
  return { outcome: charge.status === 'succeeded' ? 'succeeded' : 'failed', repeated, applied };
}
