import type { PipelineEvent } from '../../events/domain/events';
import type { ChargeRecord, ChargeStatus } from './charges/charge';
import { factEventId } from './event-ids';
import { type Subscription, summarize } from './subscription';
import type {
  SubscriptionCanceledData,
  SubscriptionChangedData,
  SubscriptionChargedData,
  SubscriptionCreatedData,
  SubscriptionPaymentFailedData,
  SubscriptionPaymentProcessingData,
  SubscriptionSummary,
} from './subscription-events';

/**
 * The billing outbox: the streams of the subscriptions and charges tables turned into events (which the events
 * table's stream fans out to webhooks and emails) and into the runs' counters. Nothing on the charge path writes
 * an event or a counter itself: each fact is written once, where it happens, and announced from its stream, so a
 * charge costs its own writes only and no announcement can be lost between two writes.
 *
 * Every event id is fixed by the fact it announces (stored with it, or derived from it), so a stream record
 * processed twice stores its events once. Counters are fenced by stream position instead (`processOutboxBatch`).
 */

export interface CounterDelta {
  total: number;
  succeeded: number;
  failed: number;
  /** Charges answered `processing` and not settled yet. */
  processing: number;
}

export interface OutboxEffects {
  readonly events: PipelineEvent[];
  /** Counter changes by run id. */
  readonly counters: Map<string, CounterDelta>;
}

export function emptyEffects(): OutboxEffects {
  return { events: [], counters: new Map() };
}

export function zeroDelta(): CounterDelta {
  return { total: 0, succeeded: 0, failed: 0, processing: 0 };
}

export function isZero(delta: CounterDelta): boolean {
  return delta.total === 0 && delta.succeeded === 0 && delta.failed === 0 && delta.processing === 0;
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
  // A change by PATCH (or the manage page), or a pause that ended by itself, carries its event id and kind.
  if (after.changeEventId && after.changeEventId !== before.changeEventId && after.changeType) {
    const data: SubscriptionChangedData = {
      subscription: summarize(after),
      changed: changedFields(before, after),
    };
    effects.events.push({
      id: after.changeEventId,
      type: after.changeType,
      createdAt: after.changedAt ?? new Date().toISOString(),
      storeId: after.storeId,
      data,
    });
  }
  // Cancellations on request, at `endAt`, and at the end of a hard decline's wait carry their event id; dunning's
  // cancellations after a failed charge are announced from the charge.
  if (after.canceledEventId && !before.canceledEventId && after.cancelReason) {
    const canceledAt = after.canceledAt ?? new Date().toISOString();
    const data: SubscriptionCanceledData = {
      subscription: summarize(after),
      reason: after.cancelReason,
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

/** The fields a customer or merchant sees that a change set, in a fixed order. */
const CHANGEABLE = ['status', 'amount', 'plan', 'paymentMethod', 'endAt', 'pause', 'nextChargeAt'] as const;

function changedFields(before: Subscription, after: Subscription): string[] {
  return CHANGEABLE.filter((field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]));
}

const FINAL: readonly ChargeStatus[] = ['succeeded', 'failed'];

/**
 * What one charge item counts for its run: one claim, and one of its status. A change counts the difference
 * between its images, so every transition (a claim, `processing`, a settlement, a withdrawal or release, an
 * adoption by another run) moves each counter by exactly what it changed, whatever path it took.
 */
function countersOf(charge: ChargeRecord | undefined): Map<string, CounterDelta> {
  if (!charge) return new Map();
  const counts = zeroDelta();
  counts.total = 1;
  if (charge.status === 'succeeded') counts.succeeded = 1;
  if (charge.status === 'failed') counts.failed = 1;
  if (charge.status === 'processing') counts.processing = 1;
  return new Map([[charge.runId, counts]]);
}

/**
 * A change of one charges table item: counted for its run(s), and announced when it is news: `processing` once
 * (a poll that finds it still processing changes nothing), the outcome once, from pending or from processing.
 */
export function chargeChangeEffects(
  effects: OutboxEffects,
  before: ChargeRecord | undefined,
  after: ChargeRecord | undefined,
): void {
  const add = (runId: string, counts: CounterDelta, sign: 1 | -1) => {
    const delta = effects.counters.get(runId) ?? zeroDelta();
    delta.total += sign * counts.total;
    delta.succeeded += sign * counts.succeeded;
    delta.failed += sign * counts.failed;
    delta.processing += sign * counts.processing;
    effects.counters.set(runId, delta);
  };
  for (const [runId, counts] of countersOf(before)) add(runId, counts, -1);
  for (const [runId, counts] of countersOf(after)) add(runId, counts, 1);
  for (const [runId, delta] of effects.counters) if (isZero(delta)) effects.counters.delete(runId);
  if (!after || after.status === 'pending' || before?.status === after.status) return;
  if (before && FINAL.includes(before.status)) return;
  if (after.status === 'processing') {
    effects.events.push(processingEvent(after));
    return;
  }
  const at = after.resolvedAt ?? after.claimedAt;
  const eventId = after.eventId ?? factEventId(Date.parse(at), `charge:${after.idempotencyKey}`);
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
      id: factEventId(Date.parse(at) + 1, `canceled:${after.idempotencyKey}`),
      type: 'subscription.canceled',
      createdAt: change.canceledAt ?? at,
      storeId: after.storeId,
      data: canceled,
    });
  }
}

function processingEvent(charge: ChargeRecord): PipelineEvent {
  const at = charge.processingSince ?? charge.claimedAt;
  const data: SubscriptionPaymentProcessingData = {
    subscription: {
      ...chargeSubscription(charge),
      // Nothing is decided until it settles: the subscription is as the charge found it, due (or in dunning).
      status: charge.attempt === 0 ? 'active' : 'past_due',
    },
    charge: {
      period: charge.period,
      attempt: charge.attempt,
      amount: charge.amount,
      currency: charge.currency,
      runId: charge.runId,
      at,
      paymentIntentId: charge.paymentIntentId ?? '',
    },
  };
  return {
    id: charge.processingEventId ?? factEventId(Date.parse(at), `charge:processing:${charge.idempotencyKey}`),
    type: 'subscription.payment_processing',
    createdAt: at,
    storeId: charge.storeId,
    data,
  };
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
