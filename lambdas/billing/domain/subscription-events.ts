/**
 * The `data` of the subscription events (docs/api.md section 4): what webhooks carry and what the emails are
 * written from. Every event names the subscription and its customer, so a receiver (or the email sender) needs
 * nothing else to act on it.
 */

/** The part of a subscription every subscription event carries. */
export interface SubscriptionSummary {
  readonly id: string;
  readonly customer: { readonly id: string; readonly email: string };
  readonly plan: string;
  readonly amount: number;
  readonly currency: string;
  readonly interval: 'day' | 'week' | 'month' | 'year';
  readonly intervalCount: number;
  readonly status: 'active' | 'past_due' | 'canceled' | 'unpaid';
  readonly nextChargeAt?: string;
}

/** One attempt at charging one period. */
export interface ChargeSummary {
  /** The period's UTC date (YYYY-MM-DD), the date its charge fell due. */
  readonly period: string;
  /** 0 for the period's first charge, n for the n-th dunning retry. */
  readonly attempt: number;
  readonly amount: number;
  readonly currency: string;
  readonly runId: string;
  readonly at: string;
}

/** `subscription.created`. */
export interface SubscriptionCreatedData {
  readonly subscription: SubscriptionSummary;
}

/** `subscription.charged`: a receipt. */
export interface SubscriptionChargedData {
  readonly subscription: SubscriptionSummary;
  readonly charge: ChargeSummary & { readonly paymentIntentId: string };
}

/**
 * `subscription.payment_processing`: the gateway took the payment and settles it later (a bank debit). No receipt
 * yet: `subscription.charged` or `subscription.payment_failed` follows once it settles.
 */
export interface SubscriptionPaymentProcessingData {
  readonly subscription: SubscriptionSummary;
  readonly charge: ChargeSummary & { readonly paymentIntentId: string };
}

/** `subscription.payment_failed`: one per failed attempt (each dunning step). */
export interface SubscriptionPaymentFailedData {
  readonly subscription: SubscriptionSummary;
  readonly charge: ChargeSummary & { readonly declineCode?: string; readonly message: string };
  /** The next retry, or null when this was the last one (then `finalAction` was applied). */
  readonly dunning: { readonly attempt: number; readonly nextRetryAt: string } | null;
  readonly finalAction?: 'cancel' | 'unpaid';
}

/** `subscription.canceled`: by `DELETE /v1/subscriptions/{id}` or by dunning's final action. */
export interface SubscriptionCanceledData {
  readonly subscription: SubscriptionSummary;
  readonly reason: 'requested' | 'payment_failed';
  readonly canceledAt: string;
}
