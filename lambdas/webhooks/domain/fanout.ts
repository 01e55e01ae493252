import * as z from 'zod';
import {
  EVENT_TYPES,
  type EventsRepository,
  isEventId,
  type PipelineEvent,
} from '../../events/domain/events';
import {
  type NotificationQueue,
  notificationMessageFor,
} from '../../notifications/domain/notification-message';
import type { WebhookLogger } from './delivery';
import { type Endpoint, type EndpointsRepository, endpointWants } from './endpoints';
import {
  type BatchResponse,
  type DeliveryMessage,
  type DeliveryQueue,
  settleBatch,
  withEmbeddedEvent,
} from './messages';

/**
 * Fan-out: from a stream record of the transactions table or the events table to one delivery message per
 * (event, endpoint that wants it). The transactions table is the outbox of `POST /v1/transactions`; the events table
 * carries every other event (`origin: direct`) and, as a copy for listing and replay, the transaction ones.
 */

/**
 * How long the delivery side trusts what it read of an endpoint: a disable, a rotation or a new URL is seen within
 * this. (The fan-out keeps its cache for one invocation only; see fanOutBatch.)
 */
export const ENDPOINT_CACHE_TTL_MS = 3_000;

/** An item of the transactions table, as the stream's NEW_IMAGE carries it. */
const transactionItem = z.object({
  storeId: z.string().min(1),
  txnId: z.string().min(1),
  eventId: z.string().refine(isEventId, 'must be an event id'),
  acceptedAt: z.string().min(1),
  transaction: z.unknown().refine((value) => value !== undefined, 'is required'),
});

/** An item of the events table, as the stream's NEW_IMAGE carries it. */
const eventItem = z.object({
  storeId: z.string().min(1),
  eventId: z.string().refine(isEventId, 'must be an event id'),
  type: z.enum(EVENT_TYPES),
  createdAt: z.string().min(1),
  data: z.unknown(),
  origin: z.enum(['transaction', 'direct']),
});

export type StreamTable = 'transactions' | 'events';

/** What to do with one inserted item. */
export type FanoutWork =
  /** `store`: put the event in the events table first (transactions only; idempotent). */
  | { readonly kind: 'fan-out'; readonly event: PipelineEvent; readonly store: boolean }
  | { readonly kind: 'skip'; readonly reason: string };

/**
 * Which table a stream record comes from: the table its stream belongs to when the adapter could tell (from the
 * record's source ARN), or else the item's shape (only transactions have `txnId`).
 */
export function streamTableOf(
  known: StreamTable | undefined,
  item: Readonly<Record<string, unknown>>,
): StreamTable {
  return known ?? ('txnId' in item ? 'transactions' : 'events');
}

/** @throws Error (with zod's issues) when the item is not what the table holds. */
export function fanoutWorkFor(table: StreamTable, item: Readonly<Record<string, unknown>>): FanoutWork {
  if (table === 'transactions') {
    const txn = transactionItem.parse(item);
    return {
      kind: 'fan-out',
      store: true,
      event: {
        id: txn.eventId,
        type: 'transaction.created',
        createdAt: txn.acceptedAt,
        storeId: txn.storeId,
        data: txn.transaction,
      },
    };
  }
  const stored = eventItem.parse(item);
  // Transaction events reach the events table from the fan-out itself, which has already sent their messages.
  if (stored.origin === 'transaction')
    return { kind: 'skip', reason: 'fanned out from the transactions table' };
  return {
    kind: 'fan-out',
    store: false,
    event: {
      id: stored.eventId,
      type: stored.type,
      createdAt: stored.createdAt,
      storeId: stored.storeId,
      data: stored.data,
    },
  };
}

/** One message per endpoint of the event's store that wants its type; the first attempt after `schedule[0]`. */
export function deliveryMessagesFor(
  event: PipelineEvent,
  endpoints: readonly Endpoint[],
  firstDelayMs: number,
  now: number,
): DeliveryMessage[] {
  return endpoints
    .filter((endpoint) => endpointWants(endpoint, event.type))
    .map((endpoint) =>
      withEmbeddedEvent(
        {
          storeId: event.storeId,
          endpointId: endpoint.id,
          eventId: event.id,
          attempt: 1,
          notBefore: now + firstDelayMs,
        },
        event,
      ),
    );
}

/**
 * Endpoints read through a short per-environment cache. Concurrent look-ups of one key share one read, and a read
 * that fails is not kept. `remember` records what this environment itself just changed (a disable, a failure run).
 */
export class CachedEndpoints {
  private readonly lists = new Map<string, { expiresAt: number; value: Promise<readonly Endpoint[]> }>();
  private readonly single = new Map<string, { expiresAt: number; value: Promise<Endpoint | undefined> }>();
  private readonly now: () => number;
  private readonly ttlMs: number;

  constructor(
    private readonly repository: Pick<EndpointsRepository, 'list' | 'get'>,
    options: { readonly ttlMs?: number; readonly now?: () => number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? ENDPOINT_CACHE_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /** How old a view this cache may serve. */
  get maxAgeMs(): number {
    return this.ttlMs;
  }

  list(storeId: string): Promise<readonly Endpoint[]> {
    return this.cached(this.lists, storeId, () => this.repository.list(storeId));
  }

  get(storeId: string, id: string): Promise<Endpoint | undefined> {
    return this.cached(this.single, singleKey(storeId, id), () => this.repository.get(storeId, id));
  }

  remember(endpoint: Endpoint): void {
    this.single.set(singleKey(endpoint.storeId, endpoint.id), {
      expiresAt: this.now() + this.ttlMs,
      value: Promise.resolve(endpoint),
    });
    this.lists.delete(endpoint.storeId);
  }

  private cached<T>(
    entries: Map<string, { expiresAt: number; value: Promise<T> }>,
    key: string,
    load: () => Promise<T>,
  ): Promise<T> {
    const now = this.now();
    const hit = entries.get(key);
    if (hit && hit.expiresAt > now) return hit.value;
    for (const [k, entry] of entries) if (entry.expiresAt <= now) entries.delete(k);
    const value = load();
    entries.set(key, { expiresAt: now + this.ttlMs, value });
    value.catch(() => {
      if (entries.get(key)?.value === value) entries.delete(key);
    });
    return value;
  }
}

function singleKey(storeId: string, id: string): string {
  return `${storeId}\n${id}`;
}

export interface FanoutDependencies {
  readonly events: Pick<EventsRepository, 'put'>;
  readonly endpoints: CachedEndpoints;
  readonly queue: Pick<DeliveryQueue, 'send'>;
  /**
   * The notifications queue: a direct event that emails the subscriber (a receipt, a payment-failed or a
   * cancellation notice) also becomes one message there. Absent: no emails.
   */
  readonly notifications?: NotificationQueue;
  readonly retryScheduleMs: readonly number[];
  readonly now?: () => number;
}

/**
 * Runs the work of one stream record. Safe to repeat: the put is idempotent, a delivery's copies are held off by its
 * lease (delivery.ts) and the notification sender sends once per event id.
 */
export class Fanout {
  private readonly now: () => number;

  constructor(private readonly deps: FanoutDependencies) {
    this.now = deps.now ?? Date.now;
  }

  /** The number of delivery messages sent. */
  async run(work: FanoutWork): Promise<number> {
    if (work.kind === 'skip') return 0;
    const { event } = work;
    await this.notify(work);
    if (work.store) await this.deps.events.put(event, 'transaction');
    const endpoints = await this.deps.endpoints.list(event.storeId);
    const messages = deliveryMessagesFor(event, endpoints, this.deps.retryScheduleMs[0] ?? 0, this.now());
    if (messages.length > 0) await this.deps.queue.send(messages);
    return messages.length;
  }

  /**
   * Before the deliveries, so that a failure here fails the record before anything else went out; when a later
   * step fails, the stream's retry sends this message again, which the sender's dedup makes harmless.
   */
  private async notify(work: Extract<FanoutWork, { kind: 'fan-out' }>): Promise<void> {
    // Subscription events enter through the events table (direct); the transactions stream has none to email.
    if (!this.deps.notifications || work.store) return;
    const message = notificationMessageFor(work.event);
    if (message) await this.deps.notifications.send([message]);
  }
}

/** One record of the transactions or events stream, read by the adapter (adapters/stream-records.ts). */
export interface StreamRecordInput {
  /** What a partial batch response names: the stream retries from the lowest one reported. */
  readonly sequenceNumber: string;
  readonly eventName?: string;
  /** The table whose stream the record comes from; absent when its source names neither table. */
  readonly table?: StreamTable;
  readonly keys?: Readonly<Record<string, unknown>>;
  /** Absent when the stream does not carry new images, or the image could not be read. */
  readonly newImage?: Readonly<Record<string, unknown>>;
}

export interface FanoutBatchDependencies extends Omit<FanoutDependencies, 'endpoints'> {
  readonly endpoints: Pick<EndpointsRepository, 'list' | 'get'>;
  readonly logger: WebhookLogger;
}

/**
 * The fan-out consumer of one stream batch (ReportBatchItemFailures): each inserted item becomes one delivery
 * message per endpoint that wants its event. A record that fails is reported by its sequence number; the stream
 * then retries from the lowest one reported, so records after it that did succeed are processed again and their
 * messages are sent again: delivery's lease makes those copies harmless. Nothing is dropped.
 *
 * The endpoint cache lives for this batch only: every record of a batch was written before the batch was read, so
 * a list read now includes every endpoint registered before any of those events. A cache kept across invocations
 * could miss an endpoint registered a moment ago.
 */
export async function fanOutBatch(
  deps: FanoutBatchDependencies,
  records: readonly StreamRecordInput[],
): Promise<BatchResponse> {
  const fanout = new Fanout({
    ...deps,
    endpoints: new CachedEndpoints(deps.endpoints, {
      ttlMs: Number.POSITIVE_INFINITY,
      ...(deps.now ? { now: deps.now } : {}),
    }),
  });
  return settleBatch(
    records,
    async (record) => {
      // Items are immutable once written: only their insertion means anything here.
      if (record.eventName !== 'INSERT') return;
      if (!record.newImage) {
        throw new Error('The record has no NEW_IMAGE: the stream view type must include new images.');
      }
      const work = fanoutWorkFor(streamTableOf(record.table, record.newImage), record.newImage);
      const sent = await fanout.run(work);
      deps.logger.debug?.('fanned out', { keys: record.keys, kind: work.kind, sent });
    },
    (record, error) => {
      deps.logger.error('fan-out failed; the stream retries the record', {
        keys: record.keys,
        sequenceNumber: record.sequenceNumber,
        error,
      });
      return record.sequenceNumber;
    },
  );
}
