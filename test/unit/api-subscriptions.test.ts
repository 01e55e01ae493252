import { ADMIN_KEY, acme, json, other, webhookApi } from './support/in-memory-api';
import type { InMemoryDatafeeds, InMemoryRuns } from './support/in-memory-billing';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const body = {
  customer: { id: 'cus_1', email: 'c@example.com' },
  plan: 'coffee',
  amount: 1500,
  currency: 'EUR',
  interval: 'month',
  paymentMethod: 'pm_card_visa',
};

describe('POST /v1/subscriptions', () => {
  it('creates an active subscription first due at startAt (default now)', async () => {
    const { call } = await webhookApi();
    const created = await call('POST', '/v1/subscriptions', json({ ...body, id: 'sub_1' }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'sub_1',
      status: 'active',
      nextChargeAt: '2024-06-01T12:00:00.000Z',
      intervalCount: 1,
      charges: [],
    });
    const generated = await call('POST', '/v1/subscriptions', json(body));
    expect(generated.body.id).toMatch(/^sub_[0-9A-Z]{26}$/);
  });

  it('answers a repeated create as the first time, and refuses the same id with other details', async () => {
    const { call } = await webhookApi();
    await call('POST', '/v1/subscriptions', json({ ...body, id: 'sub_1' }));
    const again = await call('POST', '/v1/subscriptions', json({ ...body, id: 'sub_1' }));
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const changed = await call('POST', '/v1/subscriptions', json({ ...body, id: 'sub_1', amount: 9 }));
    expect(changed.status).toBe(409);
    expect(changed.headers['content-type']).toBe('application/problem+json');
  });

  it.each([
    ['an unknown interval', { interval: 'fortnight' }, 'interval'],
    ['a zero amount', { amount: 0 }, 'amount'],
    ['a negative amount', { amount: -100 }, 'amount'],
    ['an unsupported currency', { currency: 'XTS' }, 'currency'],
    ['a missing payment method', { paymentMethod: undefined }, 'paymentMethod'],
    ['a non-ISO startAt', { startAt: 'next tuesday' }, 'startAt'],
  ])('refuses %s with a 400 naming the field', async (_what, change, field) => {
    const { call } = await webhookApi();
    const answer = await call('POST', '/v1/subscriptions', json({ ...body, ...change }));
    expect(answer.status).toBe(400);
    expect(answer.body.errors.map((error: { field: string }) => error.field)).toEqual([field]);
  });
});

describe('GET and DELETE /v1/subscriptions/{id}', () => {
  it('shows a subscription to its store only, and cancels it once', async () => {
    const { call } = await webhookApi();
    await call('POST', '/v1/subscriptions', json({ ...body, id: 'sub_1' }));
    expect((await call('GET', '/v1/subscriptions/sub_1', { headers: other })).status).toBe(404);
    expect((await call('DELETE', '/v1/subscriptions/sub_1', { headers: other })).status).toBe(404);

    const canceled = await call('DELETE', '/v1/subscriptions/sub_1', { headers: acme });
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({
      status: 'canceled',
      cancelReason: 'requested',
      nextChargeAt: null,
    });
    const again = await call('DELETE', '/v1/subscriptions/sub_1', { headers: acme });
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain('already canceled');
    expect((await call('GET', '/v1/subscriptions/nope', { headers: acme })).status).toBe(404);
  });
});

describe('subscription runs and datafeeds', () => {
  it('starts the run of a date once, and joins it on the next trigger', async () => {
    const { call, deps } = await webhookApi();
    const started = await call('POST', '/v1/admin/subscription-runs', { headers: admin });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({
      runId: '2024-06-01',
      status: 'running',
      outcome: 'started',
      total: 0,
    });
    const again = await call(
      'POST',
      '/v1/admin/subscription-runs',
      json({ asOf: '2024-06-01T08:00:00Z' }, admin),
    );
    expect(again.body).toMatchObject({ runId: '2024-06-01', outcome: 'joined' });
    expect((deps.billing.runQueue as unknown as { messages: unknown[] }).messages).toHaveLength(1);
    const shown = await call('GET', '/v1/admin/subscription-runs/2024-06-01', { headers: admin });
    expect(shown.body).toMatchObject({
      runId: '2024-06-01',
      status: 'running',
      pending: 0,
      etaSeconds: null,
    });
  });

  it('refuses malformed dates, future runs, store keys and unknown runs', async () => {
    const { call } = await webhookApi();
    const post = (asOf: unknown) => call('POST', '/v1/admin/subscription-runs', json({ asOf }, admin));
    expect((await post('yesterday')).status).toBe(400);
    expect((await post(42)).status).toBe(400);
    expect((await post('2024-06-03T00:00:00Z')).body.errors[0].field).toBe('asOf');
    expect((await call('GET', '/v1/admin/subscription-runs/2024-13-45', { headers: admin })).status).toBe(
      400,
    );
    expect((await call('GET', '/v1/admin/subscription-runs/2024-06-01', { headers: admin })).status).toBe(
      404,
    );
    expect((await call('GET', '/v1/admin/subscription-runs/2024-06-01', { headers: acme })).status).toBe(401);
    expect((await call('POST', '/v1/admin/subscription-runs', { headers: acme })).status).toBe(401);
    expect((await call('GET', '/v1/datafeeds/subscriptions/2024-06-01', { headers: acme })).status).toBe(404);
    expect((await call('GET', '/v1/datafeeds/subscriptions/June', { headers: acme })).status).toBe(400);
  });

  it('answers 425 for the datafeed of a running run, and the XML once it completed', async () => {
    const { call, deps } = await webhookApi();
    await call('POST', '/v1/admin/subscription-runs', { headers: admin });
    const early = await call('GET', '/v1/datafeeds/subscriptions/2024-06-01', { headers: acme });
    expect(early.status).toBe(425);
    expect(early.headers['retry-after']).toBe('30');

    const runs = deps.billing.runs as InMemoryRuns;
    const run = runs.runs.get('2024-06-01');
    runs.runs.set('2024-06-01', { ...(run as NonNullable<typeof run>), status: 'completed' });
    await (deps.billing.datafeeds as InMemoryDatafeeds).put(
      '2024-06-01',
      'acme',
      '<?xml version="1.0"?>\n<x/>',
    );
    const feed = await call('GET', '/v1/datafeeds/subscriptions/2024-06-01', { headers: acme });
    expect(feed.status).toBe(200);
    expect(feed.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(feed.body).toBe('<?xml version="1.0"?>\n<x/>');
    const empty = await call('GET', '/v1/datafeeds/subscriptions/2024-06-01', { headers: other });
    expect(empty.body).toContain('subscriptions="0"');
  });
});
