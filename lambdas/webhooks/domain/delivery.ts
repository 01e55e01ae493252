import { randomUUID } from 'node:crypto';
import type { EventsRepository } from '../../events/domain/events';
import { arrivedEarly } from '../../platform/delayed-messages';
import type { AttemptsRepository, DeliveryAttempt, DeliveryRef, SendingLease } from './attempts';
import { type Endpoint, type EndpointsRepository, endpointWants, signingSecrets } from './endpoints';
import type { CachedEndpoints } from './fanout';
import type { BatchResponse, DeliveryMessage, DeliveryQueue, ReceivedDelivery } from './messages';
import { signWebhook } from './signature';

/**
 * Delivery of one event to one endpoint (CONTRACT.md section 4, docs/webhooks-design.md): the outcome policy as
 * pure functions; `Delivery`, which runs one queue message through lease, sign, POST, record and reschedule; and
 * `deliverBatch`, the consumer of one SQS batch. Retries are new delayed messages, never waits inside a consumer, so
 * a dead endpoint holds nobody up.
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

/** Port: the attempt metrics (DeliveriesSucceeded, DeliveriesFailed, DeliveryAttemptLatency) and rare events. */
export interface DeliveryMetrics {
  attempted(succeeded: boolean, durationMs: number): void;
  count(name: DeliveryEventMetric): void;
}

/**
 * Counts of what the "sent once" design does on its rare paths (docs/webhooks-design.md):
 * - DeliveryCopyHeld: a copy met another copy's live lease and waits for it;
 * - DeliveryLeaseTakenOver: a lease whose holder is gone was taken over; if the holder died between a 2xx and its
 *   record, the receiver gets the webhook twice (the at-least-once boundary);
 * - DeliveryRecordDeferred: a 2xx whose record could not be written is recorded by a follow-up message;
 * - DeliveryRecordLost: neither the record nor its follow-up could be written (an error is logged with it).
 */
export type DeliveryEventMetric =
  | 'DeliveryCopyHeld'
  | 'DeliveryLeaseTakenOver'
  | 'DeliveryRecordDeferred'
  | 'DeliveryRecordLost';

/** The logger delivery needs; Powertools' Logger satisfies it. Never given secrets or signatures. */
export interface WebhookLogger {
  debug?(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

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

/**
 * How long after its invocation ends a lease still holds. A dead holder's own message comes back only after the
 * queue's visibility timeout (six times the function's timeout, 6 minutes by default), so a lease this long delays
 * no recovery; it gives a 2xx whose record could not be written five minutes to be recorded by its follow-up message
 * before any copy may send again.
 */
export const LEASE_GRACE_MS = 5 * 60_000;
/** Lambda's longest invocation: the bound used where an invocation's own deadline is not known. */
export const MAX_INVOCATION_MS = 15 * 60_000;
/** A success whose record write failed is written again after these pauses, in the same invocation. */
export const RECORD_RETRY_DELAYS_MS: readonly number[] = [100, 400];
/** A record-only follow-up re-sends itself this many times (1 s, 2 s, 4 s ... 60 s apart), then fails to the DLQ. */
export const MAX_RECORD_FOLLOW_UPS = 8;

export type DeliveryResult =
  | { readonly kind: 'deferred' }
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'already-delivered' }
  /** Another copy holds the delivery's lease: this one is re-queued until that lease ends. */
  | { readonly kind: 'held' }
  | { readonly kind: 'cooling-down' }
  /** A record-only follow-up: `recorded`, or sent again to try later. */
  | { readonly kind: 'recorded' }
  | { readonly kind: 'record-deferred' }
  | {
      readonly kind: 'attempted';
      readonly outcome: Outcome['kind'] | 'disabled-failing';
      /** The 2xx could not be recorded in time: a follow-up message records it. */
      readonly recordDeferred?: true;
    };

/** What the queue told about the message, and when the invocation processing it ends. */
export interface DeliveryReceipt {
  /** SQS's message id: names the lease holder in logs (SQS's own duplicates share it). */
  readonly messageId?: string;
  /** ApproximateReceiveCount. For logs only: a duplicate copy may count 1 as well. */
  readonly receiveCount?: number;
  /** Epoch ms at which the invocation ends (Lambda stops it then). @default now + MAX_INVOCATION_MS */
  readonly deadline?: number;
}

export interface DeliveryDependencies {
  readonly endpoints: CachedEndpoints;
  readonly endpointWrites: Pick<EndpointsRepository, 'recordFailure' | 'recordSuccess' | 'disable'>;
  readonly events: Pick<EventsRepository, 'get'>;
  readonly attempts: Pick<AttemptsRepository, 'claim' | 'record' | 'release'>;
  readonly queue: DeliveryQueue;
  readonly sender: WebhookSender;
  readonly metrics: DeliveryMetrics;
  readonly logger: WebhookLogger;
  readonly retryScheduleMs: readonly number[];
  readonly disableAfterMs: number;
  readonly coolDowns?: CoolDowns;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Waits between the record's in-process retries. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Runs delivery messages. One instance per execution environment: it holds the cool-downs. */
export class Delivery {
  private readonly coolDowns: CoolDowns;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: DeliveryDependencies) {
    this.coolDowns = deps.coolDowns ?? new CoolDowns();
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  get logger(): WebhookLogger {
    return this.deps.logger;
  }

  async deliver(message: DeliveryMessage, receipt: DeliveryReceipt = {}): Promise<DeliveryResult> {
    const { deps } = this;
    const now = this.now();
    const where = {
      storeId: message.storeId,
      endpointId: message.endpointId,
      eventId: message.eventId,
      ...(message.replayId !== undefined ? { replayId: message.replayId } : {}),
    };

    // SQS delays stop at 15 minutes: a longer wait arrives early and goes back with what remains (chaining).
    if (arrivedEarly(message.notBefore, now)) {
      await deps.queue.send([message]);
      return { kind: 'deferred' };
    }

    if (message.recordOnly) return this.recordFollowUp(message, message.recordOnly, now);

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

    // Sent once: no message can be trusted to be the only copy of its delivery (SQS duplicates, a fan-out's second
    // pass, a redelivery), and a copy may come first or be in flight right now. So every send holds the delivery's
    // lease, taken by one conditional write; a copy that finds a success ends, one that finds a live lease waits.
    const ref = deliveryRef(message);
    const lease: SendingLease = {
      holder: holderName(receipt),
      until: (receipt.deadline ?? now + MAX_INVOCATION_MS) + LEASE_GRACE_MS,
      attempt: message.attempt,
      at: new Date(now).toISOString(),
    };
    const claim = await deps.attempts.claim(ref, lease, now);
    if (claim.kind === 'succeeded') return { kind: 'already-delivered' };
    if (claim.kind === 'held') {
      // Whoever holds it finishes the delivery or dies (its message then returns): this copy checks again after.
      await deps.queue.send([{ ...message, notBefore: claim.until }]);
      deps.metrics.count('DeliveryCopyHeld');
      deps.logger.info('delivery held: another copy is sending it', {
        ...where,
        attempt: message.attempt,
        until: new Date(claim.until).toISOString(),
      });
      return { kind: 'held' };
    }
    if (claim.tookOver) {
      deps.metrics.count('DeliveryLeaseTakenOver');
      deps.logger.warn('delivery lease taken over: its holder ended without a record', {
        ...where,
        attempt: message.attempt,
      });
    }

    const startedAt = this.now();
    const body = JSON.stringify(event);
    const headers = signWebhook(event.id, body, signingSecrets(endpoint, startedAt), new Date(startedAt));
    const result = await deps.sender.post(endpoint.url, body, { ...headers });
    const finishedAt = this.now();
    const outcome = decideOutcome(result, message.attempt, deps.retryScheduleMs, finishedAt, this.random);
    const succeeded = outcome.kind === 'succeeded';

    const attempt: DeliveryAttempt = {
      ...ref,
      attempt: message.attempt,
      status: succeeded ? 'succeeded' : 'failed',
      ...(result.status !== undefined ? { responseStatus: result.status } : {}),
      durationMs: result.durationMs,
      ...(succeeded ? {} : { error: failureReason(result) }),
      at: new Date(startedAt).toISOString(),
    };

    if (outcome.kind === 'succeeded') {
      // After a 2xx nothing may fail the message into a resend: the record is retried here, then handed to a
      // follow-up message that only records it, while the lease keeps every copy waiting.
      const recordDeferred =
        !(await this.recordSuccess(attempt)) && (await this.followUp(message, attempt, lease.until));
      deps.metrics.attempted(true, result.durationMs);
      // Only a recovery costs a write: a healthy endpoint's success is its attempt item alone.
      if (endpoint.failingSince !== undefined) {
        await deps.endpointWrites.recordSuccess(endpoint.storeId, endpoint.id);
        const { failingSince: _, ...healthy } = endpoint;
        deps.endpoints.remember(healthy);
      }
      return { kind: 'attempted', outcome: 'succeeded', ...(recordDeferred ? { recordDeferred } : {}) };
    }

    await deps.attempts.record(attempt);
    await deps.attempts.release(ref, lease.holder);
    deps.metrics.attempted(false, result.durationMs);

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
    if (
      failingSince !== undefined &&
      finishedAt - Date.parse(failingSince) >= deps.disableAfterMs + this.unseenSuccessMs()
    ) {
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

  /**
   * How long after `failingSince` was set a success may still have left it in place. A success clears it only when
   * its environment's cached view of the endpoint shows it (so that healthy deliveries cost no write); a view is at
   * most the cache's TTL old when an attempt starts, and the attempt ends with its invocation. A success after
   * that window saw `failingSince` and cleared it, so a run older than `disableAfterMs` plus this window has had no
   * success for at least `disableAfterMs`.
   */
  private unseenSuccessMs(): number {
    const ttl = this.deps.endpoints.maxAgeMs;
    return (Number.isFinite(ttl) ? ttl : 0) + MAX_INVOCATION_MS;
  }

  /** @returns whether the success is on record. */
  private async recordSuccess(attempt: DeliveryAttempt): Promise<boolean> {
    for (let retry = 0; ; retry += 1) {
      try {
        await this.deps.attempts.record(attempt);
        return true;
      } catch (error) {
        const pause = RECORD_RETRY_DELAYS_MS[retry];
        if (pause === undefined) {
          this.deps.logger.warn('the success of a delivery could not be recorded', {
            ...deliveryRef(attempt),
            attempt: attempt.attempt,
            error,
          });
          return false;
        }
        await this.sleep(pause);
      }
    }
  }

  /**
   * Hands a success that could not be recorded to a message that only records it. @returns whether it was sent.
   * If even that fails, the message is still not failed (that would send again): the lease holds copies off until
   * it ends, and the loss is logged and counted.
   */
  private async followUp(
    message: DeliveryMessage,
    attempt: DeliveryAttempt,
    leaseUntil: number,
  ): Promise<boolean> {
    const { deps } = this;
    const { event: _event, notBefore: _notBefore, ...rest } = message;
    const recordOnly = {
      responseStatus: attempt.responseStatus ?? 200,
      durationMs: attempt.durationMs,
      at: attempt.at,
      tries: 0,
    };
    try {
      await deps.queue.send([{ ...rest, recordOnly }]);
      deps.metrics.count('DeliveryRecordDeferred');
      deps.logger.error('delivery succeeded but its record failed: a follow-up message records it', {
        ...deliveryRef(attempt),
        attempt: attempt.attempt,
      });
      return true;
    } catch (error) {
      deps.metrics.count('DeliveryRecordLost');
      deps.logger.error(
        'delivery succeeded but neither its record nor its follow-up could be written: a copy may send it again once its lease ends',
        {
          ...deliveryRef(attempt),
          attempt: attempt.attempt,
          leaseUntil: new Date(leaseUntil).toISOString(),
          error,
        },
      );
      return false;
    }
  }

  private async recordFollowUp(
    message: DeliveryMessage,
    recordOnly: NonNullable<DeliveryMessage['recordOnly']>,
    now: number,
  ): Promise<DeliveryResult> {
    const attempt: DeliveryAttempt = {
      ...deliveryRef(message),
      attempt: message.attempt,
      status: 'succeeded',
      responseStatus: recordOnly.responseStatus,
      durationMs: recordOnly.durationMs,
      at: recordOnly.at,
    };
    if (await this.recordSuccess(attempt)) {
      this.deps.logger.info('deferred success recorded', {
        ...deliveryRef(message),
        attempt: message.attempt,
      });
      return { kind: 'recorded' };
    }
    const tries = recordOnly.tries + 1;
    if (tries >= MAX_RECORD_FOLLOW_UPS) {
      throw new Error(`The success of ${message.eventId} to ${message.endpointId} could not be recorded.`);
    }
    await this.deps.queue.send([
      {
        ...message,
        recordOnly: { ...recordOnly, tries },
        notBefore: now + Math.min(60_000, 1_000 * 2 ** (tries - 1)),
      },
    ]);
    return { kind: 'record-deferred' };
  }

  private async disable(endpoint: Endpoint, reason: 'gone' | 'failing', at: number): Promise<void> {
    await this.deps.endpointWrites.disable(endpoint.storeId, endpoint.id, reason, new Date(at).toISOString());
    this.deps.endpoints.remember({ ...endpoint, status: 'disabled', disabledReason: reason });
  }
}

function deliveryRef(of: DeliveryRef): DeliveryRef {
  return {
    endpointId: of.endpointId,
    eventId: of.eventId,
    ...(of.replayId !== undefined ? { replayId: of.replayId } : {}),
  };
}

function holderName(receipt: DeliveryReceipt): string {
  return `${receipt.messageId ?? 'direct'}#${receipt.receiveCount ?? 1}#${randomUUID()}`;
}

/**
 * The delivery consumer of one SQS batch (ReportBatchItemFailures): its messages run concurrently, so a slow
 * endpoint's attempt holds up no other message of the batch (each is bounded by WEBHOOK_TIMEOUT_MS). A message that
 * could not be parsed or whose processing threw is reported: SQS makes it visible again after its visibility
 * timeout, and moves it to the dead-letter queue after the queue's maxReceiveCount. Retries of failed attempts and
 * exhausted deliveries are not failures here: they are new delayed messages and the handler's own DLQ send.
 *
 * @param invocation.deadline epoch ms at which the invocation ends: no holder of a lease outlives it.
 */
export async function deliverBatch(
  delivery: Delivery,
  batch: readonly ReceivedDelivery[],
  invocation: { readonly deadline: number },
): Promise<BatchResponse> {
  const outcomes = await Promise.allSettled(
    batch.map(async (received) => {
      if ('invalid' in received) throw new Error(`Not a delivery message: ${received.invalid}`);
      const { message } = received;
      const result = await delivery.deliver(message, {
        messageId: received.messageId,
        receiveCount: received.receiveCount,
        deadline: invocation.deadline,
      });
      delivery.logger.debug?.('delivery processed', {
        endpointId: message.endpointId,
        eventId: message.eventId,
        attempt: message.attempt,
        result: result.kind,
      });
    }),
  );
  const batchItemFailures: { itemIdentifier: string }[] = [];
  outcomes.forEach((outcome, index) => {
    const received = batch[index];
    if (outcome.status === 'fulfilled' || !received) return;
    delivery.logger.error('delivery message failed; the queue retries it', {
      messageId: received.messageId,
      receiveCount: received.receiveCount,
      ...('message' in received
        ? { endpointId: received.message.endpointId, eventId: received.message.eventId }
        : {}),
      error: outcome.reason,
    });
    batchItemFailures.push({ itemIdentifier: received.messageId });
  });
  return { batchItemFailures };
}
