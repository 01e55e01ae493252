import { createHash } from 'node:crypto';
import * as z from 'zod';
import { currencyCode } from '../../platform/currency';
import { chargeTimeAt, INTERVALS, type Interval, MAX_INTERVAL_COUNT, nextCycleAfter } from './schedule';
import type { SubscriptionSummary } from './subscription-events';

/**
 * Subscriptions (docs/api.md `POST/GET/DELETE /v1/subscriptions`). A subscription is due when its `dueAt` has
 * come: the charge time of its current cycle, or the next dunning retry. Only active and past-due subscriptions
 * carry a due shard, so the due index holds exactly what a run may have to charge.
 */

export type SubscriptionStatus = 'active' | 'paused' | 'past_due' | 'canceled' | 'unpaid';

/** Why a subscription was canceled, as stored (the API shows `payment_failed` as `dunning`, docs/api.md). */
export type CancelReason = 'requested' | 'payment_failed' | 'ended';

/** How many partitions of the due index one day's subscriptions are spread over. */
export const DUE_SHARDS = 16;

export const SUBSCRIPTION_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** A saved payment method's id at the gateway (`pm_…` at Stripe): 1-255 visible ASCII characters, no spaces. */
export const PAYMENT_METHOD_PATTERN = /^[\x21-\x7E]{1,255}$/;

export const subscriptionInput = z
  .strictObject({
    id: z
      .string()
      .regex(SUBSCRIPTION_ID_PATTERN, 'must be 1-128 characters of A-Z, a-z, 0-9, "_", "-", "." or ":"')
      .optional(),
    customer: z.strictObject({
      id: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
      email: z.email('must be an email address').max(254, 'must be at most 254 characters'),
    }),
    plan: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
    amount: z
      .number()
      .int('must be an integer amount in minor units')
      .min(1, 'must be greater than 0')
      .max(99_999_999, 'must be at most 99999999'),
    currency: currencyCode,
    interval: z.enum(INTERVALS, { message: `must be one of ${INTERVALS.join(', ')}` }),
    intervalCount: z.number().int('must be a whole number').min(1, 'must be at least 1').optional(),
    paymentMethod: z
      .string({ message: 'is required: the saved payment method to charge' })
      .regex(
        PAYMENT_METHOD_PATTERN,
        'must be a saved payment method id: 1-255 visible characters, no spaces',
      ),
    startAt: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
  })
  .superRefine((input, ctx) => {
    const max = MAX_INTERVAL_COUNT[input.interval];
    if (input.intervalCount !== undefined && input.intervalCount > max) {
      ctx.addIssue({
        code: 'custom',
        path: ['intervalCount'],
        message: `must be at most ${max} for interval "${input.interval}" (three years between charges)`,
      });
    }
  });

export type SubscriptionInput = z.infer<typeof subscriptionInput>;

export interface Dunning {
  /** The retry that comes next: 1 for the first retry after the failed charge. */
  readonly attempt: number;
  /**
   * When it is next due: the next retry, or, while `waitingForPaymentMethod`, the time the last scheduled retry
   * would have been made, when the final action is taken unless a new payment method came.
   */
  readonly nextRetryAt: string;
  /** When the cycle's first charge failed: the subscription has been past due since then. */
  readonly since?: string;
  /** The last decline's code. */
  readonly declineCode?: string;
  /** A hard decline (DUNNING_HARD_DECLINES): the payment method is never asked again; only a new one is charged. */
  readonly waitingForPaymentMethod?: boolean;
}

/** A pause (`PATCH {pause}`): periods that fall due while paused are skipped, not owed. */
export interface Pause {
  readonly pausedAt: string;
  /** When it resumes by itself (the run that finds it due resumes it); absent: until `PATCH {pause: null}`. */
  readonly resumesAt?: string;
}

/** The kind of the last change made by PATCH or by a run's settlement, announced once under `changeEventId`. */
export type SubscriptionChangeType = 'subscription.updated' | 'subscription.paused' | 'subscription.resumed';

/** The subscriptions table's item, exactly. */
export interface Subscription {
  readonly storeId: string;
  readonly subscriptionId: string;
  readonly customer: { readonly id: string; readonly email: string };
  readonly plan: string;
  readonly amount: number;
  readonly currency: string;
  readonly interval: Interval;
  readonly intervalCount: number;
  readonly paymentMethod: string;
  readonly status: SubscriptionStatus;
  /** The first charge time; every charge time derives from it. */
  readonly anchor: string;
  /** The current billing cycle (0 = the first charge). */
  readonly cycle: number;
  /** The current cycle's charge attempt: 0, then 1.. for dunning retries. */
  readonly attempt: number;
  /** The current cycle's charge time. */
  readonly nextChargeAt: string;
  /** When the subscription is next due: `nextChargeAt`, or the next dunning retry. Absent once it ended. */
  readonly dueAt?: string;
  /** The due index's partition key: present only while the subscription can be due. */
  readonly dueShard?: string;
  readonly dunning?: Dunning;
  readonly createdAt: string;
  readonly canceledAt?: string;
  readonly cancelReason?: CancelReason;
  /** No period whose charge time is at or after it is charged; the subscription then ends (`ended`). */
  readonly endAt?: string;
  readonly pause?: Pause;
  /**
   * Counts the changes made by PATCH and by a run's settlement: each is a write conditional on the revision it read
   * (and on the cycle, attempt and status, which the charge path moves), so concurrent changes never lose one.
   * Absent: 0.
   */
  readonly revision?: number;
  /** The last change's event (`subscription.updated`, `.paused`, `.resumed`), announced once by the outbox. */
  readonly changeEventId?: string;
  readonly changeType?: SubscriptionChangeType;
  readonly changedAt?: string;
  /** Digest of the create request: a retried create is told from another subscription with the same id. */
  readonly fingerprint: string;
  /** The `subscription.created` event's id, and the `subscription.canceled` one's once canceled other than by a charge. */
  readonly createdEventId: string;
  readonly canceledEventId?: string;
}

/** The shard of the due index a subscription lives in: stable, and spread evenly by a hash of its key. */
export function dueShardOf(storeId: string, subscriptionId: string): string {
  const digest = createHash('sha256').update(`${storeId}#${subscriptionId}`).digest();
  return `due#${String(digest.readUInt32BE(0) % DUE_SHARDS).padStart(2, '0')}`;
}

export function allDueShards(): string[] {
  return Array.from({ length: DUE_SHARDS }, (_, shard) => `due#${String(shard).padStart(2, '0')}`);
}

export function newSubscription(input: {
  readonly storeId: string;
  readonly subscriptionId: string;
  readonly body: SubscriptionInput;
  readonly fingerprint: string;
  readonly now: number;
  readonly createdEventId: string;
}): Subscription {
  const { body } = input;
  const anchor = new Date(body.startAt ?? input.now).toISOString();
  return {
    storeId: input.storeId,
    subscriptionId: input.subscriptionId,
    customer: body.customer,
    plan: body.plan,
    amount: body.amount,
    currency: body.currency,
    interval: body.interval,
    intervalCount: body.intervalCount ?? 1,
    paymentMethod: body.paymentMethod,
    status: 'active',
    anchor,
    cycle: 0,
    attempt: 0,
    nextChargeAt: anchor,
    dueAt: anchor,
    dueShard: dueShardOf(input.storeId, input.subscriptionId),
    createdAt: new Date(input.now).toISOString(),
    fingerprint: input.fingerprint,
    createdEventId: input.createdEventId,
  };
}

export function summarize(subscription: Subscription): SubscriptionSummary {
  return {
    id: subscription.subscriptionId,
    customer: subscription.customer,
    plan: subscription.plan,
    amount: subscription.amount,
    currency: subscription.currency,
    interval: subscription.interval,
    intervalCount: subscription.intervalCount,
    status: subscription.status,
    ...optional('nextChargeAt', upcomingChargeAt(subscription)),
    ...optional('endAt', subscription.endAt),
    ...(subscription.pause ? { pause: pauseView(subscription.pause) } : {}),
  };
}

function optional<K extends string, V>(key: K, value: V | null | undefined): { [P in K]?: V } {
  return (value === null || value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function pauseView(pause: Pause): { resumesAt?: string } {
  return pause.resumesAt ? { resumesAt: pause.resumesAt } : {};
}

/** When a subscription is next charged, or null: what the API and the events show as `nextChargeAt`. */
export function upcomingChargeAt(subscription: ScheduleState): string | null {
  const s = subscription;
  if (s.status === 'canceled' || s.status === 'unpaid') return null;
  if (s.status === 'paused') {
    if (!s.pause?.resumesAt) return null;
    const at = chargeTimeAt(
      s.anchor,
      s.interval,
      s.intervalCount,
      resumeCycle(s, Date.parse(s.pause.resumesAt)),
    );
    return s.endAt && at >= s.endAt ? null : at;
  }
  if (s.status === 'active' && s.endAt && s.nextChargeAt >= s.endAt) return null;
  return s.nextChargeAt;
}

/** What `upcomingChargeAt` reads of a subscription (the datafeed projects these fields only). */
export type ScheduleState = Pick<
  Subscription,
  'status' | 'nextChargeAt' | 'endAt' | 'pause' | 'anchor' | 'interval' | 'intervalCount' | 'cycle'
>;

/** The first cycle whose charge time is at or after `at` (epoch ms), from the subscription's current one. */
function resumeCycle(
  subscription: Pick<Subscription, 'anchor' | 'interval' | 'intervalCount' | 'cycle'>,
  at: number,
): number {
  const { anchor, interval, intervalCount, cycle } = subscription;
  const current = Date.parse(chargeTimeAt(anchor, interval, intervalCount, cycle));
  return current >= at
    ? cycle
    : nextCycleAfter(anchor, interval, intervalCount, cycle, new Date(at - 1).toISOString());
}

/** Active again at the first period whose charge time is at or after `at`: the periods in between are skipped. */
export function resumed(subscription: Subscription, at: number): Subscription {
  const { anchor, interval, intervalCount, cycle } = subscription;
  const nextCycle = resumeCycle(subscription, at);
  const next: { -readonly [K in keyof Subscription]: Subscription[K] } = {
    ...subscription,
    status: 'active',
    cycle: nextCycle,
    attempt: nextCycle === cycle ? subscription.attempt : 0,
    nextChargeAt: chargeTimeAt(anchor, interval, intervalCount, nextCycle),
  };
  delete next.pause;
  delete next.dunning;
  return next;
}

/**
 * What a charge's outcome does to its subscription, decided once when the charge is resolved and stored with it,
 * so that applying it again (after a crash between the two writes) does the same thing.
 */
export interface SubscriptionChange {
  readonly status: SubscriptionStatus;
  readonly cycle: number;
  readonly attempt: number;
  readonly nextChargeAt: string;
  /** Absent when the subscription ends (canceled or unpaid): it leaves the due index. */
  readonly dueAt?: string;
  readonly dunning?: Dunning;
  /** Set when dunning's final action canceled the subscription. */
  readonly canceledAt?: string;
}

export interface DunningPolicy {
  /** Delay of each retry after the previous failed attempt, in milliseconds (DUNNING_SCHEDULE). */
  readonly scheduleMs: readonly number[];
  readonly finalAction: 'cancel' | 'unpaid';
  /** Decline codes after which the same payment method is never asked again (DUNNING_HARD_DECLINES). */
  readonly hardDeclines?: readonly string[];
}

/** A successful charge: back to active, and on to the next cycle that is still ahead. */
export function afterSuccess(subscription: Subscription, chargedAt: string): SubscriptionChange {
  const { anchor, interval, intervalCount, cycle } = subscription;
  const next = nextCycleAfter(anchor, interval, intervalCount, cycle, chargedAt);
  const nextChargeAt = chargeTimeAt(anchor, interval, intervalCount, next);
  return { status: 'active', cycle: next, attempt: 0, nextChargeAt, dueAt: nextChargeAt };
}

/**
 * A declined attempt: past due with the next retry after the schedule's delay for this attempt; after the last
 * retry, the final action (canceled or unpaid), and the subscription is due no more. A hard decline
 * (`policy.hardDeclines`) is never retried with the same payment method: the subscription waits for a new one
 * (`waitingForPaymentMethod`) until the time its last scheduled retry would have been made, when the run that finds
 * it due takes the final action (settlement.ts); a new payment method makes it due at once (update.ts).
 */
export function afterDecline(
  subscription: Subscription,
  failedAt: string,
  policy: DunningPolicy,
  declineCode?: string,
): SubscriptionChange {
  const remaining = policy.scheduleMs.slice(subscription.attempt);
  const base = { cycle: subscription.cycle, nextChargeAt: subscription.nextChargeAt };
  if (remaining.length === 0) {
    return policy.finalAction === 'cancel'
      ? { ...base, status: 'canceled', attempt: subscription.attempt, canceledAt: failedAt }
      : { ...base, status: 'unpaid', attempt: subscription.attempt };
  }
  const hard = declineCode !== undefined && (policy.hardDeclines ?? []).includes(declineCode);
  const delay = hard ? remaining.reduce((sum, ms) => sum + ms, 0) : (remaining[0] as number);
  const nextRetryAt = new Date(Date.parse(failedAt) + delay).toISOString();
  const attempt = subscription.attempt + 1;
  const dunning: Dunning = {
    attempt,
    nextRetryAt,
    since: subscription.dunning?.since ?? failedAt,
    ...(declineCode ? { declineCode } : {}),
    ...(hard ? { waitingForPaymentMethod: true } : {}),
  };
  return { ...base, status: 'past_due', attempt, dueAt: nextRetryAt, dunning };
}

/** The subscription as the API shows it (without its charges, which the route adds). */
export function subscriptionView(subscription: Subscription) {
  return {
    id: subscription.subscriptionId,
    status: subscription.status,
    customer: subscription.customer,
    plan: subscription.plan,
    amount: subscription.amount,
    currency: subscription.currency,
    interval: subscription.interval,
    intervalCount: subscription.intervalCount,
    paymentMethod: subscription.paymentMethod,
    startAt: subscription.anchor,
    // An ended or paused subscription is charged no more (a pause with `resumesAt`: from its next period).
    nextChargeAt: upcomingChargeAt(subscription),
    ...optional('endAt', subscription.endAt),
    ...(subscription.pause ? { pause: pauseView(subscription.pause) } : {}),
    ...(subscription.dunning ? { dunning: dunningView(subscription.dunning) } : {}),
    createdAt: subscription.createdAt,
    ...optional('canceledAt', subscription.canceledAt),
    ...optional('cancelReason', subscription.cancelReason && cancelReasonView(subscription.cancelReason)),
  };
}

/** As docs/api.md names it: dunning's final action is `dunning` (stored `payment_failed`, as events call it). */
export function cancelReasonView(reason: CancelReason): 'requested' | 'dunning' | 'ended' {
  return reason === 'payment_failed' ? 'dunning' : reason;
}

function dunningView(dunning: Dunning) {
  return {
    attempt: dunning.attempt,
    nextRetryAt: dunning.nextRetryAt,
    ...optional('since', dunning.since),
    ...optional('declineCode', dunning.declineCode),
    ...(dunning.waitingForPaymentMethod ? { waitingForPaymentMethod: true } : {}),
  };
}
