import type { EventsRepository } from '../events';
import { signWebhook } from '../webhook-signature';
import type { AttemptsRepository, DeliveryAttempt } from './attempts';
import { type Endpoint, type EndpointsRepository, endpointWants, signingSecrets } from './endpoints';
import type { CachedEndpoints } from './fanout';
import type { DeliveryMessage, DeliveryQueue } from './messages';

/**
 * Delivery of one event to one endpoint (CONTRACT.md section 4, docs/webhooks-design.md): the outcome policy as
 * pure functions, and `Delivery`, which runs one queue message through check, sign, POST, log and reschedule.
 * Retries are new delayed messages, never waits inside a consumer, so a dead endpoint holds nobody up.
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

/** Port: POSTs a signed body to an endpoint's URL, within the attempt timeout. */
export interface WebhookSender {
  post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<AttemptResult>;
}

/** Port: the attempt metrics (DeliveriesSucceeded, DeliveriesFailed, DeliveryAttemptLatency). */
export interface DeliveryMetrics {
  attempted(succeeded: boolean, durationMs: number): void;
}

/** The logger delivery needs; Powertools' Logger satisfies it. Never given secrets or signatures. */
export interface WebhookLogger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** A message received this much before its `notBefore`, or less, is delivered now: SQS delays are whole seconds. */
export const EARLY_TOLERANCE_MS = 1_000;
export const MIN_RETRY_AFTER_MS = 1_000;
export const MAX_RETRY_AFTER_MS = 3_600_000;
/** How long an endpoint that timed out or refused is left alone by this execution environment. */
export const COOL_DOWN_MS = 5_000;
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
  // The message it follows may itself be redelivered (a lost delete): the two could then both send.
  return { ...message, attempt: message.attempt + 1, notBefore: now + delayMs, mayRepeat: true };
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

export type DeliveryResult =
  | { readonly kind: 'deferred' }
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'already-delivered' }
  | { readonly kind: 'cooling-down' }
  | { readonly kind: 'attempted'; readonly outcome: Outcome['kind'] | 'disabled-failing' };

export interface DeliveryDependencies {
  readonly endpoints: CachedEndpoints;
  readonly endpointWrites: Pick<EndpointsRepository, 'recordFailure' | 'recordSuccess' | 'disable'>;
  readonly events: Pick<EventsRepository, 'get'>;
  readonly attempts: Pick<AttemptsRepository, 'record' | 'hasSucceeded'>;
  readonly queue: DeliveryQueue;
  readonly sender: WebhookSender;
  readonly metrics: DeliveryMetrics;
  readonly logger: WebhookLogger;
  readonly retryScheduleMs: readonly number[];
  readonly disableAfterMs: number;
  readonly coolDowns?: CoolDowns;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Runs delivery messages. One instance per execution environment: it holds the cool-downs. */
export class Delivery {
  private readonly coolDowns: CoolDowns;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly deps: DeliveryDependencies) {
    this.coolDowns = deps.coolDowns ?? new CoolDowns();
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  /** @param receipt.redelivered whether the queue delivered this message before (ApproximateReceiveCount > 1). */
  async deliver(
    message: DeliveryMessage,
    receipt: { readonly redelivered: boolean } = { redelivered: true },
  ): Promise<DeliveryResult> {
    const { deps } = this;
    const now = this.now();
    const where = { storeId: message.storeId, endpointId: message.endpointId, eventId: message.eventId };

    // SQS delays stop at 15 minutes: a longer wait arrives early and goes back with what remains (chaining).
    if (message.notBefore !== undefined && message.notBefore - now > EARLY_TOLERANCE_MS) {
      // The re-sent copy and a redelivery of this one could both arrive: mark it.
      await deps.queue.send([{ ...message, mayRepeat: true }]);
      return { kind: 'deferred' };
    }

    const endpoint = await deps.endpoints.get(message.storeId, message.endpointId);
    if (endpoint?.status !== 'enabled') {
      const reason = endpoint
        ? `endpoint disabled (${endpoint.disabledReason ?? 'unknown'})`
        : 'endpoint gone';
      deps.logger.info('delivery ended without an attempt', { ...where, reason });
      return { kind: 'skipped', reason };
    }

    // Cooling down: this environment just saw the endpoint time out or refuse, so this message would very likely
    // fail the same way, holding a consumer for up to the timeout while healthy endpoints' messages wait. It moves
    // to the next attempt of the schedule without an attempt now (its slot in the schedule is spent, so a dead
    // endpoint still exhausts on time). The last attempt is always really made: nothing goes to the DLQ untried.
    const coolDownDelay = deps.retryScheduleMs[message.attempt];
    if (coolDownDelay !== undefined && this.coolDowns.isCoolingDown(endpoint.id, now)) {
      await deps.queue.send([nextAttempt(message, jittered(coolDownDelay, this.random), now)]);
      deps.logger.info('delivery rescheduled: endpoint cooling down', { ...where, attempt: message.attempt });
      return { kind: 'cooling-down' };
    }

    // A second copy of a delivery that succeeded ends here (a strongly consistent read of the attempt log). Every
    // way a copy can arise marks it: SQS counts redeliveries, and retries, chained delays, replays and a fan-out's
    // second pass set `mayRepeat`. Only a pristine first attempt skips the read: none of its copies can exist.
    if (
      (receipt.redelivered || message.mayRepeat === true) &&
      (await deps.attempts.hasSucceeded(endpoint.id, message.eventId, message.replayId))
    ) {
      return { kind: 'already-delivered' };
    }

    const event = message.event ?? (await deps.events.get(message.storeId, message.eventId));
    // The event is written before any message that names it: its absence is a bug, so fail loudly (the DLQ keeps it).
    if (!event) throw new Error(`Event ${message.eventId} of store ${message.storeId} not found.`);
    if (!endpointWants(endpoint, event.type)) {
      deps.logger.info('delivery ended without an attempt', {
        ...where,
        reason: `endpoint no longer wants ${event.type}`,
      });
      return { kind: 'skipped', reason: 'event type not wanted' };
    }

    const startedAt = this.now();
    const body = JSON.stringify(event);
    const headers = signWebhook(event.id, body, signingSecrets(endpoint, startedAt), new Date(startedAt));
    const result = await deps.sender.post(endpoint.url, body, { ...headers });
    const finishedAt = this.now();
    const outcome = decideOutcome(result, message.attempt, deps.retryScheduleMs, finishedAt, this.random);
    const succeeded = outcome.kind === 'succeeded';

    const attempt: DeliveryAttempt = {
      endpointId: endpoint.id,
      eventId: message.eventId,
      ...(message.replayId !== undefined ? { replayId: message.replayId } : {}),
      attempt: message.attempt,
      status: succeeded ? 'succeeded' : 'failed',
      ...(result.status !== undefined ? { responseStatus: result.status } : {}),
      durationMs: result.durationMs,
      ...(succeeded ? {} : { error: failureReason(result) }),
      at: new Date(startedAt).toISOString(),
    };
    await deps.attempts.record(attempt);
    deps.metrics.attempted(succeeded, result.durationMs);

    if (outcome.kind === 'succeeded') {
      // Only a recovery costs a write: a healthy endpoint's success is the attempt item alone.
      if (endpoint.failingSince !== undefined) {
        await deps.endpointWrites.recordSuccess(endpoint.storeId, endpoint.id);
        const { failingSince: _, ...healthy } = endpoint;
        deps.endpoints.remember(healthy);
      }
      return { kind: 'attempted', outcome: 'succeeded' };
    }

    const failure = {
      ...where,
      attempt: message.attempt,
      reason: attempt.error,
      durationMs: result.durationMs,
      ...(result.responseBody ? { responseBody: result.responseBody.slice(0, 200) } : {}),
    };
    if (outcome.kind === 'gone') {
      await this.disable(endpoint, 'gone', finishedAt);
      deps.logger.warn('endpoint disabled: receiver answered 410 Gone', failure);
      return { kind: 'attempted', outcome: 'gone' };
    }

    if (startsCoolDown(result)) this.coolDowns.start(endpoint.id, finishedAt);
    const failingSince = await deps.endpointWrites.recordFailure(
      endpoint.storeId,
      endpoint.id,
      new Date(finishedAt).toISOString(),
    );
    if (failingSince !== undefined && finishedAt - Date.parse(failingSince) >= deps.disableAfterMs) {
      await this.disable(endpoint, 'failing', finishedAt);
      deps.logger.warn('endpoint disabled: only failures since', { ...failure, failingSince });
      return { kind: 'attempted', outcome: 'disabled-failing' };
    }
    if (failingSince !== undefined && endpoint.failingSince === undefined) {
      deps.endpoints.remember({ ...endpoint, failingSince });
    }

    if (outcome.kind === 'exhausted') {
      await deps.queue.sendToDeadLetter(message, outcome.reason);
      deps.logger.warn('delivery exhausted: sent to the dead-letter queue', failure);
      return { kind: 'attempted', outcome: 'exhausted' };
    }
    await deps.queue.send([nextAttempt(message, outcome.delayMs, finishedAt)]);
    deps.logger.info('delivery failed: retry scheduled', { ...failure, retryInMs: outcome.delayMs });
    return { kind: 'attempted', outcome: 'retry' };
  }

  private async disable(endpoint: Endpoint, reason: 'gone' | 'failing', at: number): Promise<void> {
    await this.deps.endpointWrites.disable(endpoint.storeId, endpoint.id, reason, new Date(at).toISOString());
    this.deps.endpoints.remember({ ...endpoint, status: 'disabled', disabledReason: reason });
  }
}
