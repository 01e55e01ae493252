/** The API's answers the console reads (docs/api.md section 3). */

export interface Page<T> {
  readonly data: T[];
  readonly next?: string;
}

export interface EndpointStats {
  readonly since: string;
  readonly succeeded: number;
  readonly failed: number;
  readonly lastSucceededAt?: string;
  readonly failingSince?: string;
}

export interface Endpoint {
  readonly id: string;
  readonly url: string;
  readonly description?: string;
  readonly events: string[];
  readonly status: 'enabled' | 'disabled';
  readonly disabledReason?: string;
  readonly stats?: EndpointStats;
}

export interface Attempt {
  readonly eventId: string;
  readonly attempt: number;
  readonly status: 'succeeded' | 'failed';
  readonly trigger: string;
  readonly responseStatus?: number;
  readonly responseBody?: string;
  readonly durationMs: number;
  readonly error?: string;
  readonly at: string;
}

export interface Subscription {
  readonly id: string;
  readonly status: string;
  readonly cancelReason?: string;
  readonly customer?: { readonly id?: string; readonly email?: string };
  readonly plan?: string;
  readonly amount?: number;
  readonly currency?: string;
  readonly interval?: string;
  readonly intervalCount?: number;
  readonly nextChargeAt?: string;
  readonly endAt?: string;
  readonly dunning?: {
    readonly attempt?: number;
    readonly nextRetryAt?: string;
    readonly declineCode?: string;
    readonly waitingForPaymentMethod?: boolean;
  };
}

export interface DatafeedRun {
  readonly runId: string;
  readonly status: string;
  readonly completedAt?: string;
}

export interface RunView {
  readonly runId: string;
  readonly status: 'running' | 'completed';
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  readonly processing?: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly completedAt?: string;
  readonly deadlineAt?: string;
  readonly ratePerMinute: number;
  readonly etaSeconds: number | null;
  /** The run's progress log (GET of one run only): answered against time, from (startedAt, 0). */
  readonly progress?: readonly { readonly at: string; readonly answered: number }[];
}

export interface QueueDepth {
  readonly name: string;
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
  readonly oldestAgeSeconds?: number;
  readonly deadLetters: number;
  readonly deadLetterOldestAgeSeconds?: number;
}

export interface Reconciliation {
  readonly date: string;
  readonly status: string;
  readonly gatewayPaymentIntents?: number;
  readonly recordedCharges?: number;
  readonly matched?: number;
  readonly duplicates?: {
    subscriptionId: string;
    period: string;
    attempt: number;
    paymentIntentIds: string[];
  }[];
  readonly orphans?: {
    paymentIntentId: string;
    subscriptionId?: string;
    period?: string;
    attempt?: number;
  }[];
  readonly missing?: { subscriptionId: string; period: string; attempt: number; paymentIntentId: string }[];
  readonly completedAt?: string;
}

/** Charges of a run that have an answer, as the API counts them (lambdas/billing/domain/runs/view.ts). */
export function answered(run: RunView): number {
  return run.succeeded + run.failed + (run.processing ?? 0);
}
