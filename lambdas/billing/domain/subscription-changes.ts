import * as z from 'zod';
import { factEventId } from './event-ids';
import {
  type DunningPolicy,
  dueShardOf,
  PAYMENT_METHOD_PATTERN,
  resumed,
  type Subscription,
  type SubscriptionChangeType,
} from './subscription';

/**
 * The changes a subscription goes through besides its charges' outcomes: `PATCH /v1/subscriptions/{id}` (and the
 * manage page's payment-method form), and what a run does to a due subscription it must not charge (a pause that
 * ends, an `endAt` reached, a hard decline's wait that ran out). Each is a pure function from the subscription as
 * read to the subscription to write; update.ts and runs/claims.ts write it conditionally on what was read
 * (`revision`, cycle, attempt, status), so a change racing a charge's outcome or another change is made again on
 * the fresh state, never lost and never applied twice.
 */

const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' });

/** `PATCH /v1/subscriptions/{id}`'s body (docs/api.md section 3). Unknown fields are refused. */
export const subscriptionPatch = z
  .strictObject({
    paymentMethod: z
      .string()
      .regex(PAYMENT_METHOD_PATTERN, 'must be a saved payment method id: 1-255 visible characters, no spaces')
      .optional(),
    amount: z
      .number()
      .int('must be an integer amount in minor units')
      .min(1, 'must be greater than 0')
      .max(99_999_999, 'must be at most 99999999')
      .optional(),
    plan: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters').optional(),
    pause: z.strictObject({ resumesAt: isoTime.optional() }).nullable().optional(),
    endAt: isoTime.nullable().optional(),
  })
  .refine((patch) => Object.keys(patch).length > 0, {
    message: 'must set at least one of paymentMethod, amount, plan, pause, endAt',
  });

export type SubscriptionPatch = z.infer<typeof subscriptionPatch>;

/** Why a patch cannot be made: 409 (the subscription's state) or 400 (a value, such as a time in the past). */
export interface PatchRefusal {
  readonly status: 400 | 409;
  readonly field?: string;
  readonly reason: string;
}

export type PatchResult =
  | { readonly kind: 'changed'; readonly next: Subscription; readonly changed: readonly string[] }
  /** The patch asks for what is already so: nothing is written, nothing announced (a form posted twice). */
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'refused'; readonly refusal: PatchRefusal };

/**
 * The subscription after `patch`, made at `now` (epoch ms), announced under `eventId`:
 * - `amount`, `plan`, `paymentMethod` are stored; a charge already claimed and never sent takes them when it is
 *   first asked (charges/process.ts), one already sent keeps what it was sent with;
 * - a new `paymentMethod` on a `past_due` subscription makes it due at once (a new attempt, with its own key, at
 *   the next run), and ends a hard decline's wait; the declined one again while waiting: 409;
 * - `pause` (active or paused only) leaves the due index, or waits there until `resumesAt`; `pause: null` resumes
 *   at the next period still ahead: periods that fell due while paused are skipped, not owed;
 * - `endAt` (in the future) ends it before the first period at or after it; `endAt: null` takes that back.
 */
export function applyPatch(
  subscription: Subscription,
  patch: SubscriptionPatch,
  now: number,
  eventId: string,
): PatchResult {
  const at = new Date(now).toISOString();
  if (subscription.status === 'canceled') {
    return refuse(
      409,
      undefined,
      `Subscription ${subscription.subscriptionId} is canceled; it cannot change.`,
    );
  }
  let next: Mutable<Subscription> = { ...subscription };
  const changed: string[] = [];
  let type: SubscriptionChangeType = 'subscription.updated';

  if (patch.amount !== undefined && patch.amount !== next.amount) {
    next.amount = patch.amount;
    changed.push('amount');
  }
  if (patch.plan !== undefined && patch.plan !== next.plan) {
    next.plan = patch.plan;
    changed.push('plan');
  }
  if (patch.paymentMethod !== undefined) {
    const waiting = next.dunning?.waitingForPaymentMethod === true;
    if (patch.paymentMethod === next.paymentMethod && waiting) {
      return refuse(
        409,
        'paymentMethod',
        `This payment method was declined (${next.dunning?.declineCode ?? 'hard decline'}) and is not asked again; give another one.`,
      );
    }
    if (patch.paymentMethod !== next.paymentMethod) {
      next.paymentMethod = patch.paymentMethod;
      changed.push('paymentMethod');
      if (next.status === 'past_due' && next.dunning) {
        // Due at once: the next run charges the new method as the next attempt (its own key).
        const { waitingForPaymentMethod: _ended, ...dunning } = next.dunning;
        next.dunning = { ...dunning, nextRetryAt: at };
      }
    }
  }
  if (patch.endAt !== undefined) {
    if (patch.endAt === null) {
      if (next.endAt !== undefined) {
        delete next.endAt;
        changed.push('endAt');
      }
    } else {
      const endAt = new Date(patch.endAt).toISOString();
      if (Date.parse(endAt) <= now) return refuse(400, 'endAt', 'must be in the future');
      if (endAt !== next.endAt) {
        next.endAt = endAt;
        changed.push('endAt');
      }
    }
  }
  if (patch.pause !== undefined) {
    if (patch.pause === null) {
      if (next.status === 'paused') {
        next = resumed(next, now);
        changed.push('pause');
        type = 'subscription.resumed';
      }
    } else {
      if (next.status !== 'active' && next.status !== 'paused') {
        return refuse(
          409,
          'pause',
          next.status === 'past_due'
            ? 'A past-due subscription cannot be paused: give a new payment method, or cancel it.'
            : `A subscription that is ${next.status} cannot be paused.`,
        );
      }
      const resumesAt = patch.pause.resumesAt ? new Date(patch.pause.resumesAt).toISOString() : undefined;
      if (resumesAt !== undefined && Date.parse(resumesAt) <= now) {
        return refuse(400, 'pause.resumesAt', 'must be in the future');
      }
      const wasPaused = next.status === 'paused';
      if (!wasPaused || next.pause?.resumesAt !== resumesAt) {
        next.status = 'paused';
        next.pause = {
          pausedAt: wasPaused ? (next.pause?.pausedAt ?? at) : at,
          ...(resumesAt ? { resumesAt } : {}),
        };
        changed.push('pause');
        if (!wasPaused) type = 'subscription.paused';
      }
    }
  }
  if (changed.length === 0) return { kind: 'unchanged' };
  return { kind: 'changed', next: withChange(withDue(next), type, eventId, at), changed };
}

/**
 * What a run does with a due subscription (its `dueAt` at or before the run's `asOf`): charge it, or settle it
 * without a charge. `settle` is the subscription to write instead, fenced like a patch.
 */
export type DueAction =
  | { readonly kind: 'charge' }
  | { readonly kind: 'settle'; readonly next: Subscription }
  | { readonly kind: 'skip' };

export function dueAction(
  subscription: Subscription,
  asOf: string,
  policy: Pick<DunningPolicy, 'finalAction'>,
): DueAction {
  const s = subscription;
  const key = `${s.storeId}:${s.subscriptionId}:${s.revision ?? 0}:${s.cycle}:${s.attempt}`;
  if (s.status === 'paused') {
    const endAt = s.endAt ? Date.parse(s.endAt) : Number.POSITIVE_INFINITY;
    const resumesAt = s.pause?.resumesAt ? Date.parse(s.pause.resumesAt) : Number.POSITIVE_INFINITY;
    if (endAt <= Date.parse(asOf) && endAt <= resumesAt) return settle(ended(s, s.endAt as string, key));
    if (resumesAt > Date.parse(asOf)) return { kind: 'skip' };
    // Resumed as of its `resumesAt`: the next period at or after it is the first one owed.
    const at = s.pause?.resumesAt as string;
    const next = withChange(
      withDue(resumed(s, resumesAt)),
      'subscription.resumed',
      factEventId(resumesAt, `resumed:${key}`),
      at,
    );
    return settle(next);
  }
  if (s.status === 'active' && s.endAt && Date.parse(s.nextChargeAt) >= Date.parse(s.endAt)) {
    // Its last period is over: the period that starts now is at or after `endAt`, and is not charged.
    return settle(ended(s, s.nextChargeAt, key));
  }
  if (s.status === 'past_due' && s.dunning?.waitingForPaymentMethod) {
    // A hard decline's wait ran out with no new payment method: the final action, as after the last retry.
    const at = s.dunning.nextRetryAt;
    const base: Mutable<Subscription> = { ...s };
    delete base.dunning;
    if (policy.finalAction === 'unpaid') {
      base.status = 'unpaid';
      const eventId = factEventId(Date.parse(at), `unpaid:${key}`);
      return settle(withChange(withDue(base), 'subscription.updated', eventId, at));
    }
    return settle(
      withDue({
        ...base,
        status: 'canceled',
        canceledAt: at,
        cancelReason: 'payment_failed',
        canceledEventId: factEventId(Date.parse(at), `canceled:${key}`),
        revision: (s.revision ?? 0) + 1,
      }),
    );
  }
  // Paused with nothing come due (a stale index entry): neither charged nor owed.
  if (s.status !== 'active' && s.status !== 'past_due') return { kind: 'skip' };
  return { kind: 'charge' };
}

function ended(subscription: Subscription, at: string, key: string): Subscription {
  const next: Mutable<Subscription> = {
    ...subscription,
    status: 'canceled',
    canceledAt: at,
    cancelReason: 'ended',
    canceledEventId: factEventId(Date.parse(at), `ended:${key}`),
    revision: (subscription.revision ?? 0) + 1,
  };
  delete next.pause;
  delete next.dunning;
  return withDue(next);
}

/**
 * The due index fields the state implies: an active subscription is due at its period's charge time, a past-due one
 * at its next retry (or the end of its wait), a paused one at the earlier of `resumesAt` and `endAt`; an ended one
 * is not in the index.
 */
function withDue(subscription: Mutable<Subscription>): Subscription {
  const s = subscription;
  let dueAt: string | undefined;
  if (s.status === 'active') dueAt = s.nextChargeAt;
  if (s.status === 'past_due') dueAt = s.dunning?.nextRetryAt ?? s.nextChargeAt;
  if (s.status === 'paused') {
    const times = [s.pause?.resumesAt, s.endAt].filter((time): time is string => time !== undefined).sort();
    dueAt = times[0];
  }
  if (dueAt === undefined) {
    delete s.dueAt;
    delete s.dueShard;
  } else {
    s.dueAt = dueAt;
    s.dueShard = dueShardOf(s.storeId, s.subscriptionId);
  }
  return s;
}

function withChange(
  subscription: Subscription,
  type: SubscriptionChangeType,
  eventId: string,
  at: string,
): Subscription {
  return {
    ...subscription,
    revision: (subscription.revision ?? 0) + 1,
    changeEventId: eventId,
    changeType: type,
    changedAt: at,
  };
}

function settle(next: Subscription): DueAction {
  return { kind: 'settle', next };
}

function refuse(status: 400 | 409, field: string | undefined, reason: string): PatchResult {
  return { kind: 'refused', refusal: { status, reason, ...(field ? { field } : {}) } };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
