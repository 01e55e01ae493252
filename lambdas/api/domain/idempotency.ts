import { hash } from 'node:crypto';

/**
 * `Idempotency-Key` semantics of the IETF draft (draft-ietf-httpapi-idempotency-key-header), as Stripe applies
 * them: the first request with a key runs; a later one with the same key and the same request gets the first
 * response again; with another request, a mismatch error; while the first is still running, a conflict error.
 * A first request that failed on the server side (5xx, crash) leaves no record, so the client's retry runs anew.
 */

export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface IdempotencyRecord {
  /** The key scoped to its owner (a store or the admin), so two stores never share a key. */
  readonly key: string;
  readonly fingerprint: string;
  readonly status: 'in_progress' | 'completed';
  /** Epoch ms until which an in-progress record is held by its request; after it, a retry may take over. */
  readonly lockedUntil: number;
  /** Epoch ms after which the record is as good as absent (TTL removes it later). */
  readonly expiresAt: number;
  readonly response?: StoredResponse;
}

export interface IdempotencyStore {
  /** Writes the record unless a live one exists; then returns that one instead. */
  begin(
    record: IdempotencyRecord,
    now: number,
  ): Promise<{ began: true } | { began: false; existing: IdempotencyRecord }>;
  /** Takes over an in-progress record whose holder's lock expired; false if someone else did first. */
  takeOver(key: string, expectedLockedUntil: number, lockedUntil: number): Promise<boolean>;
  complete(key: string, response: StoredResponse, expiresAt: number): Promise<void>;
  /** Removes an in-progress record so that a retry can run the request again. */
  release(key: string): Promise<void>;
}

export class IdempotencyInFlightError extends Error {
  constructor(readonly key: string) {
    super(`Idempotency-Key "${key}" is in flight`);
    this.name = 'IdempotencyInFlightError';
  }
}

export class IdempotencyMismatchError extends Error {
  constructor(readonly key: string) {
    super(`Idempotency-Key "${key}" was used with another request`);
    this.name = 'IdempotencyMismatchError';
  }
}

export interface IdempotencyOptions {
  /** How long keys are kept: at least 24 h by contract. */
  readonly retentionMs: number;
  /** How long an in-flight request holds its key: longer than the function's timeout. */
  readonly lockMs: number;
  readonly now: () => number;
}

export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;

/**
 * A digest of what makes two requests "the same": method, path and the JSON body in canonical form. Stored with
 * every accepted transaction and idempotency record, so its text must never change (a retry after a deploy would
 * otherwise look like another request).
 */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  // The one-shot digest: the same bytes as createHash().update().digest('hex'), without a Hash object per request.
  return hash('sha256', `${method} ${path}\n${canonicalJson(body)}`, 'hex');
}

/**
 * JSON with object keys sorted, so that key order and whitespace do not make two bodies differ. Written as loops
 * over one string (no entry arrays, no closures): it runs on every accepted transaction. The text is what it always
 * was for JSON values: keys in code-unit order (Array.prototype.sort's default order for strings), properties whose
 * value is undefined left out, anything JSON.stringify gives no text for written as null.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i += 1) {
      if (i > 0) text += ',';
      text += canonicalJson(value[i]);
    }
    return `${text}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let text = '{';
  for (const key of keys) {
    const item = object[key];
    if (item === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${text}}`;
}

/**
 * Runs `execute` at most once per live key. Server errors (5xx responses and thrown errors) release the key.
 * @returns the response and whether it is a replay of the first one.
 * @throws IdempotencyInFlightError, IdempotencyMismatchError
 */
export async function runIdempotently(
  store: IdempotencyStore,
  request: { key: string; fingerprint: string },
  options: IdempotencyOptions,
  execute: () => Promise<StoredResponse>,
): Promise<{ response: StoredResponse; replayed: boolean }> {
  const now = options.now();
  const lockedUntil = now + options.lockMs;
  const outcome = await store.begin(
    {
      key: request.key,
      fingerprint: request.fingerprint,
      status: 'in_progress',
      lockedUntil,
      expiresAt: now + options.retentionMs,
    },
    now,
  );
  if (!outcome.began) {
    const existing = outcome.existing;
    if (existing.fingerprint !== request.fingerprint) throw new IdempotencyMismatchError(request.key);
    if (existing.status === 'completed' && existing.response)
      return { response: existing.response, replayed: true };
    // In progress: either its request is still running, or it crashed and its lock ran out.
    if (existing.lockedUntil > now) throw new IdempotencyInFlightError(request.key);
    if (!(await store.takeOver(request.key, existing.lockedUntil, lockedUntil))) {
      throw new IdempotencyInFlightError(request.key);
    }
  }

  let response: StoredResponse;
  try {
    response = await execute();
  } catch (error) {
    await releaseQuietly(store, request.key);
    throw error;
  }
  if (response.status >= 500) {
    await releaseQuietly(store, request.key);
  } else {
    await store.complete(request.key, response, options.now() + options.retentionMs);
  }
  return { response, replayed: false };
}

/** A release that fails must not hide the original error: the lock then runs out and a retry takes over. */
async function releaseQuietly(store: IdempotencyStore, key: string): Promise<void> {
  try {
    await store.release(key);
  } catch {
    // Intentionally ignored; see above.
  }
}
