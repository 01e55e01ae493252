import type { DeliveryMessage } from './messages';

/**
 * The outcome policy of delivery, as pure functions: what an attempt's answer means (success, gone, retry after
 * which delay, exhausted), and the cool-downs of endpoints that time out or refuse. `Delivery` (delivery.ts) acts on
 * it.
 */

/** What one HTTP attempt gave (see adapters/webhook-http-client.ts). */
export interface AttemptResult {
  /** Absent when no response arrived (timeout, refused, non-public address, ...). */
  readonly status?: number;
  readonly durationMs: number;
  /** A short reason for people when the attempt did not succeed: `timeout`, `HTTP 500`, ... */
  readonly error?: string;
  /** The raw `Retry-After` header, if any. */
  readonly retryAfter?: string;
  /** The first bytes (at most 4 KiB) of the response body: shown in failure logs to help the merchant. */
  readonly responseBody?: string;
}

export const MIN_RETRY_AFTER_MS = 1_000;
export const MAX_RETRY_AFTER_MS = 3_600_000;
/** How long an endpoint that timed out or refused is left alone by this execution environment. */
const COOL_DOWN_MS = 5_000;
const JITTER = 0.1;

export type Outcome =
  | { readonly kind: 'succeeded' }
  /** 410: the receiver asks us to stop; the endpoint is disabled (`gone`) and nothing is retried. */
  | { readonly kind: 'gone'; readonly reason: string }
  | { readonly kind: 'retry'; readonly reason: string; readonly delayMs: number }
  | { readonly kind: 'exhausted'; readonly reason: string };

/** The short reason an HTTP status is not a success, or undefined for a 2xx. */
export function describeStatus(status: number): string | undefined {
  if (status >= 200 && status < 300) return undefined;
  if (status >= 300 && status < 400) return `redirect not followed (HTTP ${status})`;
  return `HTTP ${status}`;
}

/**
 * The `Retry-After` of a 429 or 503 (delta-seconds or an HTTP date) as a delay from `now`, bounded to [1 s, 1 h] so
 * that a receiver can neither make us hammer it nor park its deliveries for days. Undefined when it does not parse.
 */
export function retryAfterDelay(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let delayMs: number;
  if (/^\d+$/.test(text)) {
    delayMs = Number(text) * 1000;
  } else {
    // Date.parse also takes forms HTTP does not ("2024"); an HTTP date always names its weekday and GMT.
    if (!/^[A-Za-z]{3},? .*GMT$/.test(text)) return undefined;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    delayMs = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, delayMs));
}

/** `delayMs` ±10 %, so retries of many deliveries that failed together do not arrive together. */
export function jittered(delayMs: number, random: () => number): number {
  return Math.round(delayMs * (1 - JITTER + 2 * JITTER * random()));
}

/**
 * What follows an attempt. `scheduleMs[i]` is the delay before attempt i + 1, so after attempt n the next delay is
 * `scheduleMs[n]`; attempt number `scheduleMs.length` is the last.
 */
export function decideOutcome(
  result: AttemptResult,
  attempt: number,
  scheduleMs: readonly number[],
  now: number,
  random: () => number,
): Outcome {
  const { status } = result;
  if (status !== undefined && status >= 200 && status < 300) return { kind: 'succeeded' };
  const reason = failureReason(result);
  if (status === 410) return { kind: 'gone', reason };
  const nextDelay = scheduleMs[attempt];
  if (nextDelay === undefined) return { kind: 'exhausted', reason };
  const asked = status === 429 || status === 503 ? retryAfterDelay(result.retryAfter, now) : undefined;
  return { kind: 'retry', reason, delayMs: asked ?? jittered(nextDelay, random) };
}

export function failureReason(result: AttemptResult): string {
  if (result.status !== undefined) return describeStatus(result.status) ?? `HTTP ${result.status}`;
  return result.error ?? 'no response';
}

/** Timeouts and refused connections cost consumers (or signal a dead receiver): those start a cool-down. */
export function startsCoolDown(result: AttemptResult): boolean {
  return result.status === undefined && (result.error === 'timeout' || result.error === 'connection refused');
}

/** The message that makes the next attempt after `delayMs`. */
export function nextAttempt(message: DeliveryMessage, delayMs: number, now: number): DeliveryMessage {
  return { ...message, attempt: message.attempt + 1, notBefore: now + delayMs };
}

/** Endpoints that recently timed out or refused, as seen by this execution environment. */
export class CoolDowns {
  private readonly until = new Map<string, number>();

  constructor(private readonly windowMs: number = COOL_DOWN_MS) {}

  start(endpointId: string, now: number): void {
    for (const [id, end] of this.until) if (end <= now) this.until.delete(id);
    this.until.set(endpointId, now + this.windowMs);
  }

  isCoolingDown(endpointId: string, now: number): boolean {
    return (this.until.get(endpointId) ?? 0) > now;
  }
}
