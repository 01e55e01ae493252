import * as z from 'zod';
import { isRunId } from './schedule';

/**
 * Queue messages of the billing side, each one zod schema whose type both its producer and its consumer use.
 * Parsed at the consumer: a malformed message is a bug upstream; it fails, and after the queue's retries it
 * waits on the DLQ.
 */

/** One charge to process (ChargesQueue): sent by runs and their sweeps, and by the charge consumer's retries. */
export const chargeMessage = z.object({
  runId: z.string().min(1),
  storeId: z.string().min(1),
  subscriptionId: z.string().min(1),
  period: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  attempt: z.number().int().min(0),
  /** How many times this charge was asked again after an unknown answer (unset: none yet). */
  retries: z.number().int().min(0).optional(),
  /** How many times it came back after a 429 or no turn under the gateway limit (not counted in `retries`). */
  throttles: z.number().int().min(0).optional(),
  /** Epoch ms before which it is not looked at: a poll later than SQS's 15-minute delay is chained. */
  notBefore: z.number().int().optional(),
});
export type ChargeMessage = z.infer<typeof chargeMessage>;

/** A run's step (RunsQueue), for the holder `owner`: sent by triggers and as a step's continuation. */
export const runMessage = z.object({ runId: z.string().min(1), owner: z.string().min(1) });
export type RunMessage = z.infer<typeof runMessage>;

/** The runs queue's message that reconciles a run, not before `notBefore` (epoch ms) when given. */
export const reconcileMessage = z.object({
  kind: z.literal('reconcile'),
  date: z.string().refine(isRunId, 'must be a UTC date, YYYY-MM-DD'),
  notBefore: z.number().int().nonnegative().optional(),
});
export type ReconcileMessage = z.infer<typeof reconcileMessage>;

/** A message of the runs queue: a reconciliation (told from a run's step by its `kind`), or a run's step. */
export type RunsQueueMessage =
  | { readonly kind: 'reconcile'; readonly message: ReconcileMessage }
  | { readonly kind: 'step'; readonly message: RunMessage };

/** Parses a runs queue message's body. @throws when it is not JSON or does not parse as the message it names. */
export function parseRunsQueueMessage(body: string): RunsQueueMessage {
  const json: unknown = JSON.parse(body);
  return (json as { kind?: unknown } | null)?.kind === 'reconcile'
    ? { kind: 'reconcile', message: reconcileMessage.parse(json) }
    : { kind: 'step', message: runMessage.parse(json) };
}
