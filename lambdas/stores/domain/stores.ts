import { generateStoreApiKey, hashApiKey } from './api-keys';

/** A merchant's store: the tenant every resource belongs to. */
export interface Store {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
}

export interface StoresRepository {
  /** Creates the store and its key index atomically. @throws StoreAlreadyExistsError */
  create(store: Store, apiKeyHash: string): Promise<void>;
  /** The id of the store whose key has this digest, if any. */
  findStoreIdByApiKeyHash(apiKeyHash: string): Promise<string | undefined>;
  get(id: string): Promise<Store | undefined>;
}

export class StoreAlreadyExistsError extends Error {
  constructor(readonly storeId: string) {
    super(`A store with id "${storeId}" already exists.`);
    this.name = 'StoreAlreadyExistsError';
  }
}

/** Store ids appear in URLs, keys and datafeeds: keep them short and unambiguous. */
export const STORE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Creates a store with a new API key (or `options.apiKey`, which the local stack uses to give the demo store a
 * key chosen by configuration). The key is returned once; only its digest is kept.
 */
export async function createStore(
  repository: StoresRepository,
  input: { id: string; name: string },
  options: { apiKey?: string; now?: Date } = {},
): Promise<Store & { apiKey: string }> {
  if (!STORE_ID_PATTERN.test(input.id)) throw new Error(`Invalid store id "${input.id}"`);
  const apiKey = options.apiKey ?? generateStoreApiKey();
  const store: Store = {
    id: input.id,
    name: input.name,
    createdAt: (options.now ?? new Date()).toISOString(),
  };
  await repository.create(store, hashApiKey(apiKey));
  return { ...store, apiKey };
}
