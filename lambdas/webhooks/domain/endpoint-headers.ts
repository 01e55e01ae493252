/**
 * Custom headers of an endpoint (docs/api.md section 3): what a receiver wants with every delivery besides the
 * Standard Webhooks headers, e.g. an `Authorization` (Zapier catch hooks behind auth) or a shop header. Their values
 * are the merchant's secrets: they are never logged, and an authorization value is masked when read back.
 */

/** At most this many custom headers per endpoint. */
export const MAX_CUSTOM_HEADERS = 20;
export const MAX_HEADER_NAME_LENGTH = 256;
export const MAX_HEADER_VALUE_LENGTH = 2048;
/** Names and values together: receivers refuse large header blocks (Node's default limit is 16 KiB in all). */
export const MAX_HEADERS_TOTAL_LENGTH = 8192;

/**
 * Names the pipeline sets itself or that change how HTTP carries the request: refused, case-insensitively. The
 * signature's headers (`webhook-*`) and the body's (`content-*`) must be the pipeline's; the rest are hop-by-hop or
 * framing headers a receiver would misread.
 */
const RESERVED_NAMES = new Set([
  'host',
  'user-agent',
  'connection',
  'transfer-encoding',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'proxy-connection',
]);
const RESERVED_PREFIXES = ['webhook-', 'content-'];

/** RFC 9110 token: what an HTTP field name is made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab: no CR, LF, NUL or other control character, nothing Node would refuse to send. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
/** Header values whose contents are credentials: masked when read back. */
const MASKED_NAMES = new Set(['authorization', 'proxy-authorization']);
/** Credentials at least this long keep their last 4 characters when masked; shorter ones are masked whole. */
const MIN_LENGTH_TO_SHOW_TAIL = 12;
const MASK = '****';

export type CustomHeaders = Readonly<Record<string, string>>;

/** A problem with the custom headers: `path` under the `headers` field (a header's name), or empty for the whole. */
export interface HeaderProblem {
  readonly path: readonly string[];
  readonly message: string;
}

export function isReservedHeaderName(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_NAMES.has(lower) || RESERVED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/**
 * Checks custom headers as sent in a request body. The messages never quote a value (it may be a secret). Returns
 * the headers as an object of own properties (a name like `__proto__` is kept as data, never as a prototype).
 */
export function parseCustomHeaders(
  input: unknown,
): { ok: true; headers: CustomHeaders } | { ok: false; problems: HeaderProblem[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return {
      ok: false,
      problems: [{ path: [], message: 'must be an object of header names to string values' }],
    };
  }
  const entries = Object.entries(input);
  const problems: HeaderProblem[] = [];
  if (entries.length > MAX_CUSTOM_HEADERS) {
    problems.push({ path: [], message: `must hold at most ${MAX_CUSTOM_HEADERS} headers` });
  }
  const seen = new Set<string>();
  let total = 0;
  for (const [name, value] of entries) {
    const path = [name];
    const lower = name.toLowerCase();
    if (!TOKEN.test(name) || name.length > MAX_HEADER_NAME_LENGTH) {
      problems.push({
        path,
        message: `must be a valid HTTP header name (letters, digits and !#$%&'*+-.^_\`|~, at most ${MAX_HEADER_NAME_LENGTH})`,
      });
    } else if (isReservedHeaderName(name)) {
      problems.push({ path, message: 'is a reserved header name: the pipeline sets it, or HTTP owns it' });
    } else if (seen.has(lower)) {
      problems.push({ path, message: 'repeats a header name (names are case-insensitive)' });
    }
    seen.add(lower);
    if (typeof value !== 'string') {
      problems.push({ path, message: 'must be a string' });
      continue;
    }
    total += name.length + value.length;
    if (!FIELD_VALUE.test(value)) {
      problems.push({
        path,
        message: 'must hold printable ASCII only: no CR, LF, NUL or other control character',
      });
    } else if (value !== value.trim()) {
      problems.push({ path, message: 'must not start or end with whitespace' });
    } else if (value.length > MAX_HEADER_VALUE_LENGTH) {
      problems.push({ path, message: `must be at most ${MAX_HEADER_VALUE_LENGTH} characters` });
    } else if (MASKED_NAMES.has(lower) && value.includes(MASK)) {
      problems.push({
        path,
        message: 'looks like the masked value read back: send the whole value, or leave the header out',
      });
    }
  }
  if (total > MAX_HEADERS_TOTAL_LENGTH) {
    problems.push({
      path: [],
      message: `names and values must total at most ${MAX_HEADERS_TOTAL_LENGTH} characters`,
    });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, headers: Object.fromEntries(entries) };
}

/**
 * The headers as the API shows them: an authorization value keeps its scheme and, when the credentials are long
 * enough not to give much away, their last 4 characters (`Bearer ****f00d`); a short one is masked whole
 * (`Bearer ****`). Other values are shown as stored.
 */
export function maskedHeaders(headers: CustomHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [
      name,
      MASKED_NAMES.has(name.toLowerCase()) ? maskCredentials(value) : value,
    ]),
  );
}

export function maskCredentials(value: string): string {
  const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]+(\S.*)$/.exec(value);
  const scheme = match?.[1];
  const credentials = match?.[2] ?? value;
  const tail = credentials.length >= MIN_LENGTH_TO_SHOW_TAIL ? credentials.slice(-4) : '';
  return `${scheme !== undefined ? `${scheme} ` : ''}${MASK}${tail}`;
}

/**
 * The headers of one delivery: the endpoint's custom headers, then the signature's, which always win. A custom
 * header with a reserved name (refused by the API, so only in an item written some other way) is left out, since
 * names differing only in case would both be sent.
 */
export function deliveryHeaders(
  custom: CustomHeaders | undefined,
  signature: Readonly<Record<string, string>>,
): Record<string, string> {
  const signatureNames = new Set(Object.keys(signature).map((name) => name.toLowerCase()));
  const kept = Object.entries(custom ?? {}).filter(
    ([name, value]) =>
      typeof value === 'string' &&
      TOKEN.test(name) &&
      !isReservedHeaderName(name) &&
      !signatureNames.has(name.toLowerCase()) &&
      FIELD_VALUE.test(value),
  );
  // fromEntries defines own properties: a header named `__proto__` stays a header.
  const headers = Object.fromEntries(kept);
  return { ...headers, ...signature };
}
