import { eventIdFor, type PipelineEvent } from '../events';
import type { ChargeRecord } from './charges';
import { digest } from './runs';
import type { Subscription } from './subscription';
import { summarize } from './subscription';
import type {
  SubscriptionCanceledData,
  SubscriptionChargedData,
  SubscriptionCreatedData,
  SubscriptionPaymentFailedData,
  SubscriptionSummary,
} from './subscription-events';

/**
 * The billing outbox: the streams of the subscriptions and charges tables turned into events (which the events
 * table's stream fans out to webhooks and emails) and into the runs' counters. Nothing on the charge path writes
 * an event or a counter itself: each fact is written once, where it happens, and announced from its stream, so a
 * charge costs its own writes only and no announcement can be lost between two writes.
 *
 * Every event id is fixed by the fact it announces (stored with it, or derived from it), so a stream record
 * processed twice stores its events once.
 */

export interface CounterDelta {
  total: number;
  succeeded: number;
  failed: number;
}

export interface OutboxEffects {
  readonly events: PipelineEvent[];
  /** Counter changes by run id. */
  readonly counters: Map<string, CounterDelta>;
}

export function emptyEffects(): OutboxEffects {
  return { events: [], counters: new Map() };
}

/** A change of one subscriptions table item. */
export function subscriptionChangeEffects(
  effects: OutboxEffects,
  before: Subscription | undefined,
  after: Subscription | undefined,
): void {
  if (!after) return;
  if (!before) {
    const data: SubscriptionCreatedData = { subscription: summarize(after) };
    effects.events.push({
      id: after.createdEventId,
      type: 'subscription.created',
      createdAt: after.createdAt,
      storeId: after.storeId,
      data,
    });
    return;
  }
  // Cancellations on request carry their event id; dunning's cancellations are announced from the charge.
  if (after.canceledEventId && !before.canceledEventId && after.cancelReason === 'requested') {
    const canceledAt = after.canceledAt ?? new Date().toISOString();
    const data: SubscriptionCanceledData = {
      subscription: summarize(after),
      reason: 'requested',
      canceledAt,
    };
    effects.events.push({
      id: after.canceledEventId,
      type: 'subscription.canceled',
      createdAt: canceledAt,
      storeId: after.storeId,
      data,
    });
  }
}

/**
 * A change of one charges table item: a claim counts toward its run (a withdrawn claim no longer does, an adopted
 * one moves to its new run); a resolution is announced and counted.
 */
export function chargeChangeEffects(
  effects: OutboxEffects,
  before: ChargeRecord | undefined,
  after: ChargeRecord | undefined,
): void {
  const countersOf = (runId: string) => {
    const counters = effects.counters.get(runId) ?? { total: 0, succeeded: 0, failed: 0 };
    effects.counters.set(runId, counters);
    return counters;
  };
  // A claim withdrawn (its run holder had lost the lease) no longer counts; one adopted counts for its new run.
  if (before?.status === 'pending' && (!after || after.runId !== before.runId))
    countersOf(before.runId).total -= 1;
  if (!after) return;
  const counters = countersOf(after.runId);
  if (!before || before.runId !== after.runId) counters.total += 1;
  if (after.status === 'pending' || before?.status === after.status) return;
  if (before && before.status !== 'pending') return;
  const at = after.resolvedAt ?? after.claimedAt;
  const eventId = after.eventId ?? eventIdFor(Date.parse(at), digest(`charge:${after.idempotencyKey}`));
  const subscription = chargeSubscription(after);
  const charge = {
    period: after.period,
    attempt: after.attempt,
    amount: after.amount,
    currency: after.currency,
    runId: after.runId,
    at,
  };
  if (after.status === 'succeeded') {
    counters.succeeded += 1;
    const data: SubscriptionChargedData = {
      subscription,
      charge: { ...charge, paymentIntentId: after.paymentIntentId ?? '' },
    };
    effects.events.push({
      id: eventId,
      type: 'subscription.charged',
      createdAt: at,
      storeId: after.storeId,
      data,
    });
    return;
  }
  counters.failed += 1;
  const change = after.change;
  const ended = change && (change.status === 'canceled' || change.status === 'unpaid');
  const data: SubscriptionPaymentFailedData = {
    subscription,
    charge: {
      ...charge,
      message: after.failureMessage ?? 'The payment failed.',
      ...(after.declineCode ? { declineCode: after.declineCode } : {}),
    },
    dunning: change?.dunning ?? null,
    ...(ended
      ? { finalAction: change.status === 'canceled' ? ('cancel' as const) : ('unpaid' as const) }
      : {}),
  };
  effects.events.push({
    id: eventId,
    type: 'subscription.payment_failed',
    createdAt: at,
    storeId: after.storeId,
    data,
  });
  if (change?.status === 'canceled') {
    const canceled: SubscriptionCanceledData = {
      subscription,
      reason: 'payment_failed',
      canceledAt: change.canceledAt ?? at,
    };
    effects.events.push({
      // One millisecond later, so that it sorts after the failure it follows from.
      id: eventIdFor(Date.parse(at) + 1, digest(`canceled:${after.idempotencyKey}`)),
      type: 'subscription.canceled',
      createdAt: change.canceledAt ?? at,
      storeId: after.storeId,
      data: canceled,
    });
  }
}

/** The subscription as the charge's outcome leaves it. */
function chargeSubscription(charge: ChargeRecord): SubscriptionSummary {
  const change = charge.change;
  return {
    id: charge.subscriptionId,
    customer: charge.customer,
    plan: charge.plan,
    amount: charge.amount,
    currency: charge.currency,
    interval: charge.interval,
    intervalCount: charge.intervalCount,
    // Without a change the subscription had ended (canceled) before the charge was resolved.
    status: change?.status ?? 'canceled',
    ...(change?.dueAt ? { nextChargeAt: change.nextChargeAt } : {}),
  };
}

/** Port: the runs' counters. */
export interface RunCounters {
  add(runId: string, delta: CounterDelta): Promise<void>;
}
