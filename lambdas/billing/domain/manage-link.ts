import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Customers' manage links (docs/api.md section 3, `POST /v1/subscriptions/{id}/manage-link`): a token that is the
 * only credential of the manage page, scoped to one (store, subscription) and valid until it expires.
 *
 * A token is `v1.<payload>.<mac>`: the payload is base64url JSON `{"s": storeId, "u": subscriptionId, "x": expiry
 * in epoch seconds}`, the MAC is base64url HMAC-SHA256 of `v1.<payload>` under the key. The version prefix names
 * the format, so a later format (or another MAC) can be told apart and accepted beside this one.
 *
 * The key is a Secrets Manager secret. Its value is a keyring: one or more keys separated by whitespace or commas,
 * the first signs and every one verifies, so the key rotates without breaking the links already sent: put
 * `<new> <old>` for MANAGE_LINK_TTL, then `<new>`.
 */

export const MANAGE_TOKEN_VERSION = 'v1';

/** Keys shorter than this are refused: an HMAC key should be at least as long as its output would suggest. */
const MIN_KEY_LENGTH = 16;

/** Tokens longer than this are not parsed at all (ids are at most 128 characters each). */
const MAX_TOKEN_LENGTH = 1024;

export interface ManageLinkClaims {
  readonly storeId: string;
  readonly subscriptionId: string;
  /** Epoch milliseconds, whole seconds. */
  readonly expiresAt: number;
}

export type ManageTokenCheck =
  | { readonly valid: true; readonly claims: ManageLinkClaims }
  /** Why, for tests and metrics only: the page answers the same 404 for every reason. */
  | { readonly valid: false; readonly reason: 'malformed' | 'signature' | 'expired' };

/**
 * The keys of a secret's value, signing key first.
 * @throws when there is none, or one is too short to be a key.
 */
export function manageLinkKeyring(secretValue: string): readonly string[] {
  const keys = secretValue.split(/[\s,]+/).filter((key) => key.length > 0);
  if (keys.length === 0) throw new Error('The manage link key secret is empty.');
  if (keys.some((key) => key.length < MIN_KEY_LENGTH)) {
    throw new Error(`Every manage link key must be at least ${MIN_KEY_LENGTH} characters.`);
  }
  return keys;
}

/** A token for `claims`, signed with the keyring's first key. */
export function signManageToken(claims: ManageLinkClaims, keyring: readonly string[]): string {
  const [key] = keyring;
  if (key === undefined) throw new Error('No manage link key to sign with.');
  const payload = Buffer.from(
    JSON.stringify({ s: claims.storeId, u: claims.subscriptionId, x: Math.floor(claims.expiresAt / 1000) }),
  ).toString('base64url');
  const signed = `${MANAGE_TOKEN_VERSION}.${payload}`;
  return `${signed}.${mac(signed, key)}`;
}

/**
 * A new token for a subscription, valid `ttlMs` from `now` (rounded down to whole seconds).
 * @returns the token and its expiry (epoch ms).
 */
export function issueManageToken(
  subject: { readonly storeId: string; readonly subscriptionId: string },
  options: { readonly now: number; readonly ttlMs: number; readonly keyring: readonly string[] },
): { readonly token: string; readonly expiresAt: number } {
  const expiresAt = Math.floor((options.now + options.ttlMs) / 1000) * 1000;
  return { token: signManageToken({ ...subject, expiresAt }, options.keyring), expiresAt };
}

/**
 * Checks a token: its format, its MAC under any key of the keyring (compared in constant time), then its expiry
 * at `now` (epoch ms). A token is valid up to, not at, its expiry second.
 */
export function verifyManageToken(token: string, keyring: readonly string[], now: number): ManageTokenCheck {
  if (token.length > MAX_TOKEN_LENGTH) return { valid: false, reason: 'malformed' };
  const parts = token.split('.');
  const [version, payload, signature] = parts;
  if (
    parts.length !== 3 ||
    version !== MANAGE_TOKEN_VERSION ||
    !payload ||
    !signature ||
    !BASE64URL.test(payload) ||
    !BASE64URL.test(signature)
  ) {
    return { valid: false, reason: 'malformed' };
  }
  // The MAC's text, not its decoded bytes: base64url's last character carries bits a decoder drops, so another
  // character there would decode to the same MAC and a changed link would still open the page.
  const given = Buffer.from(signature);
  const signed = `${version}.${payload}`;
  // Every key is tried, whichever matches, so the time taken does not tell which one did.
  let matched = false;
  for (const key of keyring) {
    const expected = Buffer.from(mac(signed, key));
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) return { valid: false, reason: 'signature' };
  const claims = claimsOf(payload);
  if (!claims) return { valid: false, reason: 'malformed' };
  if (now >= claims.expiresAt) return { valid: false, reason: 'expired' };
  return { valid: true, claims };
}

/** The customer's page for a token: `<baseUrl>/manage/<token>`. */
export function manageUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${MANAGE_PAGE_PATH}/${encodeURIComponent(token)}`;
}

/** Where the manage page lives, outside `/v1` (no store key: the token is the credential). */
export const MANAGE_PAGE_PATH = '/manage';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function mac(signed: string, key: string): string {
  return createHmac('sha256', key).update(signed).digest('base64url');
}

function claimsOf(payload: string): ManageLinkClaims | undefined {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof decoded !== 'object' || decoded === null) return undefined;
  const { s, u, x } = decoded as Record<string, unknown>;
  if (typeof s !== 'string' || typeof u !== 'string' || s === '' || u === '') return undefined;
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) return undefined;
  return { storeId: s, subscriptionId: u, expiresAt: x * 1000 };
}
