import { ulid } from 'ulid';
import {
  type EventOrigin,
  type EventsQuery,
  type EventsRepository,
  eventIdTime,
  firstEventIdAt,
  type PipelineEvent,
} from '../../../lambdas/events/domain/events';
import {
  type AttemptsPage,
  type AttemptsQuery,
  attemptPosition,
} from '../../../lambdas/webhooks/domain/attempt-log';
import type {
  AttemptsRepository,
  ClaimResult,
  DeliveryAttempt,
  DeliveryRef,
  SendingLease,
} from '../../../lambdas/webhooks/domain/attempts';
import type { AttemptResult, WebhookSender } from '../../../lambdas/webhooks/domain/delivery';
import type { EndpointStatsRepository, HourCounts } from '../../../lambdas/webhooks/domain/endpoint-stats';
import type {
  DisabledReason,
  Endpoint,
  EndpointsRepository,
} from '../../../lambdas/webhooks/domain/endpoints';
import type {
  DeliveryMessage,
  DeliveryQueue,
  RefeedJob,
  ReplayQueue,
} from '../../../lambdas/webhooks/domain/messages';
import type { HostResolver } from '../../../lambdas/webhooks/domain/target';

// In-memory stand-ins for the events and webhook ports (and fixtures to feed them), shared by the API, fan-out
// and delivery tests, with the semantics of the DynamoDB adapters (conditional writes, key bounds, sort orders).

/**
 * The reads and writes a table would see, shared by the repositories given the same `Io`, so that a test can
 * assert what a delivery costs.
 */
export class Io {
  reads = 0;
  writes = 0;
}

/** DynamoDB refuses key values that are empty or over 1024 bytes with a ValidationException: so do the fakes. */
export function checkKey(...values: readonly string[]): void {
  for (const value of values) {
    if (value === '' || Buffer.byteLength(value) > 1024) {
      throw Object.assign(new Error('key value out of bounds'), { name: 'ValidationException' });
    }
  }
}

const itemKey = (storeId: string, id: string) => `${storeId}#${id}`;

export class InMemoryEventsRepository implements EventsRepository {
  readonly items = new Map<string, { event: PipelineEvent; origin: EventOrigin }>();

  constructor(readonly io = new Io()) {}

  async put(event: PipelineEvent, origin: EventOrigin): Promise<boolean> {
    this.io.writes += 1;
    if (this.items.has(itemKey(event.storeId, event.id))) return false;
    this.seed(event, origin);
    return true;
  }

  async get(storeId: string, eventId: string): Promise<PipelineEvent | undefined> {
    this.io.reads += 1;
    return this.items.get(itemKey(storeId, eventId))?.event;
  }

  async list(storeId: string, query: EventsQuery): Promise<{ events: PipelineEvent[]; next?: string }> {
    this.io.reads += 1;
    checkKey(storeId, ...(query.afterId === undefined ? [] : [query.afterId]));
    const until = query.untilTime === undefined ? undefined : firstEventIdAt(query.untilTime);
    const matching = [...this.items.values()]
      .map(({ event }) => event)
      .filter((e) => e.storeId === storeId)
      .filter((e) => query.afterId === undefined || e.id > query.afterId)
      .filter((e) => until === undefined || e.id < until)
      .filter((e) => !query.types || query.types.includes(e.type))
      .filter((e) => query.order !== 'desc' || query.beforeId === undefined || e.id < query.beforeId)
      .sort((a, b) => (a.id < b.id ? -1 : 1) * (query.order === 'desc' ? -1 : 1));
    const events = matching.slice(0, query.limit);
    const last = events.at(-1);
    return matching.length > query.limit && last ? { events, next: last.id } : { events };
  }

  /** Stores an event without counting it (test set-up). */
  seed(event: PipelineEvent, origin: EventOrigin = 'direct'): void {
    this.items.set(itemKey(event.storeId, event.id), { event, origin });
  }
}

export class InMemoryEndpointsRepository implements EndpointsRepository {
  readonly items = new Map<string, Endpoint>();

  constructor(readonly io = new Io()) {}

  /** Stores an endpoint without counting it (test set-up). */
  seed(endpoint: Endpoint): void {
    this.items.set(itemKey(endpoint.storeId, endpoint.id), endpoint);
  }

  async create(endpoint: Endpoint): Promise<void> {
    this.io.writes += 1;
    if (this.items.has(itemKey(endpoint.storeId, endpoint.id)))
      throw new Error(`endpoint ${endpoint.id} exists`);
    this.seed(endpoint);
  }

  async get(storeId: string, id: string): Promise<Endpoint | undefined> {
    this.io.reads += 1;
    checkKey(storeId, id);
    return this.items.get(itemKey(storeId, id));
  }

  async list(storeId: string): Promise<Endpoint[]> {
    this.io.reads += 1;
    return [...this.items.values()].filter((e) => e.storeId === storeId);
  }

  async update(storeId: string, id: string, changes: Parameters<EndpointsRepository['update']>[2]) {
    this.io.writes += 1;
    checkKey(storeId, id);
    const existing = this.items.get(itemKey(storeId, id));
    if (!existing) return undefined;
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    let updated: Endpoint = { ...existing, ...defined };
    // As the adapter: null removes the attribute (rateLimit, headers).
    for (const [field, value] of Object.entries(changes)) {
      if (value === null) delete (updated as unknown as Record<string, unknown>)[field];
    }
    // As the adapter: enabling an endpoint also clears why it was disabled and its run of failures.
    if (changes.status === 'enabled') {
      const { disabledReason: _reason, failingSince: _since, ...healthy } = updated;
      updated = healthy;
    }
    this.seed(updated);
    return updated;
  }

  async delete(storeId: string, id: string): Promise<boolean> {
    this.io.writes += 1;
    checkKey(storeId, id);
    return this.items.delete(itemKey(storeId, id));
  }

  async recordFailure(storeId: string, id: string, at: string): Promise<string | undefined> {
    this.io.writes += 1;
    const existing = this.items.get(itemKey(storeId, id));
    if (!existing) return undefined;
    const failingSince = existing.failingSince ?? at;
    this.seed({ ...existing, failingSince });
    return failingSince;
  }

  async recordSuccess(storeId: string, id: string): Promise<void> {
    this.io.writes += 1;
    const existing = this.items.get(itemKey(storeId, id));
    if (!existing) return;
    const { failingSince: _, ...healthy } = existing;
    this.seed(healthy);
  }

  async disable(storeId: string, id: string, reason: DisabledReason, at: string): Promise<boolean> {
    this.io.writes += 1;
    const existing = this.items.get(itemKey(storeId, id));
    if (existing?.status !== 'enabled') return false;
    this.seed({ ...existing, status: 'disabled', disabledReason: reason, updatedAt: at });
    return true;
  }
}

export class InMemoryAttemptsRepository implements AttemptsRepository {
  /** Every attempt on record, in the order recorded (a failure written again under its key replaces itself). */
  readonly attempts: DeliveryAttempt[] = [];
  /** Live and expired leases, by delivery. */
  readonly leases = new Map<string, SendingLease>();

  constructor(readonly io = new Io()) {}

  async claim(delivery: DeliveryRef, lease: SendingLease, now: number): Promise<ClaimResult> {
    this.io.writes += 1;
    const key = deliveryKey(delivery);
    if (this.succeeded(key)) return { kind: 'succeeded' };
    const held = this.leases.get(key);
    if (held && held.until > now) return { kind: 'held', until: held.until, holder: held.holder };
    this.leases.set(key, lease);
    return { kind: 'claimed', tookOver: held !== undefined };
  }

  async record(attempt: DeliveryAttempt): Promise<void> {
    this.io.writes += 1;
    const key = deliveryKey(attempt);
    if (attempt.status === 'succeeded') {
      if (this.succeeded(key)) return;
      this.leases.delete(key);
      this.attempts.push(attempt);
      return;
    }
    const same = this.attempts.findIndex(
      (a) => a.status === 'failed' && deliveryKey(a) === key && a.attempt === attempt.attempt,
    );
    if (same >= 0) this.attempts.splice(same, 1);
    this.attempts.push(attempt);
  }

  async release(delivery: DeliveryRef, holder: string): Promise<void> {
    this.io.writes += 1;
    const key = deliveryKey(delivery);
    if (this.leases.get(key)?.holder === holder) this.leases.delete(key);
  }

  async hasSucceeded(endpointId: string, eventId: string, replayId?: string): Promise<boolean> {
    this.io.reads += 1;
    return this.succeeded(deliveryKey({ endpointId, eventId, ...(replayId ? { replayId } : {}) }));
  }

  async succeededEventIds(
    endpointId: string,
    firstEventId: string,
    lastEventId: string,
  ): Promise<ReadonlySet<string>> {
    this.io.reads += 1;
    return new Set(
      this.attempts
        .filter(
          (a) =>
            a.endpointId === endpointId &&
            a.status === 'succeeded' &&
            a.eventId >= firstEventId &&
            a.eventId <= lastEventId,
        )
        .map((a) => a.eventId),
    );
  }

  /** Newest first, in the adapter's key order, with its filters and its bound on the items read per page. */
  async list(endpointId: string, query: AttemptsQuery): Promise<AttemptsPage> {
    this.io.reads += 1;
    checkKey(endpointId);
    const positioned = this.attempts
      .filter((a) => a.endpointId === endpointId)
      .map((attempt) => ({ attempt, position: attemptPosition(attempt) }))
      .filter(({ position }) => query.after === undefined || position < query.after)
      .filter(({ position }) => query.eventId === undefined || position.startsWith(`${query.eventId}#`))
      .sort((a, b) => (a.position < b.position ? 1 : -1));
    // As the adapter: at most `maxRead` items are evaluated, then the page ends with a `next`.
    const read = positioned.slice(0, this.maxRead);
    const matching = read.filter(({ attempt }) => !query.status || attempt.status === query.status);
    const page = matching.slice(0, query.limit);
    const more = matching.length > query.limit || positioned.length > read.length;
    const next =
      matching.length > query.limit ? page.at(-1)?.position : more ? read.at(-1)?.position : undefined;
    return { attempts: page.map(({ attempt }) => attempt), ...(next !== undefined ? { next } : {}) };
  }

  /** The adapter's bound on the items one `list` evaluates (settable to test short pages). */
  maxRead = 500;

  private succeeded(key: string): boolean {
    return this.attempts.some((a) => a.status === 'succeeded' && deliveryKey(a) === key);
  }
}

function deliveryKey(delivery: DeliveryRef): string {
  return `${delivery.endpointId}#${delivery.eventId}#${delivery.replayId ?? '0'}`;
}

export class FakeDeliveryQueue implements DeliveryQueue {
  readonly sent: DeliveryMessage[] = [];
  readonly deadLettered: { message: DeliveryMessage; reason: string }[] = [];
  sendCalls = 0;

  async send(messages: readonly DeliveryMessage[]): Promise<void> {
    this.sendCalls += 1;
    this.sent.push(...messages);
  }

  async sendToDeadLetter(message: DeliveryMessage, reason: string): Promise<void> {
    this.deadLettered.push({ message, reason });
  }
}

export class InMemoryReplayQueue implements ReplayQueue {
  readonly jobs: RefeedJob[] = [];

  async send(job: RefeedJob): Promise<void> {
    this.jobs.push(job);
  }
}

/** Answers each POST with the next scripted result (the last one repeats), recording what was sent. */
export class ScriptedSender implements WebhookSender {
  readonly requests: { url: string; body: string; headers: Readonly<Record<string, string>> }[] = [];

  constructor(private readonly script: (AttemptResult | ((url: string) => Promise<AttemptResult>))[]) {}

  async post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<AttemptResult> {
    this.requests.push({ url, body, headers });
    const next = this.script.length > 1 ? this.script.shift() : this.script[0];
    if (next === undefined) throw new Error('ScriptedSender has no script');
    return typeof next === 'function' ? next(url) : next;
  }
}

/** A resolver over a fixed table: unknown names do not resolve, as with ENOTFOUND. */
export function tableResolver(table: Readonly<Record<string, readonly string[]>>): HostResolver {
  return {
    resolve: async (host) => {
      const found = table[host];
      if (!found) throw new Error(`ENOTFOUND ${host}`);
      return found;
    },
  };
}

export const TEST_DNS = {
  'hooks.example.com': ['93.184.216.34'],
  'other.example.com': ['93.184.216.35'],
  'internal.example.com': ['10.0.0.5'],
  'rebind.example.com': ['93.184.216.34', '127.0.0.1'],
} as const;

export const TEST_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export function endpointFixture(overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    id: 'ep_1',
    storeId: 'store_1',
    url: 'https://hooks.example.com/in',
    events: ['*'],
    status: 'enabled',
    secrets: [{ secret: TEST_SECRET }],
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function eventFixture(id: string, overrides: Partial<PipelineEvent> = {}): PipelineEvent {
  return {
    id,
    type: 'transaction.created',
    createdAt: new Date(eventIdTime(id)).toISOString(),
    storeId: 'store_1',
    data: { txnId: 'txn_1', amount: 1200, currency: 'EUR' },
    ...overrides,
  };
}

/**
 * An event id created at `time`. newEventId is monotonic per process (a later call never sorts before an earlier
 * one), so tests that place events at chosen past times build their ids here.
 */
export function eventIdAt(time: number | string): string {
  return `evt_${ulid(typeof time === 'string' ? Date.parse(time) : time)}`;
}

/** Delivery metrics that keep what they were told. */
export class RecordingMetrics {
  readonly attempts: { succeeded: boolean; durationMs: number }[] = [];
  readonly counts: string[] = [];
  attempted(succeeded: boolean, durationMs: number): void {
    this.attempts.push({ succeeded, durationMs });
  }
  count(name: string): void {
    this.counts.push(name);
  }
}

/** The hourly counters of endpoint stats, as the adapter keeps them (ADDs, the later last success). */
export class InMemoryEndpointStats implements EndpointStatsRepository {
  readonly items = new Map<string, HourCounts>();
  writes = 0;
  reads = 0;

  async add(endpointId: string, counts: HourCounts): Promise<void> {
    this.writes += 1;
    const key = `${endpointId}#${counts.hour}`;
    const existing = this.items.get(key) ?? { hour: counts.hour, succeeded: 0, failed: 0 };
    const last = [existing.lastSucceededAt, counts.lastSucceededAt].filter(Boolean).sort().at(-1);
    this.items.set(key, {
      hour: counts.hour,
      succeeded: existing.succeeded + counts.succeeded,
      failed: existing.failed + counts.failed,
      ...(last ? { lastSucceededAt: last } : {}),
    });
  }

  async hours(endpointId: string, fromHour: string): Promise<HourCounts[]> {
    this.reads += 1;
    return [...this.items.entries()]
      .filter(([key, counts]) => key.startsWith(`${endpointId}#`) && counts.hour >= fromHour)
      .map(([, counts]) => counts)
      .sort((a, b) => (a.hour < b.hour ? -1 : 1));
  }
}
