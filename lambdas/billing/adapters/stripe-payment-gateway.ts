import Stripe from 'stripe';
import type {
  ChargeMetadata,
  GatewayOutcome,
  GatewayPaymentIntent,
  PaymentGateway,
  PaymentIntentLedger,
} from '../domain/charges/gateway';

/**
 * The payment gateway through the official `stripe` SDK, pointed at PAYMENT_GATEWAY_URL (docs/api.md section 5).
 * The SDK sends the claim's Idempotency-Key on the request and on its own retry. Anything that is not a definite
 * answer is `unknown`, with a fixed `cause` for the metric: the charge stays pending. What Stripe documents and the
 * pipeline must assume: a key's first answer is stored and replayed, 5xx included (`Idempotent-Replayed: true`), so
 * a replayed 5xx is flagged for the domain to reconcile by search instead of asking again.
 *
 * A refused API key (401/403) is remembered per execution environment: until the key read from Secrets Manager
 * changes, no request is made with it (`refused` at once), so a revoked key costs one request per environment, not
 * one per charge, and the charges stay pending without being asked.
 */
export class StripePaymentGateway implements PaymentGateway, PaymentIntentLedger {
  private client?: { key: string; stripe: Stripe };
  private refusedKey?: { key: string; reason: string };

  constructor(
    private readonly props: {
      readonly url: string;
      readonly timeoutMs: number;
      /** The secret key, read per call so that a key rotated in Secrets Manager is used without a deploy. */
      readonly apiKey: () => string | Promise<string>;
      /** @default 1 - one more ask with the same key after a timeout or a 5xx */
      readonly maxNetworkRetries?: number;
    },
  ) {}

  async charge(request: Parameters<PaymentGateway['charge']>[0]): Promise<GatewayOutcome> {
    return this.ask(async (stripe) => {
      const intent = await stripe.paymentIntents.create(
        {
          amount: request.amount,
          currency: request.currency.toLowerCase(),
          payment_method: request.paymentMethod,
          confirm: true,
          off_session: true,
          metadata: { ...request.metadata },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      return outcomeOf(intent, request.metadata);
    });
  }

  async retrieve(paymentIntentId: string): Promise<GatewayOutcome> {
    return this.ask(async (stripe) => outcomeOf(await stripe.paymentIntents.retrieve(paymentIntentId)));
  }

  async search(metadata: ChargeMetadata): ReturnType<PaymentGateway['search']> {
    const stripe = await this.stripe();
    if (stripe.refused) return stripe.refused;
    try {
      const intents: GatewayPaymentIntent[] = [];
      // Values are ids of the pipeline's own making (no quotes); escaped anyway, as Stripe's language wants.
      const query = Object.entries(metadata)
        .map(([name, value]) => `metadata['${name}']:'${String(value).replace(/['\\]/g, '\\$&')}'`)
        .join(' AND ');
      for await (const intent of stripe.client.paymentIntents.search({ query, limit: 100 })) {
        const view = viewOf(intent);
        if (!view) return unknown('malformed', 'a search result that is not a payment intent');
        intents.push(view);
      }
      return { kind: 'found', intents };
    } catch (error) {
      const outcome = this.classify(stripe.key, error);
      if (outcome.kind === 'refused' || outcome.kind === 'unknown') return outcome;
      return unknown('malformed', `search answered ${outcome.kind}`);
    }
  }

  async *list(range: {
    readonly fromMs: number;
    readonly toMs: number;
  }): AsyncIterable<GatewayPaymentIntent> {
    const stripe = await this.stripe();
    if (stripe.refused) throw new Error(stripe.refused.reason);
    const pages = stripe.client.paymentIntents.list({
      created: { gte: Math.floor(range.fromMs / 1000), lt: Math.ceil(range.toMs / 1000) },
      limit: 100,
    });
    for await (const intent of pages) {
      const view = viewOf(intent);
      if (view) yield view;
    }
  }

  private async ask(call: (stripe: Stripe) => Promise<GatewayOutcome>): Promise<GatewayOutcome> {
    const stripe = await this.stripe();
    if (stripe.refused) return stripe.refused;
    try {
      return await call(stripe.client);
    } catch (error) {
      return this.classify(stripe.key, error);
    }
  }

  private classify(key: string, error: unknown): GatewayOutcome {
    const outcome = classify(error);
    if (outcome.kind === 'refused') this.refusedKey = { key, reason: outcome.reason };
    return outcome;
  }

  private async stripe(): Promise<
    | { key: string; client: Stripe; refused?: undefined }
    | { key: string; refused: GatewayOutcome & { kind: 'refused' } }
  > {
    const key = await this.props.apiKey();
    if (this.refusedKey?.key === key) {
      return {
        key,
        refused: {
          kind: 'refused',
          reason: `the gateway refused this API key earlier (${this.refusedKey.reason}); not asked again until the key changes`,
        },
      };
    }
    if (this.client?.key !== key) {
      const url = new URL(this.props.url);
      this.client = {
        key,
        stripe: new Stripe(key, {
          host: url.hostname,
          port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
          protocol: url.protocol === 'https:' ? 'https' : 'http',
          timeout: this.props.timeoutMs,
          maxNetworkRetries: this.props.maxNetworkRetries ?? 1,
          telemetry: false,
        }),
      };
    }
    return { key, client: this.client.stripe };
  }
}

function unknown(
  cause: string,
  reason: string,
  replayedServerError = false,
): Extract<GatewayOutcome, { kind: 'unknown' }> {
  return { kind: 'unknown', cause, reason, ...(replayedServerError ? { replayedServerError } : {}) };
}

/** A PaymentIntent reduced to what the pipeline reads; undefined when the object is not one. */
export function viewOf(intent: unknown): GatewayPaymentIntent | undefined {
  const pi = intent as Partial<Stripe.PaymentIntent> | undefined;
  if (
    pi?.object !== 'payment_intent' ||
    typeof pi.id !== 'string' ||
    typeof pi.status !== 'string' ||
    typeof pi.amount !== 'number' ||
    typeof pi.created !== 'number'
  ) {
    return undefined;
  }
  const error = pi.last_payment_error;
  const declineCode = error?.decline_code ?? error?.code;
  return {
    id: pi.id,
    status: pi.status,
    amount: pi.amount,
    currency: String(pi.currency ?? ''),
    created: pi.created,
    metadata: { ...(pi.metadata ?? {}) },
    ...(declineCode ? { declineCode } : {}),
    ...(error?.message ? { failureMessage: error.message } : {}),
  };
}

/**
 * What a PaymentIntent says about its charge. `expected`: the metadata the charge sent; an answer that does not
 * carry it is not this charge's (a proxy's cache, a misrouted answer) and is never taken as an outcome.
 */
export function outcomeOf(intent: unknown, expected?: ChargeMetadata): GatewayOutcome {
  const view = viewOf(intent);
  if (!view) return unknown('malformed', 'the gateway answered something that is not a payment intent');
  if (expected && Object.entries(expected).some(([name, value]) => view.metadata[name] !== value)) {
    return unknown('foreign-metadata', `payment intent ${view.id} does not carry this charge's metadata`);
  }
  switch (view.status) {
    case 'succeeded':
      return { kind: 'succeeded', paymentIntentId: view.id };
    case 'processing':
      return { kind: 'processing', paymentIntentId: view.id };
    case 'requires_payment_method':
      // What a failed confirmation (or a bank debit that failed to settle) leaves: a decline with its reason.
      return {
        kind: 'declined',
        paymentIntentId: view.id,
        ...(view.declineCode ? { declineCode: view.declineCode } : {}),
        message: view.failureMessage ?? 'The payment failed.',
      };
    default:
      // requires_action, requires_confirmation, canceled, …: never guessed into a success or a decline.
      return unknown('unknown-status', `payment intent ${view.id} is ${view.status}`);
  }
}

/** A definite refusal is a failed attempt; a refused key is `refused`; everything else leaves the charge pending. */
export function classify(error: unknown): GatewayOutcome {
  if (error instanceof Stripe.errors.StripeCardError) {
    const intent = viewOf((error as { payment_intent?: unknown }).payment_intent);
    return {
      kind: 'declined',
      declineCode: error.decline_code ?? error.code ?? 'card_declined',
      message: error.message,
      ...(intent ? { paymentIntentId: intent.id } : {}),
    };
  }
  const status = (error as { statusCode?: number } | undefined)?.statusCode;
  if (
    error instanceof Stripe.errors.StripeAuthenticationError ||
    error instanceof Stripe.errors.StripePermissionError ||
    status === 401 ||
    status === 403
  ) {
    return { kind: 'refused', reason: `HTTP ${status ?? 401}: ${(error as Error).message}` };
  }
  // The SDK raises a 409 as a StripeAPIError whose raw type says idempotency_error.
  if (
    error instanceof Stripe.errors.StripeIdempotencyError ||
    (error as { rawType?: string } | undefined)?.rawType === 'idempotency_error'
  ) {
    // In flight (409), or the key was used with other parameters: never a reason to charge under another key.
    return unknown(
      status === 409 ? 'in-flight' : 'idempotency-error',
      `idempotency error: ${(error as Error).message}`,
    );
  }
  if (error instanceof Stripe.errors.StripeRateLimitError || status === 429) {
    return unknown('rate-limited', `rate limited: ${(error as Error).message}`);
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError && status === 400) {
    // The request itself is refused (an unknown payment method, say): asking again cannot change that.
    return { kind: 'declined', declineCode: error.code ?? 'invalid_request', message: error.message };
  }
  if (status !== undefined && status >= 500) {
    const headers = (error as { headers?: Record<string, string> }).headers ?? {};
    const replayed = String(headers['idempotent-replayed'] ?? '').toLowerCase() === 'true';
    return unknown(
      replayed ? 'replayed-server-error' : 'server-error',
      `HTTP ${status}${replayed ? ' (replayed)' : ''}: ${(error as Error).message}`,
      replayed,
    );
  }
  const name = (error as { type?: string; name?: string } | undefined)?.type ?? (error as Error)?.name;
  const cause =
    error instanceof Stripe.errors.StripeConnectionError
      ? 'connection'
      : /invalid json/i.test((error as Error)?.message ?? '')
        ? 'malformed'
        : 'error';
  return unknown(cause, `${name ?? 'error'}${status ? ` ${status}` : ''}: ${(error as Error)?.message}`);
}
