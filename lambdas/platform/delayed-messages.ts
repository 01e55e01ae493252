/**
 * Messages that must wait longer than SQS can delay one (15 minutes) carry the time they are due (`notBefore`,
 * epoch ms): a consumer that receives one early sends it on with what remains of the wait, so waits chain.
 * Webhook retries, charge polls and reconciliations all wait this way.
 */

/** The longest delay SQS applies to a message. */
export const MAX_SQS_DELAY_SECONDS = 900;

/** A message received this much before its `notBefore`, or less, is due: SQS delays are whole seconds. */
export const EARLY_TOLERANCE_MS = 1_000;

/** Whether a message due at `notBefore` came too early at `now` (and must be sent on). */
export function arrivedEarly(notBefore: number | undefined, now: number): notBefore is number {
  return notBefore !== undefined && notBefore - now > EARLY_TOLERANCE_MS;
}

/** The SQS delay that brings a message due at `notBefore` back at that time, or as close as SQS allows. */
export function delaySecondsUntil(notBefore: number, now: number): number {
  return Math.min(MAX_SQS_DELAY_SECONDS, Math.max(0, Math.ceil((notBefore - now) / 1000)));
}
