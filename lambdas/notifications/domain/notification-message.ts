import * as z from 'zod';
import { EVENT_TYPES, type EventType, type PipelineEvent } from '../../events/domain/events';

/**
 * The notifications queue's messages (docs/api.md section 6): one per subscription event that sends the subscriber
 * an email. The event travels inside its message, so the sender makes no read to write the email; the event id is
 * the notification's identity, by which the sender sends it once however often the message arrives.
 */

/** The events that send an email: receipts, payment-failed notices (each dunning step) and cancellation notices. */
const NOTIFIABLE_EVENT_TYPES = [
  'subscription.charged',
  'subscription.payment_failed',
  'subscription.canceled',
] as const satisfies readonly EventType[];

export type NotifiableEventType = (typeof NOTIFIABLE_EVENT_TYPES)[number];

export function isNotifiable(type: EventType): type is NotifiableEventType {
  return (NOTIFIABLE_EVENT_TYPES as readonly EventType[]).includes(type);
}

/**
 * The body of a notifications queue message. Only the envelope is checked here: the event's `data` is checked by
 * the sender (see notification.ts), so that the fan-out never fails a stream record, and holds up its shard, over
 * an event it cannot read.
 */
export const notificationMessage = z
  .object({
    eventId: z.string().min(1),
    storeId: z.string().min(1),
    type: z.enum(NOTIFIABLE_EVENT_TYPES),
    event: z.object({
      id: z.string().min(1),
      type: z.enum(EVENT_TYPES),
      createdAt: z.string().min(1),
      storeId: z.string().min(1),
      data: z.unknown(),
    }),
  })
  .refine(
    (m) => m.event.id === m.eventId && m.event.type === m.type && m.event.storeId === m.storeId,
    'event must be the event the message names (id, type and store)',
  );
export type NotificationMessage = z.infer<typeof notificationMessage>;

/** The message that notifies about `event`, or undefined for an event that sends no email. */
export function notificationMessageFor(event: PipelineEvent): NotificationMessage | undefined {
  if (!isNotifiable(event.type)) return undefined;
  return {
    eventId: event.id,
    storeId: event.storeId,
    type: event.type,
    event: {
      id: event.id,
      type: event.type,
      createdAt: event.createdAt,
      storeId: event.storeId,
      data: event.data,
    },
  };
}

/** Port: the notifications queue (its DLQ is fed by SQS itself, after maxReceiveCount). */
export interface NotificationQueue {
  /** Sends every message or throws (then some may have been sent: the sender's dedup makes repeats harmless). */
  send(messages: readonly NotificationMessage[]): Promise<void>;
}
