import { createApi } from '../../../lambdas/api/create-api';
import type { ApiDependencies } from '../../../lambdas/api/services';
import type {
  AcceptedTransaction,
  TransactionsRepository,
} from '../../../lambdas/events/domain/transactions';
import { hashApiKey } from '../../../lambdas/stores/domain/api-keys';
import { callerFor } from './api-events';
import {
  InMemoryCharges,
  InMemoryDatafeeds,
  InMemoryRunQueue,
  InMemoryRuns,
  InMemorySubscriptions,
} from './in-memory-billing';
import { InMemoryIdempotencyStore, InMemoryStoresRepository } from './in-memory-ports';
import { silentLogger } from './logger';
import {
  checkKey,
  InMemoryAttemptsRepository,
  InMemoryEndpointStats,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
  InMemoryReplayQueue,
  TEST_DNS,
  tableResolver,
} from './webhook-fakes';

// The HTTP API over in-memory stand-ins for every port it has: the world of the API tests.

/** Accepts a transaction once per store and id, as the adapter's conditional put does. */
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

export const ADMIN_KEY = 'admin-key-for-tests-0123456789';
export const STORE_KEY = 'sk_store_acme_for_tests';
export const OTHER_STORE_KEY = 'sk_store_other_for_tests';
export const acme = { authorization: `Bearer ${STORE_KEY}` };
export const other = { authorization: `Bearer ${OTHER_STORE_KEY}` };

/**
 * Every port of the API as an in-memory fake, with no stores and a fixed clock; `overrides` replace any of them.
 */
export function webhookDependencies<Overrides extends Partial<ApiDependencies> = Record<never, never>>(
  overrides: Overrides = {} as Overrides,
) {
  const defaults = {
    stores: new InMemoryStoresRepository(),
    idempotency: new InMemoryIdempotencyStore(),
    transactions: new InMemoryTransactionsRepository(),
    events: new InMemoryEventsRepository(),
    endpoints: new InMemoryEndpointsRepository(),
    attempts: new InMemoryAttemptsRepository(),
    endpointStats: new InMemoryEndpointStats(),
    replays: new InMemoryReplayQueue(),
    billing: {
      subscriptions: new InMemorySubscriptions(),
      charges: new InMemoryCharges(),
      runs: new InMemoryRuns(),
      runQueue: new InMemoryRunQueue(),
      datafeeds: new InMemoryDatafeeds(),
    },
    resolver: tableResolver(TEST_DNS),
    webhookPolicy: { allowPrivate: false, requireHttps: false },
    now: () => Date.parse('2024-06-01T12:00:00.000Z'),
  };
  return { ...defaults, ...overrides } as Omit<typeof defaults, keyof Overrides> & Overrides;
}

/** The API over in-memory ports, with two stores (`acme`, `other`) and a settable clock. */
export async function webhookApi(
  options: { now?: number; allowPrivate?: boolean; requireHttps?: boolean } = {},
) {
  const clock = { now: options.now ?? Date.parse('2024-06-01T12:00:00.000Z') };
  const stores = new InMemoryStoresRepository();
  await stores.create({ id: 'acme', name: 'Acme', createdAt: '' }, hashApiKey(STORE_KEY));
  await stores.create({ id: 'other', name: 'Other', createdAt: '' }, hashApiKey(OTHER_STORE_KEY));
  const accepted: string[] = [];
  const base = webhookDependencies();
  const deps = {
    ...base,
    stores,
    webhookPolicy: {
      allowPrivate: options.allowPrivate ?? false,
      requireHttps: options.requireHttps ?? false,
    },
    onTransactionAccepted: (storeId: string) => accepted.push(storeId),
    now: () => clock.now,
  } satisfies ApiDependencies;
  const api = createApi(deps, silentLogger);
  const call = callerFor(api, ADMIN_KEY);
  return { api, call, deps, clock, accepted };
}

/** A JSON body and the store's key, as `call` takes them. */
export function json(body: unknown, headers: Record<string, string> = acme) {
  return { body: JSON.stringify(body), headers };
}
