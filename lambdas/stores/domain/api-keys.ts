import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Store API keys: 256 random bits, shown once, stored only as a SHA-256 digest. A slow hash (bcrypt, scrypt)
 * protects low-entropy passwords; for a 256-bit random key a plain digest is already infeasible to invert,
 * and it lets a request find its store with one key lookup.
 */
const STORE_KEY_PREFIX = 'sk_store_';

export function generateStoreApiKey(): string {
  return STORE_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashApiKey(apiKey: string): string {
  // One-shot: the same digest as createHash().update(key, 'utf8').digest('hex'), on every store request.
  return hash('sha256', apiKey, 'hex');
}

/** Compares two secrets in time independent of where they differ (digests make the lengths equal). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
