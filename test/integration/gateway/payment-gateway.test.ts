import Stripe from 'stripe';
import { type GatewayFault, PaymentGateway } from '../../../local/payment-gateway/payment-gateway';

/** The bundled gateway, driven by the official `stripe` SDK as the charge path drives it. */
let gateway: PaymentGateway;

beforeEach(async () => {
  gateway = await PaymentGateway.start({ apiKey: 'sk_test_gateway' });
});

afterEach(async () => {
  await gateway.stop();
});

function stripe(options: { key?: string; timeoutMs?: number } = {}) {
  const url = new URL(gateway.url);
  return new Stripe(options.key ?? 'sk_test_gateway', {
    host: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    maxNetworkRetries: 0,
    timeout: options.timeoutMs ?? 5_000,
  });
}

const charge = (paymentMethod = 'pm_card_visa', period = '2026-11-22') => ({
  amount: 1999,
  currency: 'usd',
  payment_method: paymentMethod,
  confirm: true,
  off_session: true,
  metadata: { subscription_id: 'sub_1', period },
});

describe('bundled payment gateway', () => {
  it('charges a test card and answers a PaymentIntent', async () => {
    const intent = await stripe().paymentIntents.create(charge(), {
      idempotencyKey: 'charge-sub_1-2026-11-22-1',
    });
    expect(intent).toMatchObject({
      id: expect.stringMatching(/^pi_/),
      object: 'payment_intent',
      amount: 1999,
      currency: 'usd',
      status: 'succeeded',
      metadata: { subscription_id: 'sub_1', period: '2026-11-22' },
    });
    expect(gateway.successfulCharges({ subscription_id: 'sub_1' })).toHaveLength(1);
  });

  it.each([
    ['pm_card_chargeDeclined', 'generic_decline'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
  ])('declines %s with 402 card_declined (%s)', async (paymentMethod, declineCode) => {
    const attempt = stripe().paymentIntents.create(charge(paymentMethod), {
      idempotencyKey: `k-${paymentMethod}`,
    });
    await expect(attempt).rejects.toMatchObject({
      type: 'StripeCardError',
      statusCode: 402,
      code: 'card_declined',
      decline_code: declineCode,
    });
    expect(gateway.successfulCharges()).toHaveLength(0);
  });

  it('replays the stored answer for the same key and parameters', async () => {
    const first = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'same' });
    const again = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'same' });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(gateway.successfulCharges()).toHaveLength(1);
  });

  it('refuses the same key with other parameters (400 idempotency_error)', async () => {
    await stripe().paymentIntents.create(charge(), { idempotencyKey: 'reused' });
    await expect(
      stripe().paymentIntents.create({ ...charge(), amount: 5 }, { idempotencyKey: 'reused' }),
    ).rejects.toMatchObject({ type: 'StripeIdempotencyError', statusCode: 400 });
  });

  it('answers 409 while a request with the key is in flight', async () => {
    let calls = 0;
    gateway.faults = (): GatewayFault => (++calls === 1 ? { kind: 'delay', ms: 400 } : { kind: 'none' });
    const slow = stripe().paymentIntents.create(charge(), { idempotencyKey: 'busy' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(stripe().paymentIntents.create(charge(), { idempotencyKey: 'busy' })).rejects.toMatchObject({
      statusCode: 409,
    });
    await expect(slow).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('commit-then-hang: the client times out, the retry with the same key gets the first charge', async () => {
    let calls = 0;
    gateway.faults = (): GatewayFault => (++calls === 1 ? { kind: 'commit-then-hang' } : { kind: 'none' });
    await expect(
      stripe({ timeoutMs: 300 }).paymentIntents.create(charge(), { idempotencyKey: 'lost-answer' }),
    ).rejects.toMatchObject({ type: 'StripeConnectionError' });
    const retried = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'lost-answer' });
    expect(retried.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(gateway.successfulCharges()).toEqual([expect.objectContaining({ paymentIntentId: retried.id })]);
  });

  it('a 500 charges nothing and lets the same key charge once later', async () => {
    let calls = 0;
    gateway.faults = (): GatewayFault => (++calls === 1 ? { kind: 'error500' } : { kind: 'none' });
    await expect(stripe().paymentIntents.create(charge(), { idempotencyKey: 'flaky' })).rejects.toMatchObject(
      {
        statusCode: 500,
      },
    );
    expect(gateway.successfulCharges()).toHaveLength(0);
    await stripe().paymentIntents.create(charge(), { idempotencyKey: 'flaky' });
    expect(gateway.successfulCharges()).toHaveLength(1);
  });

  it('garbage answers fail the client; a committed one is replayed by the same key', async () => {
    let calls = 0;
    gateway.faults = (): GatewayFault =>
      ++calls === 1 ? { kind: 'garbage', commit: true } : { kind: 'none' };
    await expect(stripe().paymentIntents.create(charge(), { idempotencyKey: 'garbled' })).rejects.toThrow();
    const retried = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'garbled' });
    expect(gateway.successfulCharges()).toEqual([expect.objectContaining({ paymentIntentId: retried.id })]);
  });

  it('garbage without commit charges nothing, and the same key charges once later', async () => {
    let calls = 0;
    gateway.faults = (): GatewayFault =>
      ++calls <= 2 ? { kind: 'garbage', commit: false } : { kind: 'none' };
    await expect(stripe().paymentIntents.create(charge(), { idempotencyKey: 'lost' })).rejects.toThrow();
    await expect(stripe().paymentIntents.create(charge(), { idempotencyKey: 'lost' })).rejects.toThrow();
    expect(gateway.ledger).toEqual([]);
    const charged = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'lost' });
    expect(gateway.ledger).toEqual([expect.objectContaining({ paymentIntentId: charged.id })]);
  });

  it('decline: a working card is declined under that key only; the key replays the decline', async () => {
    gateway.faults = ({ idempotencyKey }): GatewayFault =>
      idempotencyKey === 'attempt-0' ? { kind: 'decline', declineCode: 'do_not_honor' } : { kind: 'none' };
    const declined = { type: 'StripeCardError', statusCode: 402, decline_code: 'do_not_honor' };
    await expect(
      stripe().paymentIntents.create(charge(), { idempotencyKey: 'attempt-0' }),
    ).rejects.toMatchObject(declined);
    // The stored answer, as Stripe keeps a decline: asking again with the key is declined again, charging nothing.
    gateway.faults = () => ({ kind: 'none' });
    await expect(
      stripe().paymentIntents.create(charge(), { idempotencyKey: 'attempt-0' }),
    ).rejects.toMatchObject(declined);
    const retry = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'attempt-1' });
    expect(retry.status).toBe('succeeded');
    expect(gateway.ledger.map((entry) => [entry.idempotencyKey, entry.outcome, entry.declineCode])).toEqual([
      ['attempt-0', 'declined', 'do_not_honor'],
      ['attempt-1', 'succeeded', undefined],
    ]);
  });

  it('refuses a wrong key (401) and invalid parameters (400)', async () => {
    await expect(stripe({ key: 'sk_test_wrong' }).paymentIntents.create(charge())).rejects.toMatchObject({
      statusCode: 401,
    });
    await expect(stripe().paymentIntents.create({ ...charge(), amount: 0 })).rejects.toMatchObject({
      statusCode: 400,
      param: 'amount',
    });
  });
});
