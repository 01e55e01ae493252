import Stripe from 'stripe';
import { type GatewayFault, PaymentGateway } from '../../../local/payment-gateway/payment-gateway';

/**
 * The bundled gateway over HTTP, driven by the official `stripe` SDK as the charge path drives it: every answer
 * must parse into what the SDK returns or throws for Stripe's. The rules themselves are unit-tested on the
 * simulator (test/unit/gateway-simulator.test.ts); these tests are about the wire.
 */
let gateway: PaymentGateway;

beforeEach(async () => {
  gateway = await PaymentGateway.start({ apiKey: 'sk_test_gateway' });
});

afterEach(async () => {
  await gateway.stop();
});

function stripe(options: { key?: string; timeoutMs?: number; retries?: number } = {}) {
  const url = new URL(gateway.url);
  return new Stripe(options.key ?? 'sk_test_gateway', {
    host: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    maxNetworkRetries: options.retries ?? 0,
    timeout: options.timeoutMs ?? 5_000,
    telemetry: false,
  });
}

const charge = (paymentMethod = 'pm_card_visa', period = '2026-11-22', subscription = 'sub_1') => ({
  amount: 1999,
  currency: 'usd',
  payment_method: paymentMethod,
  confirm: true,
  off_session: true,
  metadata: { subscription_id: subscription, period },
});

/** Counts the create requests that reached execution, so a test can tell the SDK's own retries. */
function countingFaults(fault: (call: number) => GatewayFault) {
  let calls = 0;
  gateway.faults = () => fault(++calls);
  return () => calls;
}

describe('bundled payment gateway through the stripe SDK', () => {
  it('listens on loopback only', () => {
    expect(new URL(gateway.url).hostname).toBe('127.0.0.1');
  });

  it('charges a test card and answers a PaymentIntent the SDK can retrieve', async () => {
    const intent = await stripe().paymentIntents.create(charge(), {
      idempotencyKey: 'charge-sub_1-2026-11-22-1',
    });
    expect(intent).toMatchObject({
      id: expect.stringMatching(/^pi_/),
      object: 'payment_intent',
      amount: 1999,
      currency: 'usd',
      status: 'succeeded',
      last_payment_error: null,
      metadata: { subscription_id: 'sub_1', period: '2026-11-22' },
    });
    const retrieved = await stripe().paymentIntents.retrieve(intent.id);
    expect(retrieved.status).toBe('succeeded');
    expect(gateway.successfulCharges({ subscription_id: 'sub_1' })).toHaveLength(1);
    await expect(stripe().paymentIntents.retrieve('pi_missing')).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 404,
      code: 'resource_missing',
    });
  });

  it.each([
    ['pm_card_chargeDeclined', 'card_declined', 'generic_decline'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
    ['pm_card_chargeDeclinedStolenCard', 'card_declined', 'stolen_card'],
    ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
  ])(
    'declines %s with 402 %s (%s), carrying the PaymentIntent it created',
    async (paymentMethod, code, declineCode) => {
      const attempt = stripe().paymentIntents.create(charge(paymentMethod), {
        idempotencyKey: `k-${paymentMethod}`,
      });
      const error = await attempt.then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
      expect(error).toMatchObject({
        statusCode: 402,
        code,
        decline_code: declineCode,
        payment_intent: {
          status: 'requires_payment_method',
          last_payment_error: { decline_code: declineCode },
        },
      });
      expect(gateway.successfulCharges()).toHaveLength(0);
      expect(gateway.ledger).toEqual([expect.objectContaining({ outcome: 'declined', declineCode })]);
    },
  );

  it('a bank debit answers processing and settles on the gateway clock', async () => {
    const succeeds = await stripe().paymentIntents.create(charge('pm_test_processing_succeeds'), {
      idempotencyKey: 'ach-ok',
    });
    const fails = await stripe().paymentIntents.create(charge('pm_test_processing_fails', '2026-12-22'), {
      idempotencyKey: 'ach-ko',
    });
    expect([succeeds.status, fails.status]).toEqual(['processing', 'processing']);
    expect((await stripe().paymentIntents.retrieve(succeeds.id)).status).toBe('processing');
    gateway.clock.advance(10_000);
    expect((await stripe().paymentIntents.retrieve(succeeds.id)).status).toBe('succeeded');
    const failed = await stripe().paymentIntents.retrieve(fails.id);
    expect(failed).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { code: 'card_declined', decline_code: 'generic_decline' },
    });
    expect(gateway.successfulCharges()).toEqual([expect.objectContaining({ paymentIntentId: succeeds.id })]);
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
    countingFaults((call) => (call === 1 ? { kind: 'delay', ms: 400 } : { kind: 'none' }));
    const slow = stripe().paymentIntents.create(charge(), { idempotencyKey: 'busy' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(stripe().paymentIntents.create(charge(), { idempotencyKey: 'busy' })).rejects.toMatchObject({
      // The SDK keeps StripeIdempotencyError for 400s: a 409 is a StripeAPIError of raw type idempotency_error.
      type: 'StripeAPIError',
      rawType: 'idempotency_error',
      statusCode: 409,
      code: 'idempotency_key_in_use',
    });
    await expect(slow).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('commit-then-hang: the client times out, the retry with the same key gets the first charge', async () => {
    countingFaults((call) => (call === 1 ? { kind: 'commit-then-hang' } : { kind: 'none' }));
    await expect(
      stripe({ timeoutMs: 300 }).paymentIntents.create(charge(), { idempotencyKey: 'lost-answer' }),
    ).rejects.toMatchObject({ type: 'StripeConnectionError' });
    const retried = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'lost-answer' });
    expect(retried.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(gateway.successfulCharges()).toEqual([expect.objectContaining({ paymentIntentId: retried.id })]);
  });

  it('a 500 is saved under its key: the same key replays it for 24 h, then charges anew', async () => {
    const calls = countingFaults(() => ({ kind: 'error500' }));
    // Stripe-Should-Retry: false keeps the SDK from spending its retry on a replay.
    const first = stripe({ retries: 1 }).paymentIntents.create(charge(), { idempotencyKey: 'flaky' });
    await expect(first).rejects.toMatchObject({ type: 'StripeAPIError', statusCode: 500 });
    expect(calls()).toBe(1);
    gateway.faults = () => ({ kind: 'none' });
    const replayed = await stripe()
      .paymentIntents.create(charge(), { idempotencyKey: 'flaky' })
      .catch((error: Stripe.errors.StripeError) => error);
    expect(replayed).toMatchObject({ statusCode: 500, headers: { 'idempotent-replayed': 'true' } });
    expect(gateway.ledger).toEqual([]);
    gateway.clock.advance(24 * 3_600_000);
    await stripe().paymentIntents.create(charge(), { idempotencyKey: 'flaky' });
    expect(gateway.successfulCharges()).toHaveLength(1);
  });

  it('a committed 500: money moved behind a replayed 500, found by search once indexed', async () => {
    gateway.faults = () => ({ kind: 'error500', commit: true });
    const ask = () => stripe().paymentIntents.create(charge(), { idempotencyKey: 'behind-500' });
    await expect(ask()).rejects.toMatchObject({ statusCode: 500 });
    await expect(ask()).rejects.toMatchObject({
      statusCode: 500,
      headers: { 'idempotent-replayed': 'true' },
    });
    const query = "metadata['subscription_id']:'sub_1' AND metadata['period']:'2026-11-22'";
    const before = await stripe().paymentIntents.search({ query });
    expect(before).toMatchObject({ object: 'search_result', data: [], has_more: false, next_page: null });
    gateway.clock.advance(60_000);
    const found = await stripe().paymentIntents.search({ query });
    expect(found.data.map((intent) => intent.id)).toEqual(
      gateway.successfulCharges().map((e) => e.paymentIntentId),
    );
  });

  it('429 rate_limit: nothing made or saved, the same key charges once later', async () => {
    countingFaults((call) => (call === 1 ? { kind: 'rate-limit' } : { kind: 'none' }));
    await expect(
      stripe().paymentIntents.create(charge(), { idempotencyKey: 'busy-api' }),
    ).rejects.toMatchObject({
      type: 'StripeRateLimitError',
      statusCode: 429,
      code: 'rate_limit',
    });
    expect(gateway.ledger).toEqual([]);
    const charged = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'busy-api' });
    expect(charged.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(gateway.successfulCharges()).toHaveLength(1);
  });

  it('garbage answers fail the client; a committed one is replayed by the same key', async () => {
    countingFaults((call) => (call === 1 ? { kind: 'garbage', commit: true } : { kind: 'none' }));
    await expect(stripe().paymentIntents.create(charge(), { idempotencyKey: 'garbled' })).rejects.toThrow();
    const retried = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'garbled' });
    expect(gateway.successfulCharges()).toEqual([expect.objectContaining({ paymentIntentId: retried.id })]);
  });

  it('garbage without commit charges nothing, and the same key charges once later', async () => {
    countingFaults((call) => (call <= 2 ? { kind: 'garbage', commit: false } : { kind: 'none' }));
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

  it('search pages through the SDK, and refuses an unparseable query', async () => {
    for (let i = 0; i < 5; i += 1) {
      await stripe().paymentIntents.create(charge('pm_card_visa', `2026-0${i + 1}-01`), {
        idempotencyKey: `s${i}`,
      });
    }
    gateway.clock.advance(60_000);
    const all = await stripe()
      .paymentIntents.search({ query: "metadata['subscription_id']:'sub_1'", limit: 2 })
      .autoPagingToArray({ limit: 100 });
    expect(all.map((intent) => intent.metadata.period)).toEqual([
      '2026-05-01',
      '2026-04-01',
      '2026-03-01',
      '2026-02-01',
      '2026-01-01',
    ]);
    await expect(
      stripe().paymentIntents.search({ query: 'metadata[subscription_id]:sub_1' }),
    ).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 400,
      param: 'query',
    });
  });

  it('lists by creation time, newest first, including an orphan planted for reconciliation', async () => {
    const start = Math.floor(gateway.clock.now() / 1000);
    const ours = await stripe().paymentIntents.create(charge(), { idempotencyKey: 'ours' });
    gateway.clock.advance(2_000);
    const orphan = gateway.injectPaymentIntent({
      amount: 1999,
      currency: 'usd',
      metadata: { subscription_id: 'sub_1', period: '2026-11-22', attempt: '0' },
    });
    gateway.clock.advance(2_000);
    await stripe().paymentIntents.create(charge('pm_card_visa', '2026-12-22'), { idempotencyKey: 'later' });
    const page = await stripe().paymentIntents.list({
      created: { gte: start, lt: orphan.created + 1 },
      limit: 1,
    });
    expect(page).toMatchObject({ object: 'list', has_more: true });
    expect(page.data.map((intent) => intent.id)).toEqual([orphan.id]);
    const all = await stripe()
      .paymentIntents.list({ created: { gte: start, lt: orphan.created + 1 }, limit: 1 })
      .autoPagingToArray({ limit: 100 });
    expect(all.map((intent) => intent.id)).toEqual([orphan.id, ours.id]);
    expect(gateway.successfulCharges({ subscription_id: 'sub_1', period: '2026-11-22' })).toHaveLength(2);
  });

  it('refuses a wrong key (401), an expired one (401 api_key_expired), a restricted one (403)', async () => {
    await expect(stripe({ key: 'sk_test_wrong' }).paymentIntents.create(charge())).rejects.toMatchObject({
      type: 'StripeAuthenticationError',
      statusCode: 401,
    });
    gateway.addRestrictedKey('rk_test_reader', { read: true, write: false });
    await expect(stripe({ key: 'rk_test_reader' }).paymentIntents.create(charge())).rejects.toMatchObject({
      type: 'StripePermissionError',
      statusCode: 403,
    });
    await expect(stripe({ key: 'rk_test_reader' }).paymentIntents.list()).resolves.toMatchObject({
      data: [],
    });
    gateway.apiKey = 'sk_test_rolled';
    await expect(stripe().paymentIntents.create(charge(), { idempotencyKey: 'k' })).rejects.toMatchObject({
      type: 'StripeAuthenticationError',
      statusCode: 401,
      code: 'api_key_expired',
    });
    // Refused before execution: the key was not taken, and the new secret charges with it.
    const charged = await stripe({ key: 'sk_test_rolled' }).paymentIntents.create(charge(), {
      idempotencyKey: 'k',
    });
    expect(charged.status).toBe('succeeded');
    gateway.revokeKey();
    await expect(stripe({ key: 'sk_test_rolled' }).paymentIntents.list()).rejects.toMatchObject({
      code: 'api_key_expired',
    });
  });

  it('refuses invalid parameters (400), a malformed body (400) and an oversize one (413)', async () => {
    await expect(stripe().paymentIntents.create({ ...charge(), amount: 0 })).rejects.toMatchObject({
      statusCode: 400,
      param: 'amount',
    });
    const post = (body: string, contentType = 'application/x-www-form-urlencoded') =>
      fetch(`${gateway.url}/v1/payment_intents`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk_test_gateway', 'content-type': contentType },
        body,
      });
    expect((await post('amount=%zz')).status).toBe(400);
    expect((await post('{"amount":1}', 'application/json')).status).toBe(400);
    expect((await post(`description=${'x'.repeat(70 * 1024)}`)).status).toBe(413);
    expect(gateway.ledger).toEqual([]);
  });

  it('read faults: a search that fails or is rate limited saves nothing', async () => {
    gateway.readFaults = ({ path }) =>
      path.endsWith('/search') ? { kind: 'error500' } : { kind: 'rate-limit' };
    await expect(stripe().paymentIntents.search({ query: "status:'succeeded'" })).rejects.toMatchObject({
      type: 'StripeAPIError',
      statusCode: 500,
    });
    await expect(stripe().paymentIntents.list()).rejects.toMatchObject({ type: 'StripeRateLimitError' });
    gateway.readFaults = () => ({ kind: 'none' });
    await expect(stripe().paymentIntents.list()).resolves.toMatchObject({ data: [] });
  });
});

describe('like Stripe under load: latency and the rate limiter', () => {
  it('takes latencyMs for every admitted request, answers 429 rate_limit at once past the rate, and saves nothing for it', async () => {
    // Prepare
    gateway.latencyMs = 300;
    gateway.rateLimit = { requestsPerSecond: 1 };
    const client = stripe();
    // Act
    const started = Date.now();
    const first = await client.paymentIntents.create(charge(), { idempotencyKey: 'rl-1' });
    const tookFirst = Date.now() - started;
    const refusedAt = Date.now();
    const refused = await client.paymentIntents
      .create(charge('pm_card_visa', '2026-11-22', 'sub_2'), { idempotencyKey: 'rl-2' })
      .catch((error: unknown) => error);
    const tookRefused = Date.now() - refusedAt;
    // Assess: the SDK reads Stripe's rate limit error; the refused key charges once the second has passed.
    expect(first.status).toBe('succeeded');
    expect(tookFirst).toBeGreaterThanOrEqual(295);
    expect(refused).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(refused).toMatchObject({ statusCode: 429, code: 'rate_limit' });
    expect(tookRefused).toBeLessThan(250);
    expect(gateway.rateLimitedRequests).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const later = await client.paymentIntents.create(charge('pm_card_visa', '2026-11-22', 'sub_2'), {
      idempotencyKey: 'rl-2',
    });
    expect(later.status).toBe('succeeded');
    expect(gateway.ledger.map((entry) => entry.idempotencyKey)).toEqual(['rl-1', 'rl-2']);
  });
});
