import type {
  SubscriptionCanceledData,
  SubscriptionChargedData,
  SubscriptionPaymentFailedData,
  SubscriptionSummary,
} from '../../../lambdas/billing/domain/subscription-events';
import { newEventId, type PipelineEvent } from '../../../lambdas/events/domain/events';
import type { Notification } from '../../../lambdas/notifications/domain/notification';
import type {
  ClaimResult,
  NotificationClaim,
  NotificationLog,
  NotificationOutcome,
  NotificationRecord,
} from '../../../lambdas/notifications/domain/notification-log';
import {
  type NotificationMessage,
  type NotificationQueue,
  notificationMessageFor,
} from '../../../lambdas/notifications/domain/notification-message';
import type { EmailSender, EmailSendResult } from '../../../lambdas/notifications/domain/notifier';
import type { Email } from '../../../lambdas/notifications/domain/render-email';

/**
 * Stand-ins for the notification ports, with the semantics of the adapters: the log's claim is the DynamoDB
 * adapter's conditional write (new, or a lease that ended at or before `now`), its outcome never overwrites
 * another outcome.
 */
export class InMemoryNotificationLog implements NotificationLog {
  readonly records = new Map<string, NotificationRecord & { expiresAt: number }>();
  claims = 0;

  async claim(claim: NotificationClaim): Promise<ClaimResult> {
    this.claims += 1;
    const current = this.records.get(claim.eventId);
    if (current && !(current.status === 'sending' && current.leaseUntil <= claim.now)) {
      return { claimed: false, current };
    }
    this.records.set(claim.eventId, {
      status: 'sending',
      leaseUntil: claim.leaseUntil,
      expiresAt: claim.expiresAt,
    });
    return { claimed: true, tookOver: current !== undefined };
  }

  async finish(eventId: string, outcome: NotificationOutcome, expiresAt: number): Promise<boolean> {
    const current = this.records.get(eventId);
    if (current && current.status !== 'sending') return false;
    this.records.set(
      eventId,
      outcome.status === 'sent'
        ? { status: 'sent', sentAt: outcome.at, expiresAt }
        : { status: 'rejected', rejectedAt: outcome.at, reason: outcome.reason, expiresAt },
    );
    return true;
  }
}

/** Answers each send from `script` in turn (an Error is thrown); afterwards, accepts. Keeps what it was given. */
export class ScriptedEmailSender implements EmailSender {
  readonly attempts: Email[] = [];
  readonly accepted: Email[] = [];

  constructor(private readonly script: (EmailSendResult | Error)[] = []) {}

  async send(email: Email): Promise<EmailSendResult> {
    this.attempts.push(email);
    const next = this.script.shift() ?? { kind: 'accepted' };
    if (next instanceof Error) throw next;
    if (next.kind === 'accepted') this.accepted.push(email);
    return next;
  }
}

export class FakeNotificationQueue implements NotificationQueue {
  readonly sent: NotificationMessage[] = [];
  sendCalls = 0;
  failNext: Error | undefined;

  async send(messages: readonly NotificationMessage[]): Promise<void> {
    this.sendCalls += 1;
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = undefined;
      throw error;
    }
    this.sent.push(...messages);
  }
}

export function subscriptionFixture(overrides: Partial<SubscriptionSummary> = {}): SubscriptionSummary {
  return {
    id: 'sub_1',
    customer: { id: 'cus_1', email: 'ada@example.org' },
    plan: 'Pro',
    amount: 1999,
    currency: 'usd',
    interval: 'month',
    intervalCount: 1,
    status: 'active',
    nextChargeAt: '2024-07-01T00:00:00.000Z',
    ...overrides,
  };
}

export function chargedData(
  subscription: Partial<SubscriptionSummary> = {},
  charge: Partial<SubscriptionChargedData['charge']> = {},
): SubscriptionChargedData {
  const summary = subscriptionFixture(subscription);
  return {
    subscription: summary,
    charge: { ...chargeOf(summary), paymentIntentId: 'pi_123', ...charge },
  };
}

/** The first attempt of the 2024-06-01 charge of `summary`, in the run of that day. */
function chargeOf(summary: SubscriptionSummary) {
  return {
    period: '2024-06-01',
    attempt: 0,
    amount: summary.amount,
    currency: summary.currency,
    runId: '2024-06-01',
    at: '2024-06-01T00:00:05.000Z',
  };
}

export function paymentFailedData(
  overrides: Partial<SubscriptionPaymentFailedData> = {},
): SubscriptionPaymentFailedData {
  const summary = subscriptionFixture({ status: 'past_due' });
  return {
    subscription: summary,
    charge: {
      ...chargeOf(summary),
      declineCode: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
    },
    dunning: { attempt: 1, nextRetryAt: '2024-06-02T00:00:00.000Z' },
    ...overrides,
  };
}

export function canceledData(overrides: Partial<SubscriptionCanceledData> = {}): SubscriptionCanceledData {
  return {
    subscription: subscriptionFixture({ status: 'canceled', nextChargeAt: undefined }),
    reason: 'requested',
    canceledAt: '2024-06-15T10:30:00.000Z',
    ...overrides,
  };
}

export function subscriptionEvent(
  type: Notification['type'] | 'subscription.created',
  data: unknown,
  overrides: Partial<PipelineEvent> = {},
): PipelineEvent {
  return {
    id: newEventId(Date.parse('2024-06-01T00:00:05.000Z')),
    type,
    createdAt: '2024-06-01T00:00:05.000Z',
    storeId: 'store_1',
    data,
    ...overrides,
  };
}

/** The queue message of a notifiable event. */
export function messageOf(event: PipelineEvent): NotificationMessage {
  const message = notificationMessageFor(event);
  if (!message) throw new Error(`${event.type} sends no email`);
  return message;
}
