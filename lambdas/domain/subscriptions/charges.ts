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

export type ChargeStatus = 'pending' | 'succeeded' | 'failed';

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
  /** The run that claimed it. */
  readonly runId: string;
  readonly idempotencyKey: string;
  readonly status: ChargeStatus;
  readonly claimedAt: string;
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

/** The one Idempotency-Key of a charge at the gateway: a function of the claim's key and nothing else. */
export function idempotencyKeyOf(ref: ChargeRef): string {
  return `charge:${ref.storeId}:${ref.subscriptionId}:${ref.period}:${ref.attempt}`;
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

/** What the gateway said about one charge request. */
export type GatewayOutcome =
  | { readonly kind: 'succeeded'; readonly paymentIntentId: string }
  /** A definite no (card declined, or the request itself refused): the attempt failed. */
  | { readonly kind: 'declined'; readonly declineCode?: string; readonly message: string }
  /**
   * No answer that can be trusted (timeout, 5xx, garbage, the same key still in flight, an auth problem): the
   * charge may or may not have happened. It stays pending and is asked again with the same key.
   */
  | { readonly kind: 'unknown'; readonly reason: string };

/** Port: the payment gateway (CONTRACT.md section 5). */
export interface PaymentGateway {
  charge(request: {
    readonly amount: number;
    readonly currency: string;
    readonly paymentMethod: string;
    readonly idempotencyKey: string;
    readonly metadata: { readonly subscription_id: string; readonly period: string };
  }): Promise<GatewayOutcome>;
}

/** The run lease a claim is made under: the lease holder's fence (see runs.ts). */
export interface ClaimFence {
  readonly runId: string;
  readonly owner: string;
  readonly version: number;
}

/** A claim refused because the run lease it was made under was taken over: the claimant must stop. */
export class ClaimFencedError extends Error {
  constructor(readonly fence: ClaimFence) {
    super(`The lease ${fence.owner} v${fence.version} of run ${fence.runId} was taken over: no more claims.`);
    this.name = 'ClaimFencedError';
  }
}

/** Port: the charges table. */
export interface ChargesRepository {
  /**
   * Writes the claim unless the charge exists. Under a run's `fence`, only while that lease holds (in one
   * transaction with a check of the lease), as every write made under a lease: a holder that lost its lease
   * cannot add a charge to a run its successor completed. @returns the existing charge when it does.
   * @throws ClaimFencedError when the fence no longer holds.
   */
  claim(
    charge: ChargeRecord,
    fence?: ClaimFence,
  ): Promise<{ claimed: true } | { claimed: false; existing: ChargeRecord }>;
  /** A strongly consistent read. */
  get(ref: ChargeRef): Promise<ChargeRecord | undefined>;
  /**
   * Records the outcome if the charge is still pending. @returns the stored charge: this resolution, or the one
   * that came first.
   */
  resolve(ref: ChargeRef, resolution: ChargeResolution): Promise<ChargeRecord>;
  /** Every charge of a subscription, oldest period first. */
  listForSubscription(storeId: string, subscriptionId: string): Promise<ChargeRecord[]>;
  /** Many charges by reference (missing ones are left out). */
  getMany(refs: readonly ChargeRef[]): Promise<ChargeRecord[]>;
}

export interface ChargeResolution {
  readonly status: 'succeeded' | 'failed';
  readonly resolvedAt: string;
  readonly paymentIntentId?: string;
  readonly declineCode?: string;
  readonly failureMessage?: string;
  readonly change?: SubscriptionChange;
  readonly eventId: string;
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

export type ChargeProcessOutcome =
  | { readonly outcome: 'succeeded' | 'failed'; readonly repeated: boolean; readonly applied: boolean }
  /** The gateway gave no trustworthy answer: the message must come back later. */
  | { readonly outcome: 'pending'; readonly reason: string }
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

/**
 * Processes one charge message: a pending claim goes to the gateway (its key makes a repeat harmless), its outcome
 * is recorded once, and then its change is applied to the subscription. Every step is safe to repeat, so a
 * duplicate message, a crash at any point, or a concurrent backup run converges on the same state.
 */
export async function processCharge(
  deps: {
    readonly charges: ChargesRepository;
    readonly subscriptions: SubscriptionStateRepository;
    readonly gateway: PaymentGateway;
    readonly dunning: DunningPolicy;
    readonly newEventId: (now: number) => string;
    readonly now: () => number;
  },
  ref: ChargeRef,
): Promise<ChargeProcessOutcome> {
  let charge = await deps.charges.get(ref);
  if (!charge) return { outcome: 'missing-claim' };
  let repeated = true;
  if (charge.status === 'pending') {
    const answer = await deps.gateway.charge({
      amount: charge.amount,
      currency: charge.currency,
      paymentMethod: charge.paymentMethod,
      idempotencyKey: charge.idempotencyKey,
      metadata: { subscription_id: charge.subscriptionId, period: charge.period },
    });
    if (answer.kind === 'unknown') return { outcome: 'pending', reason: answer.reason };
    const now = deps.now();
    const at = new Date(now).toISOString();
    const subscription = await deps.subscriptions.get(ref.storeId, ref.subscriptionId);
    const current =
      subscription &&
      subscription.cycle === charge.cycle &&
      subscription.attempt === charge.attempt &&
      (subscription.status === 'active' || subscription.status === 'past_due')
        ? subscription
        : undefined;
    const resolution: ChargeResolution =
      answer.kind === 'succeeded'
        ? {
            status: 'succeeded',
            resolvedAt: at,
            paymentIntentId: answer.paymentIntentId,
            eventId: deps.newEventId(now),
            ...(current ? { change: afterSuccess(current, at) } : {}),
          }
        : {
            status: 'failed',
            resolvedAt: at,
            failureMessage: answer.message,
            ...(answer.declineCode ? { declineCode: answer.declineCode } : {}),
            eventId: deps.newEventId(now),
            ...(current ? { change: afterDecline(current, at, deps.dunning) } : {}),
          };
    const stored = await deps.charges.resolve(ref, resolution);
    repeated = stored.resolvedAt !== resolution.resolvedAt || stored.eventId !== resolution.eventId;
    charge = stored;
  }
  const applied = charge.change
    ? await deps.subscriptions.applyChange(
        ref.storeId,
        ref.subscriptionId,
        { cycle: charge.cycle, attempt: charge.attempt },
        charge.change,
      )
    : false;
  return { outcome: charge.status === 'succeeded' ? 'succeeded' : 'failed', repeated, applied };
}
