import { factEventId } from '../event-ids';
import { periodOf } from '../schedule';
import type { Subscription, SubscriptionChange } from '../subscription';

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
 * had to be asked under a new key (0 for its first; docs/api.md section 5), so that every process derives the
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
    period: periodOf(subscription.nextChargeAt),
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

/**
 * The id of the event announcing a charge's outcome (or its `processing`): its time, and a digest of the charge,
 * so that a resolution repeated after a crash announces under the same id.
 */
export function chargeEventId(ref: ChargeRef, now: number, purpose: 'outcome' | 'processing'): string {
  const seed = `charge:${purpose === 'outcome' ? '' : `${purpose}:`}${chargeRefToString(ref)}`;
  return factEventId(now, seed);
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
