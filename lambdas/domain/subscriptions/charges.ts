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
  /** The run that claimed it (or adopted it, see `adoptedFrom`). */
  readonly runId: string;
  /** The run that claimed it, when a later run adopted it (a claim its run completed without). */
  readonly adoptedFrom?: string;
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

/**
 * What a charge message carries of its claim (made or found pending by the run that sent it), so that the charge
 * function need not read the claim back before asking the gateway: the claim fixed these, and nothing changes
 * them until the charge is resolved.
 */
export interface ClaimInHand {
  readonly amount: number;
  readonly currency: string;
  readonly paymentMethod: string;
  readonly cycle: number;
  readonly claimedAt: string;
}

/**
 * How long after its claim a charge message is trusted without reading the claim back. A copy of a message about a
 * charge resolved meanwhile then asks the gateway again, with the same Idempotency-Key, and gets its first answer
 * back: Stripe keeps keys for at least 24 hours, so this stays well inside that. Older messages (delayed retries,
 * redriven dead letters, stall sweeps) read the claim first.
 */
export const FRESH_CLAIM_MS = 60 * 60_000;

/** The claim as a charge message carries it; undefined unless pending. */
export function claimInHandOf(charge: ChargeRecord): ClaimInHand | undefined {
  if (charge.status !== 'pending') return undefined;
  const { amount, currency, paymentMethod, cycle, claimedAt } = charge;
  return { amount, currency, paymentMethod, cycle, claimedAt };
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

/** Port: the charges table. */
export interface ChargesRepository {
  /**
   * Writes the claim unless the charge exists (one conditional put). A run fences its claims as a page, with a
   * checkpoint after them (runs.ts `claimAndSend`). @returns the existing charge when it does.
   */
  claim(charge: ChargeRecord): Promise<{ claimed: true } | { claimed: false; existing: ChargeRecord }>;
  /**
   * Deletes the claim if it is still pending and still `runId`'s: a run holder that lost its lease takes back
   * the claims it made after losing it. @returns whether it deleted it.
   */
  withdraw(ref: ChargeRef, runId: string): Promise<boolean>;
  /**
   * Makes a pending claim of run `fromRunId` the claim of run `toRunId`, if it is still both. @returns the
   * adopted claim, or undefined when it was not (resolved or adopted meanwhile).
   */
  adopt(ref: ChargeRef, fromRunId: string, toRunId: string): Promise<ChargeRecord | undefined>;
  /** A strongly consistent read. */
  get(ref: ChargeRef): Promise<ChargeRecord | undefined>;
  /**
   * Records the outcome if the charge is still pending. @returns the stored charge: this resolution, or the one
   * that came first; undefined if the claim is gone (withdrawn by a run holder that had lost its lease).
   */
  resolve(ref: ChargeRef, resolution: ChargeResolution): Promise<ChargeRecord | undefined>;
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

/** What the charge path needs of a charge: its claim, or the stored record. */
type ChargeOrder = Pick<
  ChargeRecord,
  | 'subscriptionId'
  | 'period'
  | 'attempt'
  | 'cycle'
  | 'amount'
  | 'currency'
  | 'paymentMethod'
  | 'idempotencyKey'
  | 'status'
  | 'change'
>;

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
  ref: ChargeRef & { readonly claim?: ClaimInHand },
): Promise<ChargeProcessOutcome> {
  // A fresh claim in hand is asked about as is; anything else reads the claim first (consistent).
  const inHand =
    ref.claim && deps.now() - Date.parse(ref.claim.claimedAt) < FRESH_CLAIM_MS ? ref.claim : undefined;
  let charge: ChargeOrder | undefined = inHand
    ? {
        ...inHand,
        subscriptionId: ref.subscriptionId,
        period: ref.period,
        attempt: ref.attempt,
        idempotencyKey: idempotencyKeyOf(ref),
        status: 'pending',
      }
    : await deps.charges.get(ref);
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
    // Withdrawn after the run sent it: the subscription is still due, and claimed again under the same key.
    if (!stored) return { outcome: 'missing-claim' };
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
