import { ulid } from 'ulid';
import { createApi } from '../../../lambdas/api/create-api';
import type { ApiDependencies } from '../../../lambdas/api/services';
import { hashApiKey } from '../../../lambdas/domain/api-keys';
import {
  type EventOrigin,
  type EventsRepository,
  type EventType,
  firstEventIdAt,
  type PipelineEvent,
} from '../../../lambdas/domain/events';
import type { AcceptedTransaction, TransactionsRepository } from '../../../lambdas/domain/transactions';
import type { HostResolver } from '../../../lambdas/domain/webhook-target';
import type { AttemptsRepository, DeliveryAttempt } from '../../../lambdas/domain/webhooks/attempts';
import type {
  DisabledReason,
  Endpoint,
  EndpointsRepository,
} from '../../../lambdas/domain/webhooks/endpoints';
import type { ReplayJob, ReplayQueue } from '../../../lambdas/domain/webhooks/messages';
import { apiEvent } from './api-events';
import { InMemoryIdempotencyStore, InMemoryStoresRepository, silentLogger } from './in-memory-ports';

/** DynamoDB refuses key values that are empty or over 1024 bytes with a ValidationException: so do the fakes. */
function checkKey(...values: readonly string[]): void {
  for (const value of values) {
    if (value === '' || Buffer.byteLength(value) > 1024) {
      throw Object.assign(new Error('key value out of bounds'), { name: 'ValidationException' });
    }
  }
}

/** In-memory stand-ins for the webhook side's ports, with the DynamoDB adapters' conditional semantics. */
export class InMemoryTransactionsRepository implements TransactionsRepository {
  readonly items = new Map<string, AcceptedTransaction>();
  writes = 0;

  async accept(record: AcceptedTransaction) {
    checkKey(record.storeId, record.txnId);
    this.writes += 1;
    const existing = this.items.get(`${record.storeId}#${record.txnId}`);
    if (existing) {
      return {
        accepted: false as const,
        existing: { eventId: existing.eventId, fingerprint: existing.fingerprint },
      };
    }
    this.items.set(`${record.storeId}#${record.txnId}`, record);
    return { accepted: true as const };
  }
}

export class InMemoryEventsRepository implements EventsRepository {
  readonly items = new Map<string, PipelineEvent & { origin: EventOrigin }>();

  async put(event: PipelineEvent, origin: EventOrigin): Promise<boolean> {
    const key = `${event.storeId}#${event.id}`;
    if (this.items.has(key)) return false;
    this.items.set(key, { ...event, origin });
    return true;
  }

  async get(storeId: string, eventId: string): Promise<PipelineEvent | undefined> {
    const item = this.items.get(`${storeId}#${eventId}`);
    return item ? withoutOrigin(item) : undefined;
  }

  async list(
    storeId: string,
    query: { afterId?: string; untilTime?: number; types?: readonly EventType[]; limit: number },
  ) {
    checkKey(storeId, ...(query.afterId === undefined ? [] : [query.afterId]));
    const until = query.untilTime === undefined ? undefined : firstEventIdAt(query.untilTime);
    const matching = [...this.items.values()]
      .filter((e) => e.storeId === storeId)
      .filter((e) => query.afterId === undefined || e.id > query.afterId)
      .filter((e) => until === undefined || e.id < until)
      .filter((e) => !query.types || query.types.includes(e.type))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const events = matching.slice(0, query.limit).map(withoutOrigin);
    const last = events.at(-1);
    return matching.length > query.limit && last ? { events, next: last.id } : { events };
  }
}

function withoutOrigin({
  origin: _origin,
  ...event
}: PipelineEvent & { origin: EventOrigin }): PipelineEvent {
  return event;
}

export class InMemoryEndpointsRepository implements EndpointsRepository {
  readonly items = new Map<string, Endpoint>();

  async create(endpoint: Endpoint): Promise<void> {
    const key = `${endpoint.storeId}#${endpoint.id}`;
    if (this.items.has(key)) throw new Error(`endpoint ${endpoint.id} exists`);
    this.items.set(key, endpoint);
  }

  async get(storeId: string, id: string): Promise<Endpoint | undefined> {
    checkKey(storeId, id);
    return this.items.get(`${storeId}#${id}`);
  }

  async list(storeId: string): Promise<Endpoint[]> {
    return [...this.items.values()].filter((e) => e.storeId === storeId);
  }

  async update(storeId: string, id: string, changes: Parameters<EndpointsRepository['update']>[2]) {
    checkKey(storeId, id);
    const existing = this.items.get(`${storeId}#${id}`);
    if (!existing) return undefined;
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    let updated: Endpoint = { ...existing, ...defined };
    if (changes.status === 'enabled') {
      const { disabledReason: _reason, failingSince: _since, ...healthy } = updated;
      updated = healthy;
    }
    this.items.set(`${storeId}#${id}`, updated);
    return updated;
  }

  async delete(storeId: string, id: string): Promise<boolean> {
    checkKey(storeId, id);
    return this.items.delete(`${storeId}#${id}`);
  }

  async recordFailure(storeId: string, id: string, at: string): Promise<string | undefined> {
    const existing = this.items.get(`${storeId}#${id}`);
    if (!existing) return undefined;
    const failingSince = existing.failingSince ?? at;
    this.items.set(`${storeId}#${id}`, { ...existing, failingSince });
    return failingSince;
  }

  async recordSuccess(storeId: string, id: string): Promise<void> {
    const existing = this.items.get(`${storeId}#${id}`);
    if (!existing) return;
    const { failingSince: _since, ...healthy } = existing;
    this.items.set(`${storeId}#${id}`, healthy);
  }

  async disable(storeId: string, id: string, reason: DisabledReason, at: string): Promise<void> {
    const existing = this.items.get(`${storeId}#${id}`);
    if (existing?.status !== 'enabled') return;
    this.items.set(`${storeId}#${id}`, {
      ...existing,
      status: 'disabled',
      disabledReason: reason,
      updatedAt: at,
    });
  }
}

export class InMemoryAttemptsRepository implements AttemptsRepository {
  readonly attempts: DeliveryAttempt[] = [];

  async record(attempt: DeliveryAttempt): Promise<void> {
    this.attempts.push(attempt);
  }

  async hasSucceeded(endpointId: string, eventId: string, replayId?: string): Promise<boolean> {
    return this.attempts.some(
      (a) =>
        a.endpointId === endpointId &&
        a.eventId === eventId &&
        a.replayId === replayId &&
        a.status === 'succeeded',
    );
  }

  async list(endpointId: string, limit: number): Promise<DeliveryAttempt[]> {
    checkKey(endpointId);
    const key = (a: DeliveryAttempt) =>
      `${a.eventId}#${a.replayId ?? '0'}#${String(a.attempt).padStart(3, '0')}`;
    return this.attempts
      .filter((a) => a.endpointId === endpointId)
      .sort((a, b) => (key(a) < key(b) ? 1 : -1))
      .slice(0, limit);
  }
}

export class InMemoryReplayQueue implements ReplayQueue {
  readonly jobs: ReplayJob[] = [];

  async send(job: ReplayJob): Promise<void> {
    this.jobs.push(job);
  }
}

/**
 * An event id created at `time`. newEventId is monotonic per process (a later call never sorts before an earlier
 * one), so tests that place events at chosen past times build their ids here.
 */
export function eventIdAt(time: number | string): string {
  return `evt_${ulid(typeof time === 'string' ? Date.parse(time) : time)}`;
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

export const ADMIN_KEY = 'admin-key-for-tests-0123456789';
export const STORE_KEY = 'sk_store_acme_for_tests';
export const OTHER_STORE_KEY = 'sk_store_other_for_tests';
export const acme = { authorization: `Bearer ${STORE_KEY}` };
export const other = { authorization: `Bearer ${OTHER_STORE_KEY}` };

/** The API over in-memory ports, with two stores (`acme`, `other`) and a settable clock. */
export async function webhookApi(
  options: { now?: number; allowPrivate?: boolean; requireHttps?: boolean } = {},
) {
  const clock = { now: options.now ?? Date.parse('2024-06-01T12:00:00.000Z') };
  const stores = new InMemoryStoresRepository();
  await stores.create({ id: 'acme', name: 'Acme', createdAt: '' }, hashApiKey(STORE_KEY));
  await stores.create({ id: 'other', name: 'Other', createdAt: '' }, hashApiKey(OTHER_STORE_KEY));
  const accepted: string[] = [];
  const deps = {
    stores,
    idempotency: new InMemoryIdempotencyStore(),
    transactions: new InMemoryTransactionsRepository(),
    events: new InMemoryEventsRepository(),
    endpoints: new InMemoryEndpointsRepository(),
    attempts: new InMemoryAttemptsRepository(),
    replays: new InMemoryReplayQueue(),
    resolver: tableResolver(TEST_DNS),
    webhookPolicy: {
      allowPrivate: options.allowPrivate ?? false,
      requireHttps: options.requireHttps ?? false,
    },
    onTransactionAccepted: (storeId: string) => accepted.push(storeId),
    now: () => clock.now,
  } satisfies ApiDependencies;
  const api = createApi(deps, silentLogger);
  const call = async (...args: Parameters<typeof apiEvent>) => {
    const result = await api(apiEvent(...args), { adminApiKey: ADMIN_KEY });
    const text = typeof result.body === 'string' ? result.body : '';
    return {
      status: result.statusCode ?? 0,
      headers: (result.headers ?? {}) as Record<string, string>,
      body: text ? JSON.parse(text) : undefined,
    };
  };
  return { api, call, deps, clock, accepted };
}

/** A JSON body and the store's key, as `call` takes them. */
export function json(body: unknown, headers: Record<string, string> = acme) {
  return { body: JSON.stringify(body), headers };
}
