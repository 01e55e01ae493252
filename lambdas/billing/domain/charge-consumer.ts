import * as z from 'zod';
import { arrivedEarly, delaySecondsUntil, MAX_SQS_DELAY_SECONDS } from '../../platform/delayed-messages';
import { type ChargeDeps, type ChargeProcessOutcome, chargeRefToString, processCharge } from './charges';

/**
 * The charge consumer (ChargesQueue): what the charge function does with one message, with its real retry,
 * poll and dead-letter rules. The handler is a thin wrapper over `consumeChargeMessage`, and the chaos test drives
 * this same function, so what is tested is what runs.
 */

/** One charge to process; the producer (runs) and the consumer share this schema. */
export const chargeMessage = z.object({
  runId: z.string().min(1),
  storeId: z.string().min(1),
  subscriptionId: z.string().min(1),
  period: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  attempt: z.number().int().min(0),
  /** How many times this charge was asked again after an unknown answer. */
  retries: z.number().int().min(0).default(0),
  /** Epoch ms before which it is not looked at: a poll later than SQS's 15-minute delay is chained. */
  notBefore: z.number().int().optional(),
});
export type ChargeMessage = z.input<typeof chargeMessage>;
type ParsedChargeMessage = z.output<typeof chargeMessage>;

/** Port: the charges queue, as the consumer uses it. */
export interface ChargeRetryQueue {
  /** The same charge again after `delaySeconds` (at most 15 minutes). */
  retryLater(message: ParsedChargeMessage, delaySeconds: number): Promise<void>;
  /** Gives up on asking for now: the message waits on the DLQ, and the run's stall sweep sends the charge again. */
  sendToDeadLetter(message: ParsedChargeMessage, reason: string): Promise<void>;
}

export interface ChargeConsumerSettings {
  /** Unknown answers are asked again this many times (doubling delays), then the message waits on the DLQ. */
  readonly maxRetries: number;
  /** The first retry's delay; doubles per retry, at most SQS's 15 minutes. */
  readonly retryBaseSeconds: number;
  /** PAYMENT_PROCESSING_POLL. */
  readonly processingPollMs: number;
}

export const DEFAULT_CHARGE_CONSUMER_SETTINGS: ChargeConsumerSettings = {
  maxRetries: 10,
  retryBaseSeconds: 5,
  processingPollMs: 15 * 60_000,
};

/** What the handler reports: metrics and log lines are its business, decided here. */
export type ChargeConsumerResult =
  | { readonly kind: 'deferred' }
  | { readonly kind: 'processed'; readonly outcome: ChargeProcessOutcome; readonly next: NextStep };

export type NextStep = 'none' | 'retry' | 'poll' | 'dead-letter';

export async function consumeChargeMessage(
  deps: ChargeDeps & {
    readonly queue: ChargeRetryQueue;
    readonly consumer?: Partial<ChargeConsumerSettings>;
  },
  input: ChargeMessage,
): Promise<ChargeConsumerResult> {
  const settings = { ...DEFAULT_CHARGE_CONSUMER_SETTINGS, ...deps.consumer };
  const message = chargeMessage.parse(input);
  const now = deps.now();
  if (arrivedEarly(message.notBefore, now)) {
    await deps.queue.retryLater(message, delaySecondsUntil(message.notBefore, now));
    return { kind: 'deferred' };
  }
  const outcome = await processCharge(deps, message);
  const ref = { ...message, notBefore: undefined };
  switch (outcome.outcome) {
    case 'pending': {
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
