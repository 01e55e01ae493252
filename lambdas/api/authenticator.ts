import { hashApiKey, secretsEqual } from '../stores/domain/api-keys';
import type { StoresRepository } from '../stores/domain/stores';
import type { ApiRequest } from './http/api-types';
import { problems } from './http/problem';

/**
 * Bearer-key authentication. Store keys are looked up by digest; a found key is remembered for `cacheTtlMs`
 * per execution environment so the hot path (accepting transactions) does not pay a read per request. The
 * price: a deleted key keeps working for at most `cacheTtlMs` in environments that had seen it.
 */
export class Authenticator {
  private readonly cache = new Map<string, { storeId: string; until: number }>();

  constructor(
    private readonly stores: StoresRepository,
    private readonly options: { now: () => number; cacheTtlMs?: number; maxCacheEntries?: number },
  ) {}

  /** The id of the store whose key the request carries. 401 otherwise. */
  async store(request: ApiRequest): Promise<string> {
    const key = bearerKey(request);
    const digest = hashApiKey(key);
    const now = this.options.now();
    const cached = this.cache.get(digest);
    if (cached && cached.until > now) return cached.storeId;
    const storeId = await this.stores.findStoreIdByApiKeyHash(digest);
    if (!storeId) throw problems.unauthorized('The API key is not valid for any store.');
    this.remember(digest, storeId, now);
    return storeId;
  }

  /** Passes when the request carries the admin key. 401 otherwise. */
  admin(request: ApiRequest, adminApiKey: string): void {
    if (!secretsEqual(bearerKey(request), adminApiKey)) {
      throw problems.unauthorized('This route needs the admin API key.');
    }
  }

  private remember(digest: string, storeId: string, now: number): void {
    if (this.cache.size >= (this.options.maxCacheEntries ?? 10_000)) {
      // Map iteration order is insertion order: drop the oldest entry.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(digest, { storeId, until: now + (this.options.cacheTtlMs ?? 60_000) });
  }
}

function bearerKey(request: ApiRequest): string {
  const header = request.headers.authorization;
  if (!header) throw problems.unauthorized('Send your API key as "Authorization: Bearer <key>".');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw problems.unauthorized('The Authorization header must be "Bearer <key>".');
  return match[1];
}
