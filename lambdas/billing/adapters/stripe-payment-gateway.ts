import Stripe from 'stripe';
import type {
  ChargeMetadata,
  GatewayOutcome,
  GatewayPaymentIntent,
  PaymentGateway,
  PaymentIntentLedger,
} from '../domain/charges/gateway';
import type { GatewayPace } from '../domain/gateway-pace';

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
 *
 * Every request (a create, a retrieve, each page of a search or a list) first waits for its turn under the shared
 * gateway limit (`pace`, domain/gateway-pace.ts). A request that finds no turn in time is not sent; it and a 429
 * are `unknown` with `rateLimited` (a list, which has no outcome, waits and asks the page again), and a 429 holds
 * this environment's requests back for its Retry-After, or a jittered second when Stripe gives none.
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
      /** The shared gateway limit every request waits for. @default none: requests go at once */
      readonly pace?: GatewayPace;
      /** In [0, 1): the jitter of the hold-off after a 429 without Retry-After. @default Math.random */
      readonly random?: () => number;
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
      // Page by page, each page a request that waits for its turn.
      let page: string | undefined;
      do {
        const turn = await this.turn();
        if (turn) return turn;
        const result = await stripe.client.paymentIntents.search({
          query,
          limit: 100,
          ...(page ? { page } : {}),
        });
        for (const intent of result.data) {
          const view = viewOf(intent);
          if (!view) return unknown('malformed', 'a search result that is not a payment intent');
          intents.push(view);
        }
        page = result.has_more ? (result.next_page ?? undefined) : undefined;
      } while (page);
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
    const created = { gte: Math.floor(range.fromMs / 1000), lt: Math.ceil(range.toMs / 1000) };
    let after: string | undefined;
    for (;;) {
      const page = await this.listPage(stripe.client, created, after);
      for (const intent of page.data) {
        const view = viewOf(intent);
        if (view) yield view;
      }
      const last = page.data[page.data.length - 1];
      if (!page.has_more || !last) return;
      after = last.id;
    }
  }

  /**
   * One page of the list, in its turn. A read changes nothing, so a page refused with a 429 (or that found no turn)
   * is asked again after the wait, a few times; then the reconciliation fails and its message comes back later.
   */
  private async listPage(
    client: Stripe,
    created: { gte: number; lt: number },
    after: string | undefined,
  ): Promise<Stripe.ApiList<Stripe.PaymentIntent>> {
    for (let tries = 1; ; tries += 1) {
      const turn = await this.turn();
      if (!turn) {
        try {
          return await client.paymentIntents.list({
            created,
            limit: 100,
            ...(after ? { starting_after: after } : {}),
          });
        } catch (error) {
          const outcome = classify(error);
          if (!(outcome.kind === 'unknown' && outcome.rateLimited) || tries >= MAX_LIST_PAGE_TRIES)
            throw error;
          this.heldBack(outcome);
        }
      } else if (tries >= MAX_LIST_PAGE_TRIES) {
        throw new Error(`The gateway limit gave the reconciliation's list no turn: ${turn.reason}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250 * tries));
    }
  }

  private async ask(call: (stripe: Stripe) => Promise<GatewayOutcome>): Promise<GatewayOutcome> {
    const stripe = await this.stripe();
    if (stripe.refused) return stripe.refused;
    try {
      const turn = await this.turn();
      if (turn) return turn;
      return await call(stripe.client);
    } catch (error) {
      return this.classify(stripe.key, error);
    }
  }

  /** Waits for this request's turn under the shared limit: undefined when it may go, else why it may not. */
  private async turn(): Promise<Extract<GatewayOutcome, { kind: 'unknown' }> | undefined> {
    if (!this.props.pace) return undefined;
    const turn = await this.props.pace.turn();
    if (turn.granted) return undefined;
    return {
      kind: 'unknown',
      cause: 'rate-limit-wait',
      reason: `no turn under the gateway's shared rate limit in time; not sent (again in ${turn.retryAfterMs} ms at the earliest)`,
      rateLimited: { retryAfterMs: turn.retryAfterMs },
    };
  }

  private classify(key: string, error: unknown): GatewayOutcome {
    const outcome = classify(error);
    if (outcome.kind === 'refused') this.refusedKey = { key, reason: outcome.reason };
    if (outcome.kind === 'unknown' && outcome.rateLimited) this.heldBack(outcome);
    return outcome;
  }

  /** A 429: this environment's requests wait for its Retry-After, or a jittered second (0.5 to 1.5 s). */
  private heldBack(outcome: Extract<GatewayOutcome, { kind: 'unknown' }>): void {
    const random = this.props.random ?? Math.random;
    this.props.pace?.holdOff(outcome.rateLimited?.retryAfterMs ?? 500 + 1000 * random());
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

/** A list page refused by the limit this many times fails the reconciliation's step (its message comes back). */
const MAX_LIST_PAGE_TRIES = 5;

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
    // Refused before execution (Stripe's rate limiter runs before any endpoint): nothing made, nothing saved under
    // the key. Not an answer: asked again with the same key once the wait is over.
    const retryAfterMs = retryAfterOf((error as { headers?: Record<string, string> }).headers);
    return {
      kind: 'unknown',
      cause: 'rate-limited',
      reason: `rate limited (HTTP 429): ${(error as Error).message}`,
      rateLimited: retryAfterMs !== undefined ? { retryAfterMs } : {},
    };
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

/** A Retry-After header (seconds, or an HTTP date) in milliseconds; undefined when absent or unreadable. */
export function retryAfterOf(
  headers: Readonly<Record<string, string | undefined>> | undefined,
  now = Date.now(),
) {
  const value = headers?.['retry-after']?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
