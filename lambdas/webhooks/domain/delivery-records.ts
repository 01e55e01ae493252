import { triggerOf } from './attempt-log';
import type { AttemptsRepository, DeliveryAttempt } from './attempts';
import { deliveryRef } from './attempts';
import type { DeliveryMetrics, DeliveryResult, WebhookLogger } from './delivery';
import type { DeliveryMessage, DeliveryQueue } from './messages';

/**
 * The record of a success (docs/webhooks-design.md, "sent once"): after a 2xx nothing may fail the message into a
 * resend, so a record that cannot be written is retried in process, then handed to a follow-up message that only
 * records it, while the delivery's lease keeps every copy waiting.
 */

/** A success whose record write failed is written again after these pauses, in the same invocation. */
const RECORD_RETRY_DELAYS_MS: readonly number[] = [100, 400];
/** A record-only follow-up re-sends itself this many times (1 s, 2 s, 4 s ... 60 s apart), then fails to the DLQ. */
export const MAX_RECORD_FOLLOW_UPS = 8;

export interface SuccessRecordsDependencies {
  readonly attempts: Pick<AttemptsRepository, 'record'>;
  readonly queue: Pick<DeliveryQueue, 'send'>;
  readonly metrics: Pick<DeliveryMetrics, 'count'>;
  readonly logger: WebhookLogger;
  /** Waits between the record's in-process retries. */
  readonly sleep: (ms: number) => Promise<void>;
}

export class SuccessRecords {
  constructor(private readonly deps: SuccessRecordsDependencies) {}

  /** @returns whether the success is on record. */
  async record(attempt: DeliveryAttempt): Promise<boolean> {
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
        await this.deps.sleep(pause);
      }
    }
  }

  /**
   * Hands a success that could not be recorded to a message that only records it. @returns whether it was sent.
   * If even that fails, the message is still not failed (that would send again): the lease holds copies off until
   * it ends, and the loss is logged and counted.
   */
  async followUp(message: DeliveryMessage, attempt: DeliveryAttempt, leaseUntil: number): Promise<boolean> {
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

  /** Runs a record-only follow-up message: records the success, or sends the message again to try later. */
  async recordFollowUp(
    message: DeliveryMessage,
    recordOnly: NonNullable<DeliveryMessage['recordOnly']>,
    now: number,
  ): Promise<DeliveryResult> {
    const attempt: DeliveryAttempt = {
      ...deliveryRef(message),
      attempt: message.attempt,
      status: 'succeeded',
      trigger: triggerOf(message),
      responseStatus: recordOnly.responseStatus,
      durationMs: recordOnly.durationMs,
      at: recordOnly.at,
    };
    if (await this.record(attempt)) {
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
}
