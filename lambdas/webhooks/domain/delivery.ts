import { randomUUID } from 'node:crypto';
import type { EventsRepository } from '../../events/domain/events';
import { arrivedEarly } from '../../platform/delayed-messages';
import { responseBodyToKeep, triggerOf } from './attempt-log';
import { type AttemptsRepository, type DeliveryAttempt, deliveryRef, type SendingLease } from './attempts';
import {
  type AttemptResult,
  CoolDowns,
  decideOutcome,
  failureReason,
  jittered,
  nextAttempt,
  type Outcome,
  startsCoolDown,
} from './delivery-policy';
import { SuccessRecords } from './delivery-records';
import { disabledNotice } from './disabled-notice';
import { deliveryHeaders } from './endpoint-headers';
import { type EndpointPace, LATE_TOLERANCE_MS, type PaceDecision, SLOT_LEAD_MS } from './endpoint-pace';
import type { AttemptTally } from './endpoint-stats';
import { type Endpoint, type EndpointsRepository, endpointAccepts, signingSecrets } from './endpoints';
import type { CachedEndpoints } from './fanout';
import type { DeliveryMessage, DeliveryQueue } from './messages';
import { signWebhook } from './signature';

/**
 * Delivery of one event to one endpoint (docs/api.md section 4, docs/webhooks-design.md): `Delivery` runs one queue
 * message through lease, sign, POST, record and reschedule. Beside it: the outcome policy (delivery-policy.ts), the
 * record of a success (delivery-records.ts) and the consumer of one SQS batch (delivery-batch.ts). Retries are new
 * delayed messages, never waits inside a consumer, so a dead endpoint holds nobody up.
 */

/** The sender's answer, defined with the policy that reads it. */
export type { AttemptResult } from './delivery-policy';

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
  | 'DeliveryRecordLost'
  /** Per-endpoint rate limit (endpoint-pace.ts): a delivery went back to the queue to wait for its slot. */
  | 'DeliveryRateLimited'
  /** A reserved slot passed before the POST could go (given up; the delivery reserves again). */
  | 'EndpointLimitSlotMissed'
  /** The endpoint's shared schedule could not be reached: the delivery went back to the queue, unsent. */
  | 'EndpointLimitSyncFailures';

/** The logger delivery needs; Powertools' Logger satisfies it. Never given secrets or signatures. */
export interface WebhookLogger {
  debug?(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
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
/** A disabled notice whose put failed is put again after these pauses, in the same invocation. */
const NOTICE_RETRY_DELAYS_MS: readonly number[] = [100, 400, 1_600];

export type DeliveryResult =
  | { readonly kind: 'deferred' }
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'already-delivered' }
  /** Another copy holds the delivery's lease: this one is re-queued until that lease ends. */
  | { readonly kind: 'held' }
  | { readonly kind: 'cooling-down' }
  /** The endpoint's rate limit: re-queued for its reserved slot (or to reserve again), its attempt not spent. */
  | { readonly kind: 'rate-limited' }
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
  /** Reads an event not embedded in its message; puts the `webhook_endpoint.disabled` notice of a disabling. */
  readonly events: Pick<EventsRepository, 'get' | 'put'>;
  readonly attempts: Pick<AttemptsRepository, 'claim' | 'record' | 'release'>;
  readonly queue: DeliveryQueue;
  readonly sender: WebhookSender;
  readonly metrics: DeliveryMetrics;
  readonly logger: WebhookLogger;
  readonly retryScheduleMs: readonly number[];
  readonly disableAfterMs: number;
  readonly coolDowns?: CoolDowns;
  /** The endpoint stats' tally (endpoint-stats.ts): told of each attempt made, written in batches. */
  readonly stats?: AttemptTally;
  /** The per-endpoint rate limit's pacer; required once an endpoint has a `rateLimit`. */
  readonly pace?: EndpointPace;
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
  private readonly records: SuccessRecords;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: DeliveryDependencies) {
    this.coolDowns = deps.coolDowns ?? new CoolDowns();
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.records = new SuccessRecords({ ...deps, sleep: this.sleep });
  }

  get logger(): WebhookLogger {
    return this.deps.logger;
  }

  /** Writes the stats tallies that are due: at the end of a batch, as the environment may be frozen after it. */
  async flushDueStats(): Promise<void> {
    await this.deps.stats?.flushDue?.();
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

    if (message.recordOnly) return this.records.recordFollowUp(message, message.recordOnly, now);

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
    if (!endpointAccepts(endpoint, event)) {
      deps.logger.info('delivery ended without an attempt', {
        ...where,
        reason: `endpoint no longer wants ${event.type}`,
      });
      return { kind: 'skipped', reason: 'event type not wanted' };
    }

    // The endpoint's rate limit (endpoint-pace.ts): only a limited endpoint pays its reservation write. A far slot
    // sends the message back to the queue to wait for it there; waiting spends no attempt and is no failure.
    let sendAt: number | undefined;
    if (endpoint.rateLimit !== undefined) {
      if (!deps.pace)
        throw new Error('Delivery was built without its endpoint pacer (DeliveryDependencies.pace).');
      const decision = await deps.pace.decide(endpoint.id, endpoint.rateLimit, message.rateSlot);
      if (decision.kind !== 'send') return this.waitForRate(message, decision, where, now);
      sendAt = decision.sendAt;
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

    if (sendAt !== undefined) {
      const wait = sendAt - this.now();
      if (wait > 0) await this.sleep(wait);
      if (this.now() > sendAt + LATE_TOLERANCE_MS) {
        // The slot passed while the lease was taken (or a timer was late): sent now, it could come too close to
        // the next one. It is given up, and the delivery reserves again.
        await deps.attempts.release(ref, lease.holder);
        const { rateSlot: _missed, notBefore: _due, ...unslotted } = message;
        await deps.queue.send([unslotted]);
        deps.metrics.count('EndpointLimitSlotMissed');
        return { kind: 'rate-limited' };
      }
    }

    const startedAt = this.now();
    const body = JSON.stringify(event);
    const signature = signWebhook(event.id, body, signingSecrets(endpoint, startedAt), new Date(startedAt));
    // The endpoint's custom headers are its owner's secrets: they go on the wire only, never into a log.
    const result = await deps.sender.post(
      endpoint.url,
      body,
      deliveryHeaders(endpoint.headers, { ...signature }),
    );
    const finishedAt = this.now();
    const outcome = decideOutcome(result, message.attempt, deps.retryScheduleMs, finishedAt, this.random);
    const succeeded = outcome.kind === 'succeeded';

    const attempt: DeliveryAttempt = {
      ...ref,
      attempt: message.attempt,
      status: succeeded ? 'succeeded' : 'failed',
      trigger: triggerOf(message),
      ...(result.status !== undefined ? { responseStatus: result.status } : {}),
      ...withResponseBody(result.responseBody, succeeded),
      durationMs: result.durationMs,
      ...(succeeded ? {} : { error: failureReason(result) }),
      at: new Date(startedAt).toISOString(),
    };

    if (outcome.kind === 'succeeded') {
      // After a 2xx nothing may fail the message into a resend: the record is retried here, then handed to a
      // follow-up message that only records it, while the lease keeps every copy waiting.
      const recordDeferred =
        !(await this.records.record(attempt)) && (await this.records.followUp(message, attempt, lease.until));
      deps.metrics.attempted(true, result.durationMs);
      deps.stats?.note(endpoint.id, true, startedAt);
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
    deps.stats?.note(endpoint.id, false, startedAt);

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

  /** Sends a rate-limited delivery back to the queue: for its reserved slot, or shortly when none could be had. */
  private async waitForRate(
    message: DeliveryMessage,
    decision: Exclude<PaceDecision, { kind: 'send' }>,
    where: Record<string, string>,
    now: number,
  ): Promise<DeliveryResult> {
    const { deps } = this;
    if (decision.kind === 'wait') {
      await deps.queue.send([
        { ...message, rateSlot: decision.slot, notBefore: Math.floor(decision.slot.at - SLOT_LEAD_MS) },
      ]);
      deps.metrics.count('DeliveryRateLimited');
      deps.logger.debug?.('delivery waits for its endpoint rate limit', {
        ...where,
        attempt: message.attempt,
        sendAt: new Date(decision.slot.at).toISOString(),
      });
      return { kind: 'rate-limited' };
    }
    // Fail closed: the limit protects the merchant's server, so nothing is sent without a slot.
    const { rateSlot: _stale, ...unslotted } = message;
    await deps.queue.send([{ ...unslotted, notBefore: Math.floor(now + 1_000 + 1_000 * this.random()) }]);
    deps.metrics.count('EndpointLimitSyncFailures');
    deps.logger.warn('endpoint rate limit unavailable: delivery re-queued unsent', {
      ...where,
      attempt: message.attempt,
      error: decision.error,
    });
    return { kind: 'rate-limited' };
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

  private async disable(endpoint: Endpoint, reason: 'gone' | 'failing', at: number): Promise<void> {
    const disabled = await this.deps.endpointWrites.disable(
      endpoint.storeId,
      endpoint.id,
      reason,
      new Date(at).toISOString(),
    );
    this.deps.endpoints.remember({ ...endpoint, status: 'disabled', disabledReason: reason });
    // Only the call that disabled it announces it: a copy that found it disabled already does not.
    if (disabled) await this.announceDisabled(endpoint, reason, at);
  }

  /**
   * Puts the `webhook_endpoint.disabled` event (stored once: its id is the disabling's). Retried in process, never
   * thrown: the message's retry would find the endpoint disabled and end without announcing anything.
   */
  private async announceDisabled(endpoint: Endpoint, reason: 'gone' | 'failing', at: number): Promise<void> {
    const notice = disabledNotice(endpoint, reason, at);
    const where = { storeId: endpoint.storeId, endpointId: endpoint.id, eventId: notice.id, reason };
    for (let retry = 0; ; retry += 1) {
      try {
        await this.deps.events.put(notice, 'direct');
        this.deps.logger.info('endpoint disabled: notice sent to the store’s other endpoints', where);
        return;
      } catch (error) {
        const pause = NOTICE_RETRY_DELAYS_MS[retry];
        if (pause === undefined) {
          this.deps.logger.error('the webhook_endpoint.disabled notice could not be stored', {
            ...where,
            error,
          });
          return;
        }
        await this.sleep(pause);
      }
    }
  }
}

/** The receiver's answer as the attempt keeps it (attempt-log.ts): safe text, short for a success. */
function withResponseBody(body: string | undefined, succeeded: boolean): { responseBody?: string } {
  const kept = responseBodyToKeep(body, succeeded ? 'succeeded' : 'failed');
  return kept === undefined ? {} : { responseBody: kept };
}

function holderName(receipt: DeliveryReceipt): string {
  return `${receipt.messageId ?? 'direct'}#${receipt.receiveCount ?? 1}#${randomUUID()}`;
}
