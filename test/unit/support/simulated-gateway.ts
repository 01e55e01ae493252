import Stripe from 'stripe';
import { classify, outcomeOf, viewOf } from '../../../lambdas/billing/adapters/stripe-payment-gateway';
import type {
  ChargeMetadata,
  GatewayOutcome,
  GatewayPaymentIntent,
  PaymentGateway,
} from '../../../lambdas/billing/domain/charges/gateway';
import {
  type Delivered,
  type GatewayFault,
  type ManualClock,
  type SimRequest,
  StripeSimulator,
} from '../../../local/payment-gateway/stripe-simulator';

/**
 * The unit tests' gateway: the domain's PaymentGateway port over the same Stripe simulator the bundled local
 * gateway serves (stored 5xx answers, keys pruned after 24 h of its clock, `processing` that settles, search with
 * its freshness delay), without HTTP. Answers are mapped to outcomes by the production adapter's own `outcomeOf`
 * and `classify` (errors built by the `stripe` SDK's own error factory), so only the transport is skipped.
 */
export class SimulatedGateway implements PaymentGateway {
  readonly simulator: StripeSimulator;
  /** The fault of the next create request that reaches execution (then reset). */
  nextFault: GatewayFault = { kind: 'none' };
  /** A standing fault per request, e.g. by subscription (applies when `nextFault` is none). */
  faultFor: (request: Parameters<PaymentGateway['charge']>[0]) => GatewayFault = () => ({ kind: 'none' });
  /** Requests the pipeline made, by kind. */
  readonly calls = { charge: 0, retrieve: 0, search: 0 };
  apiKey = 'sk_test_unit';

  constructor(clock: ManualClock) {
    this.simulator = new StripeSimulator({
      apiKey: this.apiKey,
      clock,
      processingDelayMs: 60_000,
      searchDelayMs: 60_000,
    });
  }

  async charge(request: Parameters<PaymentGateway['charge']>[0]): Promise<GatewayOutcome> {
    this.calls.charge += 1;
    const fault = this.nextFault.kind === 'none' ? this.faultFor(request) : this.nextFault;
    this.nextFault = { kind: 'none' };
    const params: Record<string, string> = {
      amount: String(request.amount),
      currency: request.currency.toLowerCase(),
      payment_method: request.paymentMethod,
      confirm: 'true',
      off_session: 'true',
    };
    for (const [name, value] of Object.entries(request.metadata)) params[`metadata[${name}]`] = value;
    return this.outcome(
      this.send(
        { method: 'POST', path: '/v1/payment_intents', params, idempotencyKey: request.idempotencyKey },
        fault,
      ),
      request.metadata,
    );
  }

  async retrieve(paymentIntentId: string): Promise<GatewayOutcome> {
    this.calls.retrieve += 1;
    return this.outcome(this.send({ method: 'GET', path: `/v1/payment_intents/${paymentIntentId}` }));
  }

  async search(metadata: ChargeMetadata): ReturnType<PaymentGateway['search']> {
    this.calls.search += 1;
    const query = Object.entries(metadata)
      .map(([name, value]) => `metadata['${name}']:'${value}'`)
      .join(' AND ');
    const delivered = this.send({
      method: 'GET',
      path: '/v1/payment_intents/search',
      query: { query, limit: '100' },
    });
    if (delivered.delivery === 'answer' && delivered.response.status === 200) {
      const body = delivered.response.body as { data: unknown[] };
      return {
        kind: 'found',
        intents: body.data.map((intent) => viewOf(intent)).filter((v): v is GatewayPaymentIntent => !!v),
      };
    }
    const outcome = this.outcome(delivered);
    if (outcome.kind === 'unknown' || outcome.kind === 'refused') return outcome;
    return { kind: 'unknown', cause: 'malformed', reason: `search answered ${outcome.kind}` };
  }

  /** PaymentIntents that moved money (succeeded, or processing that will succeed), as the ledger sees them. */
  moneyMoved(metadata: Readonly<Record<string, string>> = {}) {
    return this.simulator.successfulCharges(metadata);
  }

  private send(request: SimRequest, fault?: GatewayFault): Delivered {
    return this.simulator.send({ ...request, apiKey: this.apiKey }, fault);
  }

  private outcome(delivered: Delivered, metadata?: ChargeMetadata): GatewayOutcome {
    if (delivered.delivery === 'hang') {
      return { kind: 'unknown', cause: 'timeout', reason: 'the request timed out' };
    }
    if (delivered.delivery === 'garbage')
      return classify(new Error('Invalid JSON received from the Stripe API'));
    const { status, body, headers } = delivered.response;
    if (status >= 200 && status < 300) return outcomeOf(body, metadata);
    const raw = (body as { error?: Record<string, unknown> }).error ?? {};
    return classify(Stripe.errors.StripeError.generate({ ...raw, statusCode: status, headers } as never));
  }
}
