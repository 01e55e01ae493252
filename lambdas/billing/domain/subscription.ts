import { createHash } from 'node:crypto';
import * as z from 'zod';
import { chargeTimeAt, INTERVALS, type Interval, MAX_INTERVAL_COUNT, nextCycleAfter } from './schedule';
import type { SubscriptionSummary } from './subscription-events';

/**
 * Subscriptions (docs/api.md `POST/GET/DELETE /v1/subscriptions`). A subscription is due when its `dueAt` has
 * come: the charge time of its current cycle, or the next dunning retry. Only active and past-due subscriptions
 * carry a due shard, so the due index holds exactly what a run may have to charge.
 */

export type SubscriptionStatus = 'active' | 'past_due' | 'canceled' | 'unpaid';

/** Currencies the pipeline charges in (ISO 4217, as the transactions take them). */
export const SUPPORTED_CURRENCIES = [
  'AUD',
  'BRL',
  'CAD',
  'CHF',
  'CZK',
  'DKK',
  'EUR',
  'GBP',
  'HKD',
  'HUF',
  'INR',
  'JPY',
  'KRW',
  'MXN',
  'NOK',
  'NZD',
  'PLN',
  'SEK',
  'SGD',
  'USD',
  'ZAR',
] as const;

/** How many partitions of the due index one day's subscriptions are spread over. */
export const DUE_SHARDS = 16;

export const SUBSCRIPTION_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

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
    currency: z.enum(SUPPORTED_CURRENCIES, {
      message: `must be one of the supported currencies: ${SUPPORTED_CURRENCIES.join(', ')}`,
    }),
    interval: z.enum(INTERVALS, { message: `must be one of ${INTERVALS.join(', ')}` }),
    intervalCount: z.number().int('must be a whole number').min(1, 'must be at least 1').optional(),
    paymentMethod: z
      .string()
      .min(1, 'is required: the saved payment method to charge')
      .max(255, 'must be at most 255 characters'),
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
  readonly nextRetryAt: string;
}

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
  readonly cancelReason?: 'requested' | 'payment_failed';
  /** Digest of the create request: a retried create is told from another subscription with the same id. */
  readonly fingerprint: string;
  /** The `subscription.created` event's id, and the `subscription.canceled` one's once canceled on request. */
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
    ...(subscription.dueShard ? { nextChargeAt: subscription.nextChargeAt } : {}),
  };
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
 * retry, the final action (canceled or unpaid), and the subscription is due no more.
 */
export function afterDecline(
  subscription: Subscription,
  failedAt: string,
  policy: DunningPolicy,
): SubscriptionChange {
  const delay = policy.scheduleMs[subscription.attempt];
  const base = { cycle: subscription.cycle, nextChargeAt: subscription.nextChargeAt };
  if (delay === undefined) {
    return policy.finalAction === 'cancel'
      ? { ...base, status: 'canceled', attempt: subscription.attempt, canceledAt: failedAt }
      : { ...base, status: 'unpaid', attempt: subscription.attempt };
  }
  const nextRetryAt = new Date(Date.parse(failedAt) + delay).toISOString();
  const attempt = subscription.attempt + 1;
  return { ...base, status: 'past_due', attempt, dueAt: nextRetryAt, dunning: { attempt, nextRetryAt } };
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
    // An ended subscription is charged no more.
    nextChargeAt: subscription.dueShard ? subscription.nextChargeAt : null,
    ...(subscription.dunning ? { dunning: subscription.dunning } : {}),
    createdAt: subscription.createdAt,
    ...(subscription.canceledAt ? { canceledAt: subscription.canceledAt } : {}),
    ...(subscription.cancelReason ? { cancelReason: subscription.cancelReason } : {}),
  };
}
