import fc from 'fast-check';
import {
  type Delivered,
  type GatewayFault,
  IDEMPOTENCY_KEY_RETENTION_MS,
  ManualClock,
  parseSearchQuery,
  type SimResponse,
  type SimulatorOptions,
  StripeSimulator,
} from '../../local/payment-gateway/stripe-simulator';

/**
 * The bundled gateway's rules, without HTTP, on a clock that only moves when told: a day of key life or a minute
 * of search lag costs nothing, and nothing depends on how fast the machine is.
 */

const API_KEY = 'sk_test_unit';
const HOUR = 3_600_000;
const START = Date.UTC(2026, 2, 1, 12);

function setUp(options: SimulatorOptions = {}) {
  const clock = new ManualClock(START);
  const sim = new StripeSimulator({
    apiKey: API_KEY,
    clock,
    processingDelayMs: 10_000,
    searchDelayMs: 60_000,
    ...options,
  });
  return { clock, sim };
}

interface Charge {
  readonly key?: string;
  readonly paymentMethod?: string;
  readonly amount?: number;
  readonly metadata?: Record<string, string>;
  readonly apiKey?: string;
}

function createRequest(charge: Charge = {}) {
  const metadata = charge.metadata ?? { subscription_id: 'sub_1', period: '2026-03-01' };
  return {
    method: 'POST',
    path: '/v1/payment_intents',
    apiKey: charge.apiKey ?? API_KEY,
    idempotencyKey: charge.key,
    params: {
      amount: String(charge.amount ?? 1999),
      currency: 'usd',
      payment_method: charge.paymentMethod ?? 'pm_card_visa',
      confirm: 'true',
      off_session: 'true',
      ...Object.fromEntries(Object.entries(metadata).map(([k, v]) => [`metadata[${k}]`, v])),
    },
  };
}

function answered(delivered: Delivered): SimResponse {
  if (delivered.delivery !== 'answer') throw new Error(`expected an answer, got ${delivered.delivery}`);
  return delivered.response;
}

const create = (sim: StripeSimulator, charge: Charge = {}, fault?: GatewayFault) =>
  answered(sim.send(createRequest(charge), fault));

const get = (sim: StripeSimulator, path: string, query: Record<string, string> = {}, apiKey = API_KEY) =>
  answered(sim.send({ method: 'GET', path, query, apiKey }));

// biome-ignore lint/suspicious/noExplicitAny: response bodies are JSON read by the test
const body = (response: SimResponse): any => response.body;

describe('idempotency, as Stripe keeps it', () => {
  it('replays the first answer for the same key and parameters, with Idempotent-Replayed', () => {
    const { sim } = setUp();
    const first = create(sim, { key: 'k' });
    const again = create(sim, { key: 'k' });
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again).toEqual({ ...first, headers: { 'idempotent-replayed': 'true' } });
    expect(sim.ledger()).toHaveLength(1);
  });

  it('stores a 500 produced while executing and replays it, with or without the PaymentIntent made', () => {
    const { sim } = setUp();
    const lost = create(sim, { key: 'lost' }, { kind: 'error500' });
    const made = create(
      sim,
      { key: 'made', metadata: { subscription_id: 'sub_2' } },
      { kind: 'error500', commit: true },
    );
    for (const response of [lost, made]) {
      expect(response.status).toBe(500);
      expect(body(response).error.type).toBe('api_error');
      expect(response.headers['stripe-should-retry']).toBe('false');
    }
    expect(create(sim, { key: 'lost' })).toMatchObject({
      status: 500,
      headers: { 'idempotent-replayed': 'true' },
    });
    expect(create(sim, { key: 'made', metadata: { subscription_id: 'sub_2' } })).toMatchObject({
      status: 500,
      headers: { 'idempotent-replayed': 'true' },
    });
    // The committed one moved money though its key only ever answers 500: only search or list can tell.
    expect(sim.ledger().map((entry) => [entry.idempotencyKey, entry.outcome])).toEqual([
      ['made', 'succeeded'],
    ]);
  });

  it('prunes a key 24 h after its answer was saved: the same key is then a new request', () => {
    const { clock, sim } = setUp();
    const first = body(create(sim, { key: 'daily' }, { kind: 'error500' }));
    clock.advance(IDEMPOTENCY_KEY_RETENTION_MS - 1);
    expect(create(sim, { key: 'daily' })).toMatchObject({
      status: 500,
      headers: { 'idempotent-replayed': 'true' },
    });
    clock.advance(1);
    const fresh = create(sim, { key: 'daily' });
    expect(fresh.status).toBe(200);
    expect(fresh.headers['idempotent-replayed']).toBeUndefined();
    expect(body(fresh)).not.toEqual(first);
    // ...and that answer is the key's for the next 24 h.
    clock.advance(23 * HOUR);
    expect(body(create(sim, { key: 'daily' })).id).toBe(body(fresh).id);
  });

  it('a key pruned after a success charges again: why the pipeline must not reuse a key past 23 h', () => {
    const { clock, sim } = setUp();
    create(sim, { key: 'k' });
    clock.advance(24 * HOUR);
    create(sim, { key: 'k' });
    expect(sim.successfulCharges({ subscription_id: 'sub_1' })).toHaveLength(2);
  });

  it('refuses the same key with other parameters (400 idempotency_error) and keeps the first answer', () => {
    const { sim } = setUp();
    const first = create(sim, { key: 'k' });
    const other = create(sim, { key: 'k', amount: 5 });
    expect(other.status).toBe(400);
    expect(body(other).error).toMatchObject({ type: 'idempotency_error' });
    expect(body(create(sim, { key: 'k' })).id).toBe(body(first).id);
    expect(sim.ledger()).toHaveLength(1);
  });

  it('answers 409 idempotency_key_in_use while the first request is in flight, then replays it', () => {
    const { sim } = setUp();
    const handled = sim.handle(createRequest({ key: 'busy' }));
    if (handled.kind !== 'admitted') throw new Error('expected the request to be admitted');
    const concurrent = create(sim, { key: 'busy' });
    expect(concurrent.status).toBe(409);
    expect(body(concurrent).error).toMatchObject({
      type: 'idempotency_error',
      code: 'idempotency_key_in_use',
    });
    const first = answered(handled.attempt.apply({ kind: 'none' }));
    expect(body(create(sim, { key: 'busy' })).id).toBe(body(first).id);
  });

  it.each<[string, (sim: StripeSimulator) => SimResponse, number]>([
    ['401 no key', (sim) => create(sim, { key: 'k', apiKey: '' }), 401],
    ['401 wrong key', (sim) => create(sim, { key: 'k', apiKey: 'sk_test_wrong' }), 401],
    [
      '403 restricted key',
      (sim) => {
        sim.addRestrictedKey('rk_test_reader', { read: true, write: false });
        return create(sim, { key: 'k', apiKey: 'rk_test_reader' });
      },
      403,
    ],
    ['429 rate limit', (sim) => create(sim, { key: 'k' }, { kind: 'rate-limit' }), 429],
    ['400 validation', (sim) => create(sim, { key: 'k', amount: 0 }), 400],
  ])('saves nothing for a request refused before execution: %s', (_name, refuse, status) => {
    const { sim } = setUp();
    expect(refuse(sim).status).toBe(status);
    expect(sim.ledger()).toEqual([]);
    const next = create(sim, { key: 'k' });
    expect(next.status).toBe(200);
    expect(next.headers['idempotent-replayed']).toBeUndefined();
  });

  it('garbage and hang: the answer is lost; what was made behind is saved and replayed', () => {
    const { sim } = setUp();
    expect(sim.send(createRequest({ key: 'g1' }), { kind: 'garbage', commit: false })).toEqual({
      delivery: 'garbage',
    });
    expect(sim.send(createRequest({ key: 'h1' }), { kind: 'hang' })).toEqual({ delivery: 'hang' });
    expect(sim.ledger()).toEqual([]);
    expect(sim.send(createRequest({ key: 'g2' }), { kind: 'garbage', commit: true })).toEqual({
      delivery: 'garbage',
    });
    expect(sim.send(createRequest({ key: 'h2' }), { kind: 'commit-then-hang' })).toEqual({
      delivery: 'hang',
    });
    const made = sim.ledger().map((entry) => entry.paymentIntentId);
    expect(made).toHaveLength(2);
    expect([body(create(sim, { key: 'g2' })).id, body(create(sim, { key: 'h2' })).id]).toEqual(made);
    // The uncommitted ones were never saved: their keys charge now, once.
    expect(create(sim, { key: 'g1' }).headers['idempotent-replayed']).toBeUndefined();
    expect(create(sim, { key: 'h1' }).headers['idempotent-replayed']).toBeUndefined();
    expect(sim.ledger()).toHaveLength(4);
  });

  it('decline fault: a working card is declined under that key, and the key replays the decline', () => {
    const { sim } = setUp();
    const declined = create(sim, { key: 'a0' }, { kind: 'decline', declineCode: 'do_not_honor' });
    expect(declined.status).toBe(402);
    expect(body(declined).error).toMatchObject({ code: 'card_declined', decline_code: 'do_not_honor' });
    expect(create(sim, { key: 'a0' })).toMatchObject({
      status: 402,
      headers: { 'idempotent-replayed': 'true' },
    });
    expect(create(sim, { key: 'a1' }).status).toBe(200);
    expect(sim.ledger().map((entry) => [entry.idempotencyKey, entry.outcome, entry.declineCode])).toEqual([
      ['a0', 'declined', 'do_not_honor'],
      ['a1', 'succeeded', undefined],
    ]);
  });

  it('refuses an idempotency key longer than 255 characters', () => {
    const { sim } = setUp();
    expect(create(sim, { key: 'k'.repeat(256) }).status).toBe(400);
    expect(create(sim, { key: 'k'.repeat(255) }).status).toBe(200);
  });
});

describe("the rate limiter, as Stripe's", () => {
  const rateLimitBody = {
    error: {
      type: 'invalid_request_error',
      code: 'rate_limit',
      message: expect.stringContaining('Request rate limit exceeded'),
    },
  };

  it('answers 429 rate_limit past N requests in any second (sliding), counting reads and creates alike', () => {
    const { clock, sim } = setUp({ rateLimit: { requestsPerSecond: 3 } });
    expect(create(sim, { key: 'a' }).status).toBe(200);
    clock.advance(400);
    expect(get(sim, '/v1/payment_intents').status).toBe(200);
    clock.advance(400);
    expect(create(sim, { key: 'b' }).status).toBe(200);
    const refused = create(sim, { key: 'c' });
    expect(refused).toEqual({ status: 429, body: rateLimitBody, headers: {} });
    expect(get(sim, '/v1/payment_intents').status).toBe(429);
    // 1 s after the first, one request has left the window: one more is admitted, then 429 again.
    clock.advance(200);
    expect(create(sim, { key: 'c' }).status).toBe(200);
    expect(create(sim, { key: 'd' }).status).toBe(429);
    expect(sim.rateLimitedRequests).toBe(3);
  });

  it('refuses before execution: nothing made, nothing saved, the same key charges once later', () => {
    const { clock, sim } = setUp({ rateLimit: { requestsPerSecond: 1 } });
    expect(create(sim, { key: 'x' }).status).toBe(200);
    expect(create(sim, { key: 'k' }).status).toBe(429);
    expect(create(sim, { key: 'k' }).status).toBe(429);
    expect(sim.ledger()).toHaveLength(1);
    clock.advance(1000);
    const charged = create(sim, { key: 'k' });
    expect(charged.status).toBe(200);
    expect(charged.headers['idempotent-replayed']).toBeUndefined();
    expect(sim.ledger().map((entry) => entry.idempotencyKey)).toEqual(['x', 'k']);
  });

  it('counts per second of the clock with a fixed window', () => {
    const { clock, sim } = setUp({ rateLimit: { requestsPerSecond: 2, window: 'fixed' } });
    clock.advance(1000 - (clock.now() % 1000) - 10);
    expect(
      [create(sim, { key: 'a' }), create(sim, { key: 'b' }), create(sim, { key: 'c' })].map((r) => r.status),
    ).toEqual([200, 200, 429]);
    // A new second, 10 ms later: two more, although the last 1 s already held two.
    clock.advance(10);
    expect(
      [create(sim, { key: 'c' }), create(sim, { key: 'd' }), create(sim, { key: 'e' })].map((r) => r.status),
    ).toEqual([200, 200, 429]);
  });

  it('refuses every request at 0, authenticates first, and can be changed or lifted while running', () => {
    const { sim } = setUp({ rateLimit: { requestsPerSecond: 0 } });
    expect(create(sim, { key: 'k', apiKey: 'sk_test_wrong' }).status).toBe(401);
    expect(create(sim, { key: 'k' }).status).toBe(429);
    expect(get(sim, '/v1/payment_intents/search', { query: "metadata['period']:'2026-03-01'" }).status).toBe(
      429,
    );
    sim.rateLimit = undefined;
    expect(create(sim, { key: 'k' }).status).toBe(200);
    expect(sim.ledger()).toHaveLength(1);
  });
});

describe('PaymentIntents and test payment methods', () => {
  it('pm_card_visa (and any other method) succeeds with a stored PaymentIntent', () => {
    const { clock, sim } = setUp();
    const intent = body(create(sim, { key: 'k' }));
    expect(intent).toEqual({
      id: expect.stringMatching(/^pi_/),
      object: 'payment_intent',
      amount: 1999,
      amount_received: 1999,
      currency: 'usd',
      status: 'succeeded',
      payment_method: 'pm_card_visa',
      metadata: { subscription_id: 'sub_1', period: '2026-03-01' },
      created: Math.floor(clock.now() / 1000),
      livemode: false,
      last_payment_error: null,
    });
    expect(body(get(sim, `/v1/payment_intents/${intent.id}`))).toEqual(intent);
    expect(body(create(sim, { paymentMethod: 'pm_anything_else' })).status).toBe('succeeded');
  });

  it.each([
    ['pm_card_chargeDeclined', 'card_declined', 'generic_decline'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
    ['pm_card_chargeDeclinedStolenCard', 'card_declined', 'stolen_card'],
    ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
  ])('%s: 402 %s/%s, with the PaymentIntent it created', (paymentMethod, code, declineCode) => {
    const { sim } = setUp();
    const response = create(sim, { key: 'k', paymentMethod });
    expect(response.status).toBe(402);
    const { error } = body(response);
    expect(error).toMatchObject({
      type: 'card_error',
      code,
      decline_code: declineCode,
      message: expect.any(String),
    });
    expect(error.payment_intent).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { code, decline_code: declineCode },
    });
    expect(body(get(sim, `/v1/payment_intents/${error.payment_intent.id}`)).status).toBe(
      'requires_payment_method',
    );
    expect(sim.ledger()).toEqual([expect.objectContaining({ outcome: 'declined', declineCode })]);
    expect(sim.successfulCharges()).toEqual([]);
  });

  it('pm_test_processing_succeeds: processing, then succeeded after the delay on the clock', () => {
    const { clock, sim } = setUp();
    const first = create(sim, { key: 'ach', paymentMethod: 'pm_test_processing_succeeds' });
    const { id, status } = body(first);
    expect(status).toBe('processing');
    // Money that will move counts already: the at-most-once judge cannot wait for banks.
    expect(sim.successfulCharges()).toEqual([
      expect.objectContaining({ status: 'processing', outcome: 'succeeded' }),
    ]);
    clock.advance(9_999);
    expect(body(get(sim, `/v1/payment_intents/${id}`))).toMatchObject({
      status: 'processing',
      amount_received: 0,
    });
    clock.advance(1);
    expect(body(get(sim, `/v1/payment_intents/${id}`))).toMatchObject({
      status: 'succeeded',
      amount_received: 1999,
    });
    // The key replays the saved answer, not the object as it is now: only a GET tells the settlement.
    expect(body(create(sim, { key: 'ach', paymentMethod: 'pm_test_processing_succeeds' })).status).toBe(
      'processing',
    );
  });

  it('pm_test_processing_fails: processing, then requires_payment_method with a decline', () => {
    const { clock, sim } = setUp();
    const { id } = body(create(sim, { paymentMethod: 'pm_test_processing_fails' }));
    expect(sim.successfulCharges()).toEqual([]);
    clock.advance(10_000);
    expect(body(get(sim, `/v1/payment_intents/${id}`))).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { code: 'card_declined', decline_code: 'generic_decline' },
    });
    expect(sim.ledger()).toEqual([
      expect.objectContaining({
        status: 'requires_payment_method',
        outcome: 'declined',
        declineCode: 'generic_decline',
      }),
    ]);
  });

  it('answers 404 resource_missing for an unknown PaymentIntent', () => {
    const { sim } = setUp();
    const response = get(sim, '/v1/payment_intents/pi_nope');
    expect(response.status).toBe(404);
    expect(body(response).error).toMatchObject({ type: 'invalid_request_error', code: 'resource_missing' });
  });

  it('refuses invalid parameters with 400 and the parameter', () => {
    const { sim } = setUp();
    const refused = (params: Record<string, string>) =>
      body(answered(sim.send({ ...createRequest(), params: { ...createRequest().params, ...params } }))).error
        .param;
    expect(refused({ amount: 'x' })).toBe('amount');
    expect(refused({ currency: 'dollars' })).toBe('currency');
    expect(refused({ payment_method: '' })).toBe('payment_method');
    expect(refused({ confirm: 'false' })).toBe('confirm');
    expect(refused({ surprise: '1' })).toBe('surprise');
    expect(refused({ 'metadata[k]': 'v'.repeat(501) })).toBe('metadata[k]');
  });
});

describe('search', () => {
  const search = (sim: StripeSimulator, query: string, extra: Record<string, string> = {}) =>
    get(sim, '/v1/payment_intents/search', { query, ...extra });

  it('finds a PaymentIntent by its metadata only once the search delay has passed', () => {
    const { clock, sim } = setUp();
    const { id } = body(
      create(sim, { metadata: { subscription_id: 'sub_1', period: '2026-03-01', attempt: '0' } }),
    );
    create(sim, { metadata: { subscription_id: 'sub_1', period: '2026-04-01', attempt: '0' } });
    const query = "metadata['subscription_id']:'sub_1' AND metadata['period']:'2026-03-01'";
    expect(body(search(sim, query))).toEqual({
      object: 'search_result',
      data: [],
      has_more: false,
      next_page: null,
      url: '/v1/payment_intents/search',
    });
    clock.advance(59_999);
    expect(body(search(sim, query)).data).toEqual([]);
    clock.advance(1);
    expect(body(search(sim, query)).data.map((pi: { id: string }) => pi.id)).toEqual([id]);
    // Retrieve and list are not subject to the delay.
    expect(get(sim, `/v1/payment_intents/${id}`).status).toBe(200);
  });

  it.each([
    ["metadata['subscription_id']:'sub_1'", 3],
    ['metadata["subscription_id"]:"sub_1" status:\'succeeded\'', 2],
    ["metadata['subscription_id']:'sub_1' and -status:'succeeded'", 1],
    ["status:'requires_payment_method' OR amount>2000", 2],
    ['amount>=1999 AND amount<2000', 3],
    ["metadata['missing']:null", 4],
    ["-metadata['period']:null currency:'usd'", 4],
    ["customer:'cus_1'", 0],
  ])('%s finds %i', (query, count) => {
    const { clock, sim } = setUp();
    create(sim);
    create(sim, { amount: 1999 });
    create(sim, { paymentMethod: 'pm_card_chargeDeclined' });
    create(sim, { amount: 5000, metadata: { subscription_id: 'sub_2', period: 'p' } });
    clock.advance(60_000);
    const response = search(sim, query, { limit: '100' });
    expect(response.status).toBe(200);
    expect(body(response).data).toHaveLength(count);
  });

  it.each([
    'metadata[subscription_id]:sub_1',
    "metadata['a']:'b' AND metadata['c']:'d' OR metadata['e']:'f'",
    "metadata['a']='b'",
    "metadata['a']:'unterminated",
    "nonsense:'x'",
    'status:succeeded',
    "amount:'1999'",
    "metadata['a']:'b'  AND",
    "(metadata['a']:'b')",
    Array.from({ length: 11 }, (_, i) => `metadata['k${i}']:'v'`).join(' AND '),
  ])('refuses the unparseable query %s with 400', (query) => {
    const { sim } = setUp();
    const response = search(sim, query);
    expect(response.status).toBe(400);
    expect(body(response).error).toMatchObject({ type: 'invalid_request_error', param: 'query' });
  });

  it('pages with limit and next_page, newest first, neither skipping nor repeating', () => {
    const { clock, sim } = setUp();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push(body(create(sim)).id);
      clock.advance(1_000);
    }
    clock.advance(60_000);
    const seen: string[] = [];
    let page: string | undefined;
    for (let pages = 0; pages < 5; pages += 1) {
      const result = body(
        search(sim, "metadata['subscription_id']:'sub_1'", { limit: '2', ...(page ? { page } : {}) }),
      );
      seen.push(...result.data.map((pi: { id: string }) => pi.id));
      expect(result.has_more).toBe(result.next_page !== null);
      if (!result.has_more) break;
      page = result.next_page;
    }
    expect(seen).toEqual([...ids].reverse());
    expect(search(sim, "metadata['a']:'b'", { page: 'garbage' }).status).toBe(400);
  });

  it('never throws on any query text: a predicate or a message', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 80 }), (text) => {
        const parsed = parseSearchQuery(text);
        expect(['function', 'string']).toContain(typeof parsed);
      }),
    );
  });
});

describe('list', () => {
  const list = (sim: StripeSimulator, query: Record<string, string> = {}) =>
    get(sim, '/v1/payment_intents', query);

  it('lists newest first, 10 by default, and pages with starting_after and ending_before', () => {
    const { clock, sim } = setUp();
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      ids.push(body(create(sim)).id);
      clock.advance(500);
    }
    const newest = [...ids].reverse();
    const first = body(list(sim));
    expect(first).toMatchObject({ object: 'list', has_more: true, url: '/v1/payment_intents' });
    expect(first.data.map((pi: { id: string }) => pi.id)).toEqual(newest.slice(0, 10));
    const second = body(list(sim, { limit: '10', starting_after: newest[9] as string }));
    expect(second.data.map((pi: { id: string }) => pi.id)).toEqual(newest.slice(10));
    expect(second.has_more).toBe(false);
    const back = body(list(sim, { limit: '3', ending_before: newest[5] as string }));
    expect(back.data.map((pi: { id: string }) => pi.id)).toEqual(newest.slice(2, 5));
    expect(back.has_more).toBe(true);
  });

  it('filters by created (unix seconds): gte, gt, lt, lte and exact', () => {
    const { clock, sim } = setUp();
    const created: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      created.push(body(create(sim)).created);
      clock.advance(HOUR);
    }
    const count = (query: Record<string, string>) => body(list(sim, query)).data.length;
    const [c0, c1, , c3] = created as [number, number, number, number];
    expect(count({ 'created[gte]': String(c1) })).toBe(3);
    expect(count({ 'created[gt]': String(c1) })).toBe(2);
    expect(count({ 'created[gte]': String(c0), 'created[lt]': String(c3) })).toBe(3);
    expect(count({ 'created[lte]': String(c0) })).toBe(1);
    expect(count({ created: String(c1) })).toBe(1);
  });

  it.each<Record<string, string>>([
    { limit: '0' },
    { limit: '101' },
    { limit: 'ten' },
    { 'created[gte]': 'yesterday' },
    { starting_after: 'pi_nope' },
    { bogus: '1' },
  ])('refuses %j with 400', (query) => {
    const { sim } = setUp();
    expect(list(sim, query).status).toBe(400);
  });
});

describe('authentication', () => {
  it('revoking the key answers 401 api_key_expired; a new key works; the old stays expired', () => {
    const { sim } = setUp();
    sim.revokeKey();
    const expired = create(sim);
    expect(expired.status).toBe(401);
    expect(body(expired).error).toMatchObject({ type: 'invalid_request_error', code: 'api_key_expired' });
    sim.apiKey = 'sk_test_rolled';
    expect(create(sim, { apiKey: 'sk_test_rolled' }).status).toBe(200);
    expect(body(create(sim)).error.code).toBe('api_key_expired');
    // A key that was never valid is merely invalid, without the expired code.
    expect(body(create(sim, { apiKey: 'sk_test_other' })).error.code).toBeUndefined();
  });

  it('a restricted key answers 403 for what it may not do', () => {
    const { sim } = setUp();
    sim.addRestrictedKey('rk_test_reader', { read: true, write: false });
    sim.addRestrictedKey('rk_test_none', { read: false, write: false });
    expect(create(sim, { apiKey: 'rk_test_reader' }).status).toBe(403);
    expect(get(sim, '/v1/payment_intents', {}, 'rk_test_reader').status).toBe(200);
    expect(get(sim, '/v1/payment_intents', {}, 'rk_test_none').status).toBe(403);
  });

  it('answers 404 for an unknown URL', () => {
    const { sim } = setUp();
    expect(get(sim, '/v1/charges').status).toBe(404);
  });
});

describe('orphans planted for reconciliation', () => {
  it('is listed at once, searchable after the delay from its created, and counted as money moved', () => {
    const { clock, sim } = setUp();
    const now = Math.floor(clock.now() / 1000);
    const fresh = sim.injectPaymentIntent({
      amount: 1999,
      currency: 'USD',
      metadata: { subscription_id: 'sub_9' },
    });
    const old = sim.injectPaymentIntent({
      amount: 1999,
      currency: 'usd',
      metadata: { subscription_id: 'sub_9' },
      created: now - 3600,
    });
    expect(fresh).toMatchObject({ status: 'succeeded', currency: 'usd', created: now });
    expect(body(get(sim, '/v1/payment_intents')).data.map((pi: { id: string }) => pi.id)).toEqual([
      fresh.id,
      old.id,
    ]);
    const found = () =>
      body(get(sim, '/v1/payment_intents/search', { query: "metadata['subscription_id']:'sub_9'" })).data.map(
        (pi: { id: string }) => pi.id,
      );
    expect(found()).toEqual([old.id]);
    clock.advance(60_000);
    expect(found()).toEqual([fresh.id, old.id]);
    expect(sim.successfulCharges({ subscription_id: 'sub_9' })).toEqual([
      expect.objectContaining({ injected: true, paymentIntentId: fresh.id }),
      expect.objectContaining({ injected: true, paymentIntentId: old.id }),
    ]);
  });

  it('a planted processing one settles succeeded after the processing delay', () => {
    const { clock, sim } = setUp();
    const planted = sim.injectPaymentIntent({ amount: 100, currency: 'usd', status: 'processing' });
    clock.advance(10_000);
    expect(body(get(sim, `/v1/payment_intents/${planted.id}`)).status).toBe('succeeded');
  });
});

describe('property: one key never yields two PaymentIntents within 24 h', () => {
  const fault = fc.oneof(
    fc.constant<GatewayFault>({ kind: 'none' }),
    fc.constant<GatewayFault>({ kind: 'delay', ms: 0 }),
    fc.constantFrom<GatewayFault>(
      { kind: 'error500' },
      { kind: 'error500', commit: true },
      { kind: 'error500', commit: false },
    ),
    fc.constant<GatewayFault>({ kind: 'rate-limit' }),
    fc.constantFrom<GatewayFault>({ kind: 'garbage', commit: true }, { kind: 'garbage', commit: false }),
    fc.constant<GatewayFault>({ kind: 'hang' }),
    fc.constant<GatewayFault>({ kind: 'commit-then-hang' }),
    fc.constant<GatewayFault>({ kind: 'decline' }),
  );
  const key = fc.constantFrom('k1', 'k2', 'k3');
  const paymentMethod = fc.constantFrom(
    'pm_card_visa',
    'pm_card_chargeDeclined',
    'pm_test_processing_succeeds',
  );
  const step = fc.oneof(
    fc.record({
      op: fc.constant('send' as const),
      key,
      paymentMethod,
      amount: fc.constantFrom(1999, 2000),
      fault,
    }),
    fc.record({ op: fc.constant('begin' as const), key, paymentMethod, amount: fc.constantFrom(1999, 2000) }),
    fc.record({ op: fc.constant('finish' as const), fault }),
    fc.record({
      op: fc.constant('advance' as const),
      ms: fc.constantFrom(0, 1_000, HOUR, 23 * HOUR, 24 * HOUR - 1, 24 * HOUR, 25 * HOUR),
    }),
  );

  it('holds for any sequence of requests, faults, concurrent attempts and clock moves', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const { clock, sim } = setUp();
        const pending: Array<{ apply(fault: GatewayFault): Delivered }> = [];
        const answers: Array<{ key: string; response: SimResponse }> = [];
        for (const s of steps) {
          if (s.op === 'advance') clock.advance(s.ms);
          else if (s.op === 'finish') {
            const attempt = pending.shift();
            if (attempt) attempt.apply(s.fault);
          } else {
            const request = createRequest({ key: s.key, paymentMethod: s.paymentMethod, amount: s.amount });
            if (s.op === 'begin') {
              const handled = sim.handle(request);
              if (handled.kind === 'admitted') pending.push(handled.attempt);
              else answers.push({ key: s.key, response: handled.response });
            } else {
              const delivered = sim.send(request, s.fault);
              if (delivered.delivery === 'answer') answers.push({ key: s.key, response: delivered.response });
            }
          }
        }
        const ledger = sim.ledger();
        for (const k of ['k1', 'k2', 'k3']) {
          const created = ledger.filter((entry) => entry.idempotencyKey === k).map((entry) => entry.created);
          for (let i = 1; i < created.length; i += 1) {
            expect((created[i] as number) - (created[i - 1] as number)).toBeGreaterThanOrEqual(24 * 3600);
          }
        }
        // A replayed answer that carries a PaymentIntent carries one made under that very key.
        for (const { key: k, response } of answers) {
          if (response.headers['idempotent-replayed'] !== 'true') continue;
          const replayed = body(response);
          const id = replayed.id ?? replayed.error?.payment_intent?.id;
          if (id) expect(ledger.find((entry) => entry.paymentIntentId === id)?.idempotencyKey).toBe(k);
        }
      }),
      { numRuns: 300 },
    );
  });
});
