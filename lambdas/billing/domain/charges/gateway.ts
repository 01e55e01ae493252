import type { ChargeRecord, ChargeRef } from './charge';

/** The payment gateway as the charge path and the reconciliation see it (docs/api.md section 5). */

/** The metadata every PaymentIntent of the pipeline carries (docs/api.md section 5): how a charge is found again. */
export interface ChargeMetadata {
  readonly store_id: string;
  readonly subscription_id: string;
  readonly period: string;
  readonly attempt: string;
}

export function chargeMetadataOf(ref: ChargeRef): ChargeMetadata {
  return {
    store_id: ref.storeId,
    subscription_id: ref.subscriptionId,
    period: ref.period,
    attempt: String(ref.attempt),
  };
}

/** A PaymentIntent as the gateway shows it, reduced to what the pipeline reads. */
export interface GatewayPaymentIntent {
  readonly id: string;
  /** Stripe's status: `succeeded`, `processing`, `requires_payment_method` (declined), or another. */
  readonly status: string;
  readonly amount: number;
  readonly currency: string;
  /** Unix seconds, as Stripe gives it. */
  readonly created: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** `last_payment_error`'s decline code (or code) and message, for a declined one. */
  readonly declineCode?: string;
  readonly failureMessage?: string;
}

/** What the gateway said about one charge. */
export type GatewayOutcome =
  | { readonly kind: 'succeeded'; readonly paymentIntentId: string }
  /** Taken, answered later (a bank debit): looked up by id until it settles. */
  | { readonly kind: 'processing'; readonly paymentIntentId: string }
  /** A definite no (card declined, or the request itself refused): the attempt failed. */
  | {
      readonly kind: 'declined';
      readonly declineCode?: string;
      readonly message: string;
      readonly paymentIntentId?: string;
    }
  /**
   * No answer that can be trusted (timeout, 5xx, garbage, an unknown status, the same key in flight), or none at
   * all (429, `rateLimited`): the charge may or may not have happened, and stays pending. `replayedServerError`: the gateway replayed a stored
   * 5xx for the key, so asking again under it can never tell more: the charge is reconciled by search.
   */
  | {
      readonly kind: 'unknown';
      readonly reason: string;
      /** A short, fixed name of the cause, for the metric and the log (`timeout`, `server-error`, ...). */
      readonly cause: string;
      readonly replayedServerError?: boolean;
      /**
       * A 429 (`rate-limited`), or no turn under the shared gateway limit (`rate-limit-wait`): refused before
       * execution, so nothing was made and nothing saved under the key (Stripe's rate limiter runs before any
       * endpoint). Not an answer of any kind: the charge is asked again later with the same key, without a search,
       * and without spending the message's retries. `retryAfterMs`: the gateway's Retry-After, or the wait known.
       */
      readonly rateLimited?: { readonly retryAfterMs?: number };
    }
  /** 401/403: the gateway refuses the API key. Asking again with it cannot help: an operator must act. */
  | { readonly kind: 'refused'; readonly reason: string };

/** Port: the payment gateway (docs/api.md section 5). */
export interface PaymentGateway {
  /** Creates and confirms a PaymentIntent under the Idempotency-Key. */
  charge(request: {
    readonly amount: number;
    readonly currency: string;
    readonly paymentMethod: string;
    readonly idempotencyKey: string;
    readonly metadata: ChargeMetadata;
  }): Promise<GatewayOutcome>;
  /** One PaymentIntent by id (a `processing` one, polled until it settles). */
  retrieve(paymentIntentId: string): Promise<GatewayOutcome>;
  /**
   * The PaymentIntents carrying this metadata (search; a new one may take up to a minute to be found).
   * @returns `found` with every match (possibly none), or why the gateway could not be asked.
   */
  search(
    metadata: ChargeMetadata,
  ): Promise<
    | { readonly kind: 'found'; readonly intents: readonly GatewayPaymentIntent[] }
    | Extract<GatewayOutcome, { kind: 'unknown' | 'refused' }>
  >;
}

/** Port: the gateway's PaymentIntents by creation time (the reconciliation reads a run's window with it). */
export interface PaymentIntentLedger {
  /** Every PaymentIntent created in [fromMs, toMs), newest first. @throws when the gateway cannot be read. */
  list(range: { readonly fromMs: number; readonly toMs: number }): AsyncIterable<GatewayPaymentIntent>;
}

/** The gateway request of a charge under its current key. */
export function chargeRequestOf(charge: ChargeRecord): Parameters<PaymentGateway['charge']>[0] {
  return {
    amount: charge.amount,
    currency: charge.currency,
    paymentMethod: charge.paymentMethod,
    idempotencyKey: charge.idempotencyKey,
    metadata: chargeMetadataOf(charge),
  };
}
