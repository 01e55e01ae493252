import { randomBytes } from 'node:crypto';
import { fetchApi } from '../support/openapi-validator';
import { sleep } from '../support/wait-for';
import {
  type BillingTestStack,
  chargeKey,
  clearOfMidnight,
  eventsOf,
  ledgerOf,
  newStore,
  runBilling,
  startBillingTestStack,
  subscriptionBody,
  type TestStore,
} from './support';

/**
 * PATCH /v1/subscriptions/{id} on the local stack: the route and its refusals, and each path through the runs
 * (a hard decline then a new payment method; a pause across due dates, then a resume; a pause that ends by itself
 * at `resumesAt`; `endAt`), with the real run, charge and outbox functions, DynamoDB Local and the bundled gateway.
 *
 * Time: the local stack keeps real time and a run charges what is due at its `asOf` (at most minutes ahead), so
 * the subscriptions start yesterday (charged by yesterday's run) or a few seconds from now (due inside today's).
 */
const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
const DAY = 86_400_000;

describe('PATCH /v1/subscriptions/{id}', () => {
  let billing: BillingTestStack;
  let store: TestStore;

  beforeAll(async () => {
    // A hard decline waits three hours (1h + 2h) for a new payment method.
    billing = await startBillingTestStack(adminKey, { DUNNING_SCHEDULE: '1h,2h' });
    store = await newStore(billing, 'changes');
  }, 120_000);

  afterAll(async () => {
    await billing?.stop();
  });

  const patch = (id: string, body: unknown) => store.client.call('PATCH', `/v1/subscriptions/${id}`, body);

  it('changes amount, plan and payment method, answers the subscription, and announces subscription.updated', async () => {
    const created = await store.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id: 'chg_terms' }),
    );
    expect(created.status).toBe(201);

    const answer = await patch('chg_terms', {
      amount: 2599,
      plan: 'coffee-gold',
      paymentMethod: 'pm_card_mastercard',
    });

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      id: 'chg_terms',
      status: 'active',
      amount: 2599,
      plan: 'coffee-gold',
      paymentMethod: 'pm_card_mastercard',
      charges: [],
    });
    const events = await waitForEvents(store, 'subscription.updated', 1);
    expect(events[0]?.data).toMatchObject({
      subscription: { id: 'chg_terms', amount: 2599, plan: 'coffee-gold' },
      changed: ['amount', 'plan', 'paymentMethod'],
    });
    // The same patch again changes nothing and announces nothing.
    expect((await patch('chg_terms', { amount: 2599 })).status).toBe(200);
    await sleep(1_500);
    expect(await eventsOf(store, 'subscription.updated')).toHaveLength(1);
  });

  it('refuses bad input with a problem naming the field, another store’s subscription with 404, a canceled one with 409', async () => {
    await store.client.call('POST', '/v1/subscriptions', subscriptionBody({ id: 'chg_bad' }));
    const cases: [unknown, number, string][] = [
      [{ color: 'red' }, 400, '(body)'],
      [{}, 400, '(body)'],
      [{ amount: 0 }, 400, 'amount'],
      [{ amount: -10 }, 400, 'amount'],
      [{ amount: 'ten' }, 400, 'amount'],
      [{ paymentMethod: 'pm card visa' }, 400, 'paymentMethod'],
      [{ paymentMethod: 7 }, 400, 'paymentMethod'],
      [{ endAt: new Date(Date.now() - DAY).toISOString() }, 400, 'endAt'],
      [{ endAt: 'next week' }, 400, 'endAt'],
      [{ pause: { resumesAt: new Date(Date.now() - 1000).toISOString() } }, 400, 'pause.resumesAt'],
    ];
    for (const [body, status, field] of cases) {
      const answer = await patch('chg_bad', body);
      expect({ body, status: answer.status }).toEqual({ body, status });
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      expect((answer.body.errors as { field: string }[]).map((error) => error.field)).toContain(field);
    }
    const malformed = await fetchApi(new URL('/v1/subscriptions/chg_bad', billing.stack.apiUrl), {
      method: 'PATCH',
      headers: { authorization: `Bearer ${store.apiKey}`, 'content-type': 'application/json' },
      body: '{"amount":',
    });
    expect(malformed.status).toBe(400);

    const other = await newStore(billing, 'changes-other');
    expect((await other.client.call('PATCH', '/v1/subscriptions/chg_bad', { amount: 5 })).status).toBe(404);
    expect((await patch('chg_missing', { amount: 5 })).status).toBe(404);

    expect((await store.client.call('DELETE', '/v1/subscriptions/chg_bad')).status).toBe(200);
    const canceled = await patch('chg_bad', { amount: 5 });
    expect(canceled.status).toBe(409);
    expect(canceled.body.type).toContain('subscription-state');
    // Nothing changed.
    expect((await store.client.call('GET', '/v1/subscriptions/chg_bad')).body).toMatchObject({
      status: 'canceled',
      amount: 1999,
    });
  });

  it('runs: a hard decline waits for a new payment method, which is charged at once; pauses skip periods; resumesAt and endAt are kept', async () => {
    // Prepare: `hard` started yesterday (its card is stolen); the others start in a few seconds, so that their
    // first period falls due inside today's run. (Runs are per UTC date, and the local stack keeps real time.)
    await clearOfMidnight(5 * 60_000);
    const t0 = Date.now();
    const create = async (id: string, paymentMethod: string, startAt: number) => {
      const answer = await store.client.call(
        'POST',
        '/v1/subscriptions',
        subscriptionBody({
          id,
          interval: 'day',
          paymentMethod,
          startAt: new Date(startAt).toISOString(),
          customer: { id: `cus_${id}`, email: `${id}@example.com` },
        }),
      );
      expect(answer.status).toBe(201);
    };
    await create('run_hard', 'pm_card_chargeDeclinedStolenCard', t0 - DAY);
    await create('run_paused', 'pm_card_visa', t0 + 5_000);
    await create('run_resumes', 'pm_card_visa', t0 + 5_000);
    await create('run_end', 'pm_card_visa', t0 + 60_000);
    await create('run_control', 'pm_card_visa', t0 + 5_000);
    const get = async (id: string) => (await store.client.call('GET', `/v1/subscriptions/${id}`)).body;
    const at = (ms: number) => new Date(ms).toISOString();

    // Act 1: yesterday's run: the stolen card is declined, and waits for a new payment method.
    await runBilling(billing, at(t0 - DAY + 2 * 60_000));
    const waiting = await get('run_hard');
    expect(waiting).toMatchObject({
      status: 'past_due',
      dunning: { attempt: 1, declineCode: 'stolen_card', waitingForPaymentMethod: true },
      charges: [{ attempt: 0, status: 'failed', declineCode: 'stolen_card' }],
    });
    // Until the last scheduled retry's time: 1h + 2h after the decline.
    expect(Date.parse(waiting.dunning.nextRetryAt) - Date.now()).toBeGreaterThan(2.5 * 3_600_000);
    const same = await patch('run_hard', { paymentMethod: 'pm_card_chargeDeclinedStolenCard' });
    expect(same.status).toBe(409);
    expect(same.body.errors).toEqual([expect.objectContaining({ field: 'paymentMethod' })]);

    // The changes.
    const paused = await patch('run_paused', { pause: {} });
    expect(paused.body).toMatchObject({ status: 'paused', nextChargeAt: null, pause: {} });
    const resumesAt = at(t0 + 10_000);
    const pausedUntil = await patch('run_resumes', { pause: { resumesAt } });
    expect(pausedUntil.body).toMatchObject({
      status: 'paused',
      pause: { resumesAt },
      nextChargeAt: at(t0 + 5_000 + DAY),
    });
    const endAt = at(t0 + 30_000);
    expect((await patch('run_end', { endAt })).body).toMatchObject({ endAt, nextChargeAt: null });
    const renewed = await patch('run_hard', { paymentMethod: 'pm_card_visa' });
    expect(renewed.body.dunning).toMatchObject({ attempt: 1 });
    expect(renewed.body.dunning.waitingForPaymentMethod).toBeUndefined();

    // Act 2: today's run, once the first periods and `resumesAt` have come.
    const wait = t0 + 11_000 - Date.now();
    if (wait > 0) await sleep(wait);
    const today = await runBilling(billing, at(t0 + 2 * 60_000), 60_000);

    // Assess: the new payment method was charged at once, as attempt 1 with its own key.
    expect(today.status).toBe('completed');
    const period = new Date(t0 - DAY).toISOString().slice(0, 10);
    expect(
      ledgerOf(billing, 'run_hard').map((entry) => [
        entry.paymentMethod,
        entry.outcome,
        entry.idempotencyKey,
      ]),
    ).toEqual([
      ['pm_card_chargeDeclinedStolenCard', 'declined', chargeKey(store.id, 'run_hard', period, 0)],
      ['pm_card_visa', 'succeeded', chargeKey(store.id, 'run_hard', period, 1)],
    ]);
    expect(await get('run_hard')).toMatchObject({ status: 'active' });
    expect((await get('run_hard')).dunning).toBeUndefined();
    // The control was charged; the paused ones were not, though their first period fell due.
    expect(ledgerOf(billing, 'run_control')).toHaveLength(1);
    expect(ledgerOf(billing, 'run_paused')).toHaveLength(0);
    expect(ledgerOf(billing, 'run_resumes')).toHaveLength(0);
    // `resumes` was resumed by the run at resumesAt, from the first period at or after it.
    expect(await get('run_resumes')).toMatchObject({ status: 'active', nextChargeAt: at(t0 + 5_000 + DAY) });
    // `end`: its first period starts after endAt: not charged, and the subscription ended.
    expect(ledgerOf(billing, 'run_end')).toHaveLength(0);
    expect(await get('run_end')).toMatchObject({
      status: 'canceled',
      cancelReason: 'ended',
      canceledAt: at(t0 + 60_000),
      nextChargeAt: null,
    });
    // Resumed by hand after its due date: at the next period still ahead; the skipped one is not owed.
    const resumed = await patch('run_paused', { pause: null });
    expect(resumed.body).toMatchObject({ status: 'active', nextChargeAt: at(t0 + 5_000 + DAY) });

    // Announced once each.
    const ids = async (type: string, count: number) =>
      (await waitForEvents(store, type, count))
        .map((event) => (event.data as { subscription: { id: string } }).subscription.id)
        .filter((id) => id.startsWith('run_'))
        .sort();
    expect(await ids('subscription.paused', 2)).toEqual(['run_paused', 'run_resumes']);
    expect(await ids('subscription.resumed', 2)).toEqual(['run_paused', 'run_resumes']);
    const canceled = (await waitForEvents(store, 'subscription.canceled', 2))
      .map((event) => event.data as { subscription: { id: string }; reason: string })
      .filter((data) => data.subscription.id === 'run_end');
    expect(canceled.map((data) => data.reason)).toEqual(['ended']);
  }, 180_000);
});

/** The store's events of `type`, once at least `count` are listed (the outbox announces from the stream). */
async function waitForEvents(store: TestStore, type: string, count: number) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const events = await eventsOf(store, type);
    if (events.length >= count || Date.now() > deadline) return events;
    await sleep(250);
  }
}
