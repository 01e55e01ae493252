import { afterDecline, afterSuccess, type DunningPolicy, type Subscription } from '../subscription';
import { type ChargeRecord, type ChargeRef, chargeEventId, chargeRefToString, owes } from './charge';
import { chargeRequestOf, type GatewayOutcome, type PaymentGateway } from './gateway';
import type { ChargeResolution, ChargesRepository, ChargeTerms, SubscriptionStateRepository } from './ports';
import { reconcileBySearch } from './search';

/** One charge, from its claim to its recorded outcome (charge.ts explains the exactly-once rules). */

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
 * The settle time for a gateway timeout: the charge function's timeout as lib/features/billing.ts sizes it (two gateway
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
  /**
   * No trustworthy answer yet: the message must come back later (same key, or a search). `rateLimited`: no answer
   * at all (a 429, or no turn under the shared gateway limit), asked again with the same key after the wait.
   */
  | {
      readonly outcome: 'pending';
      readonly reason: string;
      readonly cause: string;
      readonly rateLimited?: { readonly retryAfterMs?: number };
    }
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
  // Nobody else marked it and the subscription's terms changed since the claim (PATCH amount, plan or payment
  // method, written before the mark): nothing was sent under this key yet, so the claim takes the new terms.
  if (marked.first && owed && subscription && termsChanged(subscription, charge)) {
    const repriced = await deps.charges.reprice(ref, termsOf(subscription));
    if (!repriced) return processCharge(deps, ref);
    charge = repriced;
  }
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
    // A 429 (or no turn under the shared limit) comes back as `unknown` with `rateLimited`: no `serverErrorAt`, no
    // search below; the ask's mark stays. Stripe saved nothing for it, so the key's 24 h began at the first request
    // it executed, no earlier than `firstAskedAt`: counting the key's age from the first send, 429 or not, retires
    // it early, never late.
    answer = await deps.gateway.charge(chargeRequestOf(charge));
    if (answer.kind === 'unknown' && answer.replayedServerError && !answer.rateLimited) {
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

function termsOf(subscription: Subscription): ChargeTerms {
  return { amount: subscription.amount, plan: subscription.plan, paymentMethod: subscription.paymentMethod };
}

function termsChanged(subscription: Subscription, charge: ChargeRecord): boolean {
  return (
    subscription.amount !== charge.amount ||
    subscription.plan !== charge.plan ||
    subscription.paymentMethod !== charge.paymentMethod
  );
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
  if (answer.kind === 'unknown') {
    // A 429 is refused before execution: no decline, no stored 5xx, no search, no new key; the same key later.
    return {
      outcome: 'pending',
      reason: answer.reason,
      cause: answer.cause,
      ...(answer.rateLimited ? { rateLimited: answer.rateLimited } : {}),
    };
  }
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
      ...(current ? { change: afterDecline(current, at, deps.dunning, answer.declineCode) } : {}),
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
