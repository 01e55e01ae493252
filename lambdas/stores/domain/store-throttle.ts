/**
 * Per-store request limits: a token bucket per store, so that one store's spike is answered 429 while the
 * others keep their share. Kept in memory per execution environment (no write on the hot path; the account-wide
 * ceiling is the HTTP API's stage throttle).
 */
export interface StoreThrottleLimits {
  /** Tokens added per second. */
  readonly rateLimit: number;
  /** The bucket's size: the burst a quiet store may send at once. */
  readonly burstLimit: number;
}

export type ThrottleDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

export class StoreThrottle {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limits: StoreThrottleLimits,
    private readonly options: { maxStores?: number } = {},
  ) {
    if (!(limits.rateLimit > 0) || !(limits.burstLimit >= 1)) {
      throw new Error('StoreThrottle: rateLimit must be > 0 and burstLimit >= 1.');
    }
  }

  /** Takes one token for `storeId` at `now` (epoch ms). */
  take(storeId: string, now: number): ThrottleDecision {
    const { rateLimit, burstLimit } = this.limits;
    const bucket = this.buckets.get(storeId) ?? { tokens: burstLimit, at: now };
    bucket.tokens = Math.min(burstLimit, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * rateLimit);
    bucket.at = now;
    // Re-inserted so the map's order is least recently used first, for the eviction below.
    this.buckets.delete(storeId);
    this.buckets.set(storeId, bucket);
    if (this.buckets.size > (this.options.maxStores ?? 10_000)) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / rateLimit)) };
  }
}
