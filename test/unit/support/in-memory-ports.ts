import type {
  IdempotencyRecord,
  IdempotencyStore,
  StoredResponse,
} from '../../../lambdas/api/domain/idempotency';
import {
  type Store,
  StoreAlreadyExistsError,
  type StoresRepository,
} from '../../../lambdas/stores/domain/stores';

/** In-memory stand-ins for the domain's ports, with the same conditional semantics as the DynamoDB adapters. */
export class InMemoryStoresRepository implements StoresRepository {
  readonly stores = new Map<string, Store>();
  readonly keys = new Map<string, string>();
  lookups = 0;

  async create(store: Store, apiKeyHash: string): Promise<void> {
    if (this.stores.has(store.id)) throw new StoreAlreadyExistsError(store.id);
    this.stores.set(store.id, store);
    this.keys.set(apiKeyHash, store.id);
  }

  async findStoreIdByApiKeyHash(apiKeyHash: string): Promise<string | undefined> {
    this.lookups += 1;
    return this.keys.get(apiKeyHash);
  }

  async get(id: string): Promise<Store | undefined> {
    return this.stores.get(id);
  }
}

export class InMemoryIdempotencyStore implements IdempotencyStore {
  readonly records = new Map<string, IdempotencyRecord>();

  async begin(record: IdempotencyRecord, now: number) {
    const existing = this.records.get(record.key);
    if (existing && existing.expiresAt >= now) return { began: false as const, existing };
    this.records.set(record.key, record);
    return { began: true as const };
  }

  async takeOver(key: string, expectedLockedUntil: number, lockedUntil: number): Promise<boolean> {
    const existing = this.records.get(key);
    if (existing?.status !== 'in_progress' || existing.lockedUntil !== expectedLockedUntil) return false;
    this.records.set(key, { ...existing, lockedUntil });
    return true;
  }

  async complete(key: string, response: StoredResponse, expiresAt: number): Promise<void> {
    const existing = this.records.get(key);
    if (existing) this.records.set(key, { ...existing, status: 'completed', response, expiresAt });
  }

  async release(key: string): Promise<void> {
    if (this.records.get(key)?.status === 'in_progress') this.records.delete(key);
  }
}
