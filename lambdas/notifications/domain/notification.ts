import * as z from 'zod';
import type {
  SubscriptionCanceledData,
  SubscriptionChargedData,
  SubscriptionPaymentFailedData,
} from '../../billing/domain/subscription-events';
import type { NotificationMessage } from './notification-message';

/**
 * A notification as the sender works with it: the message's event with its `data` checked against the subscription
 * event types (subscriptions/subscription-events.ts). Only what the emails use is required, so that a field added
 * to the events later does not break their emails.
 */

/** Thrown for a message whose event cannot be written as an email: a bug upstream, for the DLQ. */
export class MalformedNotificationError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`The notification's event cannot be written as an email: ${issues.join('; ')}`);
    this.name = 'MalformedNotificationError';
  }
}

const isoTime = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO time');
/** Integer amounts in minor units, as the API takes them. */
const amount = z.number().int().nonnegative();
/** Three letters, either case (Stripe writes them in lower case). */
const currency = z.string().regex(/^[A-Za-z]{3}$/, 'must be a three-letter currency code');

const subscription = z.object({
  id: z.string().min(1),
  // Checked for being an address by the sender: a bad one is a permanent rejection, not a malformed event.
  customer: z.object({ id: z.string(), email: z.string().min(1) }),
  plan: z.string().min(1),
  amount,
  currency,
  interval: z.enum(['day', 'week', 'month', 'year']),
  intervalCount: z.number().int().positive(),
  status: z.enum(['active', 'past_due', 'canceled', 'unpaid']),
  nextChargeAt: isoTime.optional(),
});

const charge = z.object({
  period: z.string().min(1),
  attempt: z.number().int().nonnegative(),
  amount,
  currency,
  runId: z.string(),
  at: isoTime,
});

const chargedData = z.object({
  subscription,
  charge: charge.extend({ paymentIntentId: z.string().min(1) }),
}) satisfies z.ZodType<SubscriptionChargedData>;

const paymentFailedData = z.object({
  subscription,
  charge: charge.extend({ declineCode: z.string().optional(), message: z.string() }),
  dunning: z
    .object({
      attempt: z.number().int().positive(),
      nextRetryAt: isoTime,
      declineCode: z.string().optional(),
      waitingForPaymentMethod: z.boolean().optional(),
    })
    .nullable(),
  finalAction: z.enum(['cancel', 'unpaid']).optional(),
}) satisfies z.ZodType<SubscriptionPaymentFailedData>;

const canceledData = z.object({
  subscription,
  reason: z.enum(['requested', 'payment_failed', 'ended']),
  canceledAt: isoTime,
}) satisfies z.ZodType<SubscriptionCanceledData>;

interface NotificationBase {
  readonly eventId: string;
  readonly storeId: string;
  readonly createdAt: string;
}

export type Notification =
  | (NotificationBase & { readonly type: 'subscription.charged'; readonly data: SubscriptionChargedData })
  | (NotificationBase & {
      readonly type: 'subscription.payment_failed';
      readonly data: SubscriptionPaymentFailedData;
    })
  | (NotificationBase & { readonly type: 'subscription.canceled'; readonly data: SubscriptionCanceledData });

/** @throws MalformedNotificationError naming each field that is missing or wrong (never its value). */
export function notificationOf(message: NotificationMessage): Notification {
  const base = { eventId: message.eventId, storeId: message.storeId, createdAt: message.event.createdAt };
  const { data } = message.event;
  switch (message.type) {
    case 'subscription.charged':
      return { ...base, type: message.type, data: parsed(chargedData, data) };
    case 'subscription.payment_failed':
      return { ...base, type: message.type, data: parsed(paymentFailedData, data) };
    case 'subscription.canceled':
      return { ...base, type: message.type, data: parsed(canceledData, data) };
  }
}

function parsed<T>(schema: z.ZodType<T>, data: unknown): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new MalformedNotificationError(
    result.error.issues.map((issue) => `data.${issue.path.join('.')}: ${issue.message}`),
  );
}
