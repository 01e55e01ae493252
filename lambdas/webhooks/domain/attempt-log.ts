import { decodeCursor, encodeCursor } from '../../platform/opaque-cursor';
import type { DeliveryAttempt } from './attempts';
import type { DeliveryTrigger } from './messages';

/**
 * The attempt log as merchants read it (docs/api.md `GET /v1/webhooks/{id}/attempts`): its order, its cursor, and
 * the receiver's answer kept as safe text.
 */

/** The most of a receiver's answer read and kept: the contract's "first 4 KiB". */
export const MAX_RESPONSE_BODY_BYTES = 4096;
/**
 * The most kept of a success's answer. A success is written on every delivered webhook, and its item must stay
 * under 1 KB (one write unit) for the delivery's write budget; a failure's answer is the diagnosis and keeps 4 KiB.
 */
export const MAX_SUCCESS_BODY_BYTES = 512;

/** Which attempts a page holds: `after` is a position from the previous page (`next`), exclusive. */
export interface AttemptsQuery {
  readonly limit: number;
  readonly status?: DeliveryAttempt['status'];
  readonly eventId?: string;
  readonly after?: string;
}

export interface AttemptsPage {
  readonly attempts: DeliveryAttempt[];
  /** The position to continue after, while more may follow. */
  readonly next?: string;
}

/**
 * Where an attempt sits in the log: `<eventId>#<replayId or 0>#<attempt, 3 digits>` for a failure and
 * `<eventId>#<replayId or 0>#ok` for the delivery's success. Event and replay ids are time-ordered, so, read
 * backwards, the log is newest event first, then within an event its newest delivery first, and within a delivery
 * the success before the failures it followed. (This is the attempts table's sort key, so a position is a key.)
 */
export function attemptPosition(
  attempt: Pick<DeliveryAttempt, 'eventId' | 'replayId' | 'status' | 'attempt'>,
): string {
  const last = attempt.status === 'succeeded' ? 'ok' : String(attempt.attempt).padStart(3, '0');
  return `${deliveryPosition(attempt.eventId, attempt.replayId)}${last}`;
}

/** The prefix every position of one delivery shares. */
export function deliveryPosition(eventId: string, replayId: string | undefined): string {
  return `${eventId}#${replayId ?? '0'}#`;
}

/** The prefix every position of one event's attempts shares (any delivery of it). */
export function eventPosition(eventId: string): string {
  return `${eventId}#`;
}

const ID = '[A-Za-z0-9_]{1,100}';
const POSITION = new RegExp(`^(${ID})#(${ID})#(ok|\\d{3})$`);

/** `next` as the API shows it: opaque to clients (platform/opaque-cursor.ts), so its shape may change. */
export function encodeAttemptsCursor(position: string): string {
  return encodeCursor({ after: position });
}

/**
 * The position a cursor names, or undefined when it is not one of ours (a client's mistake: 400). With an
 * `eventId` filter the cursor must come from a page of that event's attempts (it is a key of that range).
 */
export function decodeAttemptsCursor(cursor: string, eventId?: string): string | undefined {
  const after = decodeCursor(cursor, 600)?.after;
  if (typeof after !== 'string' || !POSITION.test(after)) return undefined;
  if (eventId !== undefined && !after.startsWith(eventPosition(eventId))) return undefined;
  return after;
}

/** Whether a value may be an `eventId` filter (any id the log could hold; no other character reaches a key). */
export function isAttemptEventId(value: string): boolean {
  return new RegExp(`^${ID}$`).test(value);
}

/** The trigger of an attempt recorded before triggers were kept. */
export function triggerOf(attempt: Pick<DeliveryAttempt, 'trigger' | 'replayId'>): DeliveryTrigger {
  return attempt.trigger ?? (attempt.replayId !== undefined ? 'replay' : 'scheduled');
}

/**
 * The receiver's answer as it is kept and shown: at most `maxBytes` of UTF-8 (cut on a character boundary), with
 * invalid UTF-8 already replaced by U+FFFD (Buffer's decoding), and every control character other than \n, \r and
 * \t dropped (NULs included), as are lone surrogates and U+FFFE/U+FFFF. Undefined when nothing is left.
 */
export function safeResponseText(text: string | undefined, maxBytes: number): string | undefined {
  if (text === undefined) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: dropping them is the point.
  const cleaned = text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFFFE\uFFFF]/g, '');
  let kept = '';
  let bytes = 0;
  for (const char of cleaned) {
    const code = char.codePointAt(0) ?? 0;
    // A lone surrogate (from a string that never was UTF-8) cannot be encoded: drop it.
    if (code >= 0xd800 && code <= 0xdfff) continue;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) break;
    kept += char;
    bytes += size;
  }
  return kept === '' ? undefined : kept;
}

/** What an attempt keeps of the receiver's answer: 4 KiB of a failure's, MAX_SUCCESS_BODY_BYTES of a success's. */
export function responseBodyToKeep(
  body: string | undefined,
  status: DeliveryAttempt['status'],
): string | undefined {
  return safeResponseText(body, status === 'succeeded' ? MAX_SUCCESS_BODY_BYTES : MAX_RESPONSE_BODY_BYTES);
}

/** An attempt as the API shows it: without its endpoint (the path names it), with its trigger. */
export function publicAttempt(attempt: DeliveryAttempt) {
  const { endpointId: _endpointId, trigger: _trigger, responseBody, ...rest } = attempt;
  const body = safeResponseText(responseBody, MAX_RESPONSE_BODY_BYTES);
  return {
    eventId: rest.eventId,
    ...(rest.replayId !== undefined ? { replayId: rest.replayId } : {}),
    attempt: rest.attempt,
    status: rest.status,
    trigger: triggerOf(attempt),
    ...(rest.responseStatus !== undefined ? { responseStatus: rest.responseStatus } : {}),
    ...(body !== undefined ? { responseBody: body } : {}),
    durationMs: rest.durationMs,
    ...(rest.error !== undefined ? { error: rest.error } : {}),
    at: rest.at,
  };
}
