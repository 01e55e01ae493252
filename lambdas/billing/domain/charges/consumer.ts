import { arrivedEarly, delaySecondsUntil, MAX_SQS_DELAY_SECONDS } from '../../../platform/delayed-messages';
import { type ChargeMessage, chargeMessage } from '../messages';
import { chargeRefToString } from './charge';
import { type ChargeDeps, type ChargeProcessOutcome, processCharge } from './process';

/**
 * The charge consumer (ChargesQueue): what the charge function does with one message, with its real retry,
 * poll and dead-letter rules. The handler is a thin wrapper over `consumeChargeMessage`, and the chaos test drives
 * this same function, so what is tested is what runs.
 */

/** Port: the charges queue, as the consumer uses it. */
export interface ChargeRetryQueue {
  /** The same charge again after `delaySeconds` (at most 15 minutes). */
  retryLater(message: ChargeMessage, delaySeconds: number): Promise<void>;
  /** Gives up on asking for now: the message waits on the DLQ, and the run's stall sweep sends the charge again. */
  sendToDeadLetter(message: ChargeMessage, reason: string): Promise<void>;
}

export interface ChargeConsumerSettings {
  /** Unknown answers are asked again this many times (doubling delays), then the message waits on the DLQ. */
  readonly maxRetries: number;
  /** The first retry's delay; doubles per retry, at most SQS's 15 minutes. */
  readonly retryBaseSeconds: number;
  /** PAYMENT_PROCESSING_POLL. */
  readonly processingPollMs: number;
  /**
   * A charge the gateway refused with 429 (or that found no turn under the shared limit) comes back this many
   * times, after jittered doubling delays (at least the Retry-After, at most 15 minutes: 16 to 30 hours in all, by
   * the jitter), before it waits on the DLQ. These do not count against `maxRetries`: nothing was answered.
   */
  readonly maxThrottles: number;
}

export const DEFAULT_CHARGE_CONSUMER_SETTINGS: ChargeConsumerSettings = {
  maxRetries: 10,
  retryBaseSeconds: 5,
  processingPollMs: 15 * 60_000,
  maxThrottles: 128,
};

/** What the handler reports: metrics and log lines are its business, decided here. */
export type ChargeConsumerResult =
  | { readonly kind: 'deferred' }
  | { readonly kind: 'processed'; readonly outcome: ChargeProcessOutcome; readonly next: NextStep };

export type NextStep = 'none' | 'retry' | 'poll' | 'dead-letter';

export interface ChargeConsumerDeps extends ChargeDeps {
  readonly queue: ChargeRetryQueue;
  readonly consumer?: Partial<ChargeConsumerSettings>;
  /** In [0, 1): the jitter of a rate-limited charge's delay. @default Math.random */
  readonly random?: () => number;
}

export async function consumeChargeMessage(
  deps: ChargeConsumerDeps,
  input: ChargeMessage,
): Promise<ChargeConsumerResult> {
  const settings = { ...DEFAULT_CHARGE_CONSUMER_SETTINGS, ...deps.consumer };
  const parsed = chargeMessage.parse(input);
  const message = { ...parsed, retries: parsed.retries ?? 0 };
  const throttles = parsed.throttles ?? 0;
  const now = deps.now();
  if (arrivedEarly(message.notBefore, now)) {
    await deps.queue.retryLater(message, delaySecondsUntil(message.notBefore, now));
    return { kind: 'deferred' };
  }
  const outcome = await processCharge(deps, message);
  const ref = { ...message, notBefore: undefined };
  switch (outcome.outcome) {
    case 'pending': {
      if (outcome.rateLimited) {
        // Not an answer: the same key again after the wait, without spending a retry. Jittered, so that the charges
        // a 429 sent back together do not come back together.
        if (throttles >= settings.maxThrottles) {
          await deps.queue.sendToDeadLetter(
            message,
            `Charge ${chargeRefToString(message)} is still pending: the gateway kept refusing it (${outcome.reason}).`,
          );
          return { kind: 'processed', outcome, next: 'dead-letter' };
        }
        const backoff = Math.min(MAX_SQS_DELAY_SECONDS, settings.retryBaseSeconds * 2 ** throttles);
        const jittered = backoff * (0.5 + 0.5 * (deps.random ?? Math.random)());
        const retryAfter = (outcome.rateLimited.retryAfterMs ?? 0) / 1000;
        await deps.queue.retryLater(
          { ...ref, throttles: throttles + 1 },
          Math.min(MAX_SQS_DELAY_SECONDS, Math.ceil(Math.max(jittered, retryAfter, 1))),
        );
        return { kind: 'processed', outcome, next: 'retry' };
      }
      // Asked again later (same key, or a search), by a delayed copy: the retry does not wait for the visibility
      // timeout, and the backoff spares a gateway that is down. After the last retry the message waits on the DLQ.
      if (message.retries >= settings.maxRetries) {
        await deps.queue.sendToDeadLetter(
          message,
          `Charge ${chargeRefToString(message)} is still pending: ${outcome.reason}.`,
        );
        return { kind: 'processed', outcome, next: 'dead-letter' };
      }
      await deps.queue.retryLater(
        { ...ref, retries: message.retries + 1 },
        Math.min(MAX_SQS_DELAY_SECONDS, settings.retryBaseSeconds * 2 ** message.retries),
      );
      return { kind: 'processed', outcome, next: 'retry' };
    }
    case 'processing': {
      const notBefore = now + settings.processingPollMs;
      await deps.queue.retryLater({ ...ref, retries: 0, notBefore }, delaySecondsUntil(notBefore, now));
      return { kind: 'processed', outcome, next: 'poll' };
    }
    case 'refused':
      // Asking again with a refused key cannot help, and hammering the gateway with it can get the account
      // locked: the message waits on the DLQ (alarmed) until the key is fixed; the run's stall sweep re-sends it.
      await deps.queue.sendToDeadLetter(message, `The gateway refused the API key: ${outcome.reason}`);
      return { kind: 'processed', outcome, next: 'dead-letter' };
    default:
      return { kind: 'processed', outcome, next: 'none' };
  }
}
