import Stripe from 'stripe';
import type { GatewayOutcome, PaymentGateway } from '../domain/subscriptions/charges';

/**
 * The payment gateway through the official `stripe` SDK, pointed at PAYMENT_GATEWAY_URL (CONTRACT.md section 5).
 * The SDK sends the claim's Idempotency-Key on the request and on its own retry; after a timeout it asks again
 * with that key and so gets the first answer. Anything that is not a definite answer is `unknown`: the charge stays
 * pending and is asked again later, with the same key.
 */
export class StripePaymentGateway implements PaymentGateway {
  private client?: { key: string; stripe: Stripe };

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
    const stripe = await this.stripe();
    try {
      const intent = await stripe.paymentIntents.create(
        {
          amount: request.amount,
          currency: request.currency.toLowerCase(),
          payment_method: request.paymentMethod,
          confirm: true,
          off_session: true,
          metadata: { subscription_id: request.metadata.subscription_id, period: request.metadata.period },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      if (intent.status === 'succeeded' && typeof intent.id === 'string') {
        return { kind: 'succeeded', paymentIntentId: intent.id };
      }
      // requires_action and the like cannot complete off-session: the attempt failed, as Stripe's dunning sees it.
      if (typeof intent.status === 'string' && typeof intent.id === 'string') {
        return {
          kind: 'declined',
          declineCode: intent.status,
          message: `The payment intent is ${intent.status}.`,
        };
      }
      return { kind: 'unknown', reason: 'the gateway answered something that is not a payment intent' };
    } catch (error) {
      return classify(error);
    }
  }

  private async stripe(): Promise<Stripe> {
    const key = await this.props.apiKey();
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
    return this.client.stripe;
  }
}

/** A definite refusal is a failed attempt; everything else leaves the charge pending. */
export function classify(error: unknown): GatewayOutcome {
  if (error instanceof Stripe.errors.StripeCardError) {
    return {
      kind: 'declined',
      declineCode: error.decline_code ?? error.code ?? 'card_declined',
      message: error.message,
    };
  }
  if (error instanceof Stripe.errors.StripeIdempotencyError) {
    // The key was used with other parameters: a bug, never a reason to charge again under another key.
    return { kind: 'unknown', reason: `idempotency error: ${error.message}` };
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 400) {
    // The request itself is refused (an unknown payment method, say): asking again cannot change that.
    return { kind: 'declined', declineCode: error.code ?? 'invalid_request', message: error.message };
  }
  const name = (error as { type?: string; name?: string } | undefined)?.type ?? (error as Error)?.name;
  const status = (error as { statusCode?: number } | undefined)?.statusCode;
  return {
    kind: 'unknown',
    reason: `${name ?? 'error'}${status ? ` ${status}` : ''}: ${(error as Error)?.message}`,
  };
}
