import * as z from 'zod';
import { EVENT_TYPES, type PipelineEvent } from '../../events/domain/events';

/**
 * Queue messages of the webhook side. Parsed with zod at the consumer: a malformed message is a bug upstream,
 * reported as a batch item failure (it ends on the DLQ) rather than silently dropped.
 */

/** What asks for a delivery: the fan-out, a replay, a recover, a resend or a test (docs/api.md section 3). */
export const DELIVERY_TRIGGERS = ['scheduled', 'replay', 'recover', 'resend', 'test'] as const;
export type DeliveryTrigger = (typeof DELIVERY_TRIGGERS)[number];

/** One delivery of one event to one endpoint: the message makes attempt number `attempt`. */
export const deliveryMessage = z.object({
  storeId: z.string().min(1),
  endpointId: z.string().min(1),
  eventId: z.string().min(1),
  /** Set when a replay (refeed) asked for this delivery. */
  replayId: z.string().min(1).optional(),
  /** What asked for this delivery (shown on its attempts). @default 'scheduled' (or 'replay' with a replayId) */
  trigger: z.enum(DELIVERY_TRIGGERS).optional(),
  attempt: z.number().int().min(1),
  /** Epoch ms before which the attempt must not be made (SQS delays stop at 15 minutes: longer ones chain). */
  notBefore: z.number().int().optional(),
  /**
   * The send time this delivery reserved on its endpoint's rate limit (domain/endpoint-pace.ts) while it waits in
   * the queue for it; `limit` is the rateLimit it was reserved under. Waiting for it spends no attempt.
   */
  rateSlot: z.object({ at: z.number(), limit: z.number().int().min(1) }).optional(),
  /**
   * Set on the follow-up of an attempt that succeeded but whose record could not be written (docs/webhooks-design.md,
   * "sent once"): the message only records that success, it never POSTs. `tries` counts its own re-sends.
   */
  recordOnly: z
    .object({
      responseStatus: z.number().int(),
      durationMs: z.number().int().min(0),
      at: z.string().min(1),
      tries: z.number().int().min(0),
    })
    .optional(),
  /** The event itself when it is small (see withEmbeddedEvent): the delivery then needs no read to send it. */
  event: z
    .object({
      id: z.string(),
      type: z.enum(EVENT_TYPES),
      createdAt: z.string(),
      storeId: z.string(),
      data: z.unknown(),
    })
    .optional(),
});
export type DeliveryMessage = z.infer<typeof deliveryMessage>;

/**
 * Events up to this size travel inside their delivery messages (SQS takes 256 KiB); larger ones are read from
 * the events table by the delivery. This spares one read per delivery on the common path.
 */
const MAX_EMBEDDED_EVENT_BYTES = 64 * 1024;

/** The message with its event embedded when the event is small enough. */
export function withEmbeddedEvent(message: DeliveryMessage, event: PipelineEvent): DeliveryMessage {
  return Buffer.byteLength(JSON.stringify(event)) <= MAX_EMBEDDED_EVENT_BYTES
    ? { ...message, event }
    : message;
}

/** A replay request: deliver every matching event of the window to one endpoint again. */
export const replayJob = z.object({
  storeId: z.string().min(1),
  endpointId: z.string().min(1),
  replayId: z.string().min(1),
  /** Epoch ms, inclusive. */
  since: z.number().int(),
  /** Epoch ms, exclusive. */
  until: z.number().int(),
  types: z.array(z.enum(EVENT_TYPES)).optional(),
  /**
   * `recover`: only the events whose delivery to the endpoint has not succeeded (docs/api.md section 3); `replayId`
   * is then the recovery's id. @default 'replay'
   */
  trigger: z.enum(['replay', 'recover']).optional(),
});
export type ReplayJob = z.infer<typeof replayJob>;

/** One delivery message handed over as it is (a resend or a test): the replays queue forwards it. */
export const deliveryJob = z.object({ delivery: deliveryMessage });
export type DeliveryJob = z.infer<typeof deliveryJob>;

/** What the replays queue carries. */
export const refeedJob = z.union([deliveryJob, replayJob]);
export type RefeedJob = z.infer<typeof refeedJob>;

/**
 * A received delivery message: parsed, or why it could not be. `receiveCount` is SQS's ApproximateReceiveCount,
 * for the logs only: nothing promises a copy SQS delivers again a count above 1, so no count proves a message alone.
 */
export type ReceivedDelivery = {
  readonly messageId: string;
  readonly receiveCount: number;
} & ({ readonly message: DeliveryMessage } | { readonly invalid: string });

/** An SQS record of the deliveries queue, as the Lambda event carries it (the fields read here). */
export interface DeliveryRecord {
  readonly messageId: string;
  readonly body: string;
  readonly attributes?: { readonly ApproximateReceiveCount?: string };
}

/** Parses one record with the message's schema (a malformed one is reported by the consumer, see above). */
export function parseDeliveryRecord(record: DeliveryRecord): ReceivedDelivery {
  const receiveCount = Math.max(1, Number(record.attributes?.ApproximateReceiveCount ?? '1') || 1);
  const received = { messageId: record.messageId, receiveCount };
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    return { ...received, invalid: 'the body is not JSON' };
  }
  const parsed = deliveryMessage.safeParse(json);
  return parsed.success
    ? { ...received, message: parsed.data }
    : { ...received, invalid: z.prettifyError(parsed.error) };
}

/** What an SQS or stream consumer answers with ReportBatchItemFailures (message ids, or sequence numbers). */
export interface BatchResponse {
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

/**
 * Runs every item of a batch concurrently, so a slow one holds up no other, and reports each that threw: `failed`
 * logs it and names its item identifier.
 */
export async function settleBatch<T>(
  items: readonly T[],
  run: (item: T) => Promise<void>,
  failed: (item: T, error: unknown) => string,
): Promise<BatchResponse> {
  const outcomes = await Promise.allSettled(items.map((item) => run(item)));
  const batchItemFailures: { itemIdentifier: string }[] = [];
  outcomes.forEach((outcome, index) => {
    const item = items[index];
    if (outcome.status === 'rejected' && item !== undefined) {
      batchItemFailures.push({ itemIdentifier: failed(item, outcome.reason) });
    }
  });
  return { batchItemFailures };
}

/** Port: the deliveries queue and its DLQ. */
export interface DeliveryQueue {
  /** Sends in batches of up to 10; every message is delayed by min(its notBefore - now, 15 min). */
  send(messages: readonly DeliveryMessage[]): Promise<void>;
  /** Puts an exhausted delivery on the dead-letter queue, where `npx pipeline redrive deliveries` finds it. */
  sendToDeadLetter(message: DeliveryMessage, reason: string): Promise<void>;
}

/** Port: the replays queue. */
export interface ReplayQueue {
  send(job: RefeedJob): Promise<void>;
}
