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
  readonly status: 'active' | 'paused' | 'past_due' | 'canceled' | 'unpaid';
  readonly nextChargeAt?: string;
  /** When it ends (`PATCH {endAt}`): no period at or after it is charged. */
  readonly endAt?: string;
  /** While paused: when it resumes by itself, if set. */
  readonly pause?: { readonly resumesAt?: string };
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
  readonly dunning: {
    readonly attempt: number;
    /** The next retry; while `waitingForPaymentMethod`, when the final action is taken unless a new one comes. */
    readonly nextRetryAt: string;
    readonly declineCode?: string;
    /** A hard decline: this payment method is not asked again; the customer must give a new one. */
    readonly waitingForPaymentMethod?: boolean;
  } | null;
  readonly finalAction?: 'cancel' | 'unpaid';
}

/**
 * `subscription.canceled`: by `DELETE /v1/subscriptions/{id}` (or the manage page), by dunning's final action
 * (`payment_failed`), or at its `endAt` (`ended`).
 */
export interface SubscriptionCanceledData {
  readonly subscription: SubscriptionSummary;
  readonly reason: 'requested' | 'payment_failed' | 'ended';
  readonly canceledAt: string;
}

/**
 * `subscription.updated`, `subscription.paused`, `subscription.resumed`: a change by `PATCH /v1/subscriptions/{id}`
 * (or the manage page), or a pause that ended by itself. `changed` names the fields the change set.
 */
export interface SubscriptionChangedData {
  readonly subscription: SubscriptionSummary;
  readonly changed: readonly string[];
}
