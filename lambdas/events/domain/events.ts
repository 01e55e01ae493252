import { randomBytes } from 'node:crypto';
import { decodeTime, encodeTime, isValid, monotonicFactory } from 'ulid';

/**
 * Events: what webhooks carry (docs/api.md section 4). Ids are `evt_` + a ULID, so they sort by creation time:
 * the events table lists a store's events oldest first by key alone, and a time window is a key range.
 */
export const EVENT_TYPES = [
  'transaction.created',
  'subscription.created',
  'subscription.updated',
  'subscription.paused',
  'subscription.resumed',
  'subscription.charged',
  'subscription.payment_processing',
  'subscription.payment_failed',
  'subscription.canceled',
  'datafeed.ready',
  'webhook_endpoint.disabled',
  'webhook.test',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/**
 * What an endpoint can subscribe to (by name or by `*`): every type but `webhook.test`, which goes only to the
 * endpoint it tests, on request (docs/api.md section 4).
 */
export type SubscribableEventType = Exclude<EventType, 'webhook.test'>;
export const SUBSCRIBABLE_EVENT_TYPES = EVENT_TYPES.filter(
  (type) => type !== 'webhook.test',
) as readonly EventType[] as readonly [SubscribableEventType, ...SubscribableEventType[]];

/** The webhook body: `{id, type, createdAt, storeId, data}`. */
export interface PipelineEvent {
  readonly id: string;
  readonly type: EventType;
  readonly createdAt: string;
  readonly storeId: string;
  readonly data: unknown;
}

/**
 * Where an event entered the pipeline. `transaction` events are fanned out from the transactions table's stream;
 * the events table's own stream fans out only `direct` ones (written by the other paths in the same transaction
 * as their cause), so nothing is fanned out twice.
 */
export type EventOrigin = 'transaction' | 'direct';

const EVENT_ID_PREFIX = 'evt_';
const nextUlid = monotonicFactory(pooledRandom());

/**
 * ulid's random source, from a pool of cryptographically random bytes: ulid's default asks `crypto` for one byte
 * per character (16 calls per id, most of the cost of an id on the request path). Same distribution: a byte / 256.
 */
function pooledRandom(poolBytes = 1024): () => number {
  let pool = randomBytes(poolBytes);
  let next = 0;
  return () => {
    if (next >= pool.length) {
      pool = randomBytes(poolBytes);
      next = 0;
    }
    const byte = pool[next] ?? 0;
    next += 1;
    return byte / 256;
  };
}

export function newEventId(now: number = Date.now()): string {
  return EVENT_ID_PREFIX + nextUlid(now);
}

export function isEventId(value: string): boolean {
  return value.startsWith(EVENT_ID_PREFIX) && isValid(value.slice(EVENT_ID_PREFIX.length));
}

/** When the event with this id was created (epoch ms). */
export function eventIdTime(eventId: string): number {
  return decodeTime(eventId.slice(EVENT_ID_PREFIX.length));
}

/** The smallest id an event created at `time` (epoch ms) or later can have: the start of a key range. */
export function firstEventIdAt(time: number): string {
  return `${EVENT_ID_PREFIX}${encodeTime(time, 10)}${'0'.repeat(16)}`;
}

/** Which of a store's events `EventsRepository.list` returns (see there). */
export interface EventsQuery {
  readonly afterId?: string;
  readonly untilTime?: number;
  readonly types?: readonly EventType[];
  readonly limit: number;
  /** `desc`: newest first, strictly before `beforeId` when given (and still after `afterId`). @default 'asc' */
  readonly order?: 'asc' | 'desc';
  /** With `order: 'desc'`: the id to continue before (the previous page's `next`). */
  readonly beforeId?: string;
}

/** Port: the events table. */
export interface EventsRepository {
  /**
   * Stores the event unless it is already stored (same id): safe to repeat.
   * @returns whether this call stored it (false: an earlier call did, so this is a repetition).
   */
  put(event: PipelineEvent, origin: EventOrigin): Promise<boolean>;
  get(storeId: string, eventId: string): Promise<PipelineEvent | undefined>;
  /**
   * A store's events, oldest first, strictly after `afterId` (or from `firstEventIdAt(since)`) and before
   * `untilTime` when given, optionally of some types. `next` is the id to continue after, when there may be more.
   * With `order: 'desc'`, newest first down to `afterId`, from before `beforeId`; `next` is then the id to continue
   * before.
   */
  list(storeId: string, query: EventsQuery): Promise<{ events: PipelineEvent[]; next?: string }>;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * An event id that is a function of its time and a seed: the event of a fact recorded once (a charge's outcome,
 * a run's datafeed) gets the same id however often its announcement is repeated, so the events table's
 * conditional put stores it once. `digest` is a hash of the seed (at least 10 bytes).
 */
export function eventIdFor(time: number, digest: Uint8Array): string {
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[(digest[i % digest.length] ?? 0) % 32];
  return `${EVENT_ID_PREFIX}${encodeTime(time, 10)}${random}`;
}
