import { randomBytes } from 'node:crypto';
import { chargeTimeAt } from '../../../lambdas/billing/domain/schedule';
import type { GatewayFault } from '../../../local/payment-gateway/payment-gateway';
import { sleep, waitFor } from '../support/wait-for';
import { parseDatafeed } from './datafeed-xml';
import {
  type BillingTestStack,
  chargeKey,
  clearOfMidnight,
  daysAgo,
  eventsOf,
  fetchDatafeed,
  ledgerOf,
  mailsTo,
  newStore,
  type RunProgress,
  runBilling,
  startBillingTestStack,
  subscriptionBody,
  type TestStore,
  waitForRun,
} from './support';

/**
 * Dunning end to end, through several runs, with a short DUNNING_SCHEDULE. Runs are per UTC date and a retry falls
 * due its delay after the failed attempt by the clock, so: the first charge is made by yesterday's run (the
 * subscriptions start yesterday); every retry then falls due in today's run, triggered a little ahead (asOf may be
 * up to 5 minutes ahead), which charges each retry as it falls due, until the card works or the final action.
 */
const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;

/** Creates subscriptions that start yesterday, each with its own customer address. */
async function subscribe(store: TestStore, plans: Record<string, string>) {
  const email = (id: string) => `${id}.${store.id}@example.com`;
  const startAt = daysAgo(1, '06:00:00.000Z');
  for (const [id, paymentMethod] of Object.entries(plans)) {
    const created = await store.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id, customer: { id: `cus_${id}`, email: email(id) }, paymentMethod, startAt }),
    );
    if (created.status !== 201) throw new Error(`${id}: ${created.status} ${JSON.stringify(created.body)}`);
  }
  return { email, startAt, period: startAt.slice(0, 10) };
}

/** Today's run, a little ahead of now, so that retries falling due in the next minute belong to it. */
async function triggerTodaysRun(billing: BillingTestStack): Promise<string> {
  await clearOfMidnight(3 * 60_000);
  const asOf = new Date(Date.now() + 2 * 60_000).toISOString();
  const trigger = await billing.admin.call('POST', '/v1/admin/subscription-runs', { asOf });
  expect(trigger.status).toBe(202);
  expect(trigger.body.outcome).toBe('started');
  return trigger.body.runId;
}

/** The kinds of the emails an address got (from their Message-ID), after a pause for duplicates to show up. */
async function mailKinds(billing: BillingTestStack, addresses: Record<string, string>, expected: number) {
  const all = () => Object.values(addresses).flatMap((address) => mailsTo(billing, address));
  await waitFor(
    async () => all().length,
    (count) => count >= expected,
    { timeoutMs: 20_000, what: `${expected} emails` },
  );
  await sleep(1_500);
  const mails = all();
  expect(new Set(mails.map((mail) => mail.messageId)).size).toBe(mails.length);
  expect(new Set(mails.map((mail) => mail.headers['x-pipeline-event-id'])).size).toBe(mails.length);
  return Object.fromEntries(
    Object.entries(addresses).map(([id, address]) => [
      id,
      mailsTo(billing, address)
        .map((mail) => /^<evt_[0-9A-Z]+\.([a-z-]+)@/.exec(mail.messageId ?? '')?.[1])
        .sort(),
    ]),
  );
}

describe('with DUNNING_SCHEDULE=1s,1s and DUNNING_FINAL_ACTION=cancel', () => {
  let billing: BillingTestStack;

  beforeAll(async () => {
    billing = await startBillingTestStack(adminKey, {
      DUNNING_SCHEDULE: '1s,1s',
      DUNNING_FINAL_ACTION: 'cancel',
    });
  }, 120_000);

  afterAll(async () => {
    await billing?.stop();
  });

  it('retries a declining card on its schedule, run after run, then cancels it; a card that recovers is active again', async () => {
    // Prepare: a card that always declines, one that declines once (nothing about it changes), one that pays.
    const store = await newStore(billing, 'dunning');
    const { email, startAt, period } = await subscribe(store, {
      dun_declines: 'pm_card_chargeDeclined',
      dun_recovers: 'pm_card_visa',
      dun_pays: 'pm_card_visa',
    });
    billing.gateway.faults = ({ idempotencyKey }): GatewayFault => {
      if (idempotencyKey === chargeKey(store.id, 'dun_recovers', period, 0)) return { kind: 'decline' };
      // The last retry takes a moment, so that the state before it can be seen.
      if (idempotencyKey === chargeKey(store.id, 'dun_declines', period, 2))
        return { kind: 'delay', ms: 1_000 };
      return { kind: 'none' };
    };

    // Act: yesterday's run makes the first charges.
    const first = await runBilling(billing, daysAgo(1));

    // Assess: both declined ones are past due, their first retry scheduled.
    expect(first).toMatchObject({ total: 3, succeeded: 1, failed: 2 });
    for (const id of ['dun_declines', 'dun_recovers']) {
      const state = await store.client.call('GET', `/v1/subscriptions/${id}`);
      expect(state.body).toMatchObject({
        status: 'past_due',
        dunning: { attempt: 1, nextRetryAt: expect.any(String) },
        charges: [{ period, status: 'failed', attempts: 1 }],
      });
    }

    // Act: today's run, watching the declining subscription go through its retries.
    const runId = await triggerTodaysRun(billing);
    const seen: string[] = [];
    let view: RunProgress | undefined;
    do {
      const state = await store.client.call('GET', '/v1/subscriptions/dun_declines');
      const step = `${state.body.status}${state.body.dunning ? `:${state.body.dunning.attempt}` : ''}`;
      if (seen[seen.length - 1] !== step) seen.push(step);
      view = (await billing.admin.call<RunProgress>('GET', `/v1/admin/subscription-runs/${runId}`)).body;
      await sleep(100);
    } while (view.status !== 'completed');

    // Assess: past due with retry 1, then 2, then canceled by the final action; each attempt charged once.
    expect(seen).toEqual(expect.arrayContaining(['past_due:2', 'canceled']));
    expect(seen.indexOf('past_due:2')).toBeLessThan(seen.indexOf('canceled'));
    expect(seen[seen.length - 1]).toBe('canceled');
    expect(view).toMatchObject({ total: 3, succeeded: 1, failed: 2, pending: 0 });
    const declines = await store.client.call('GET', '/v1/subscriptions/dun_declines');
    expect(declines.body).toMatchObject({
      status: 'canceled',
      cancelReason: 'dunning',
      nextChargeAt: null,
      charges: [{ period, status: 'failed', attempts: 3 }],
    });
    expect(declines.body.dunning).toBeUndefined();
    expect(ledgerOf(billing, 'dun_declines').map((entry) => [entry.idempotencyKey, entry.outcome])).toEqual(
      [0, 1, 2].map((attempt) => [chargeKey(store.id, 'dun_declines', period, attempt), 'declined']),
    );
    const failures = (await eventsOf(store, 'subscription.payment_failed')).filter(
      (event) => event.data.subscription.id === 'dun_declines',
    );
    expect(failures.map((event) => [event.data.charge.attempt, event.data.dunning?.attempt ?? null])).toEqual(
      [
        [0, 1],
        [1, 2],
        [2, null],
      ],
    );
    expect(failures[2]?.data).toMatchObject({ finalAction: 'cancel', subscription: { status: 'canceled' } });
    expect(
      (await eventsOf(store, 'subscription.canceled')).map((event) => [
        event.data.subscription.id,
        event.data.reason,
      ]),
    ).toEqual([['dun_declines', 'payment_failed']]);

    // Assess: the recovered card: active, out of dunning, its next period scheduled; one charge, under attempt 1.
    const recovered = await store.client.call('GET', '/v1/subscriptions/dun_recovers');
    const recoveredLedger = ledgerOf(billing, 'dun_recovers');
    expect(recoveredLedger.map((entry) => [entry.idempotencyKey, entry.outcome])).toEqual([
      [chargeKey(store.id, 'dun_recovers', period, 0), 'declined'],
      [chargeKey(store.id, 'dun_recovers', period, 1), 'succeeded'],
    ]);
    expect(recovered.body).toMatchObject({
      status: 'active',
      nextChargeAt: chargeTimeAt(startAt, 'month', 1, 1),
      charges: [
        { period, status: 'succeeded', attempts: 2, paymentIntentId: recoveredLedger[1]?.paymentIntentId },
      ],
    });
    expect(recovered.body.dunning).toBeUndefined();
    const paid = await store.client.call('GET', '/v1/subscriptions/dun_pays');
    expect(paid.body).toMatchObject({ status: 'active', nextChargeAt: chargeTimeAt(startAt, 'month', 1, 1) });

    // Today's datafeed lists the retries it made.
    const feed = parseDatafeed((await fetchDatafeed(billing, store.apiKey, runId)).text);
    expect(
      feed.subscriptions.map((s) => [s.id, s.charges.map((c) => `${c.attributes.attempt}:${c.status}`)]),
    ).toEqual([
      ['dun_declines', ['1:failed', '2:failed']],
      ['dun_recovers', ['1:succeeded']],
    ]);

    // Emails: a notice per failed attempt, the cancellation, a receipt per charge; none twice.
    const kinds = await mailKinds(
      billing,
      {
        dun_declines: email('dun_declines'),
        dun_recovers: email('dun_recovers'),
        dun_pays: email('dun_pays'),
      },
      7,
    );
    expect(kinds).toEqual({
      dun_declines: ['cancellation', 'payment-failed', 'payment-failed', 'payment-failed'],
      dun_recovers: ['payment-failed', 'receipt'],
      dun_pays: ['receipt'],
    });
  }, 60_000);
});

describe('with DUNNING_SCHEDULE=1s and DUNNING_FINAL_ACTION=unpaid', () => {
  let billing: BillingTestStack;

  beforeAll(async () => {
    billing = await startBillingTestStack(adminKey, {
      DUNNING_SCHEDULE: '1s',
      DUNNING_FINAL_ACTION: 'unpaid',
    });
  }, 120_000);

  afterAll(async () => {
    await billing?.stop();
  });

  it('leaves the subscription unpaid after its last retry fails, without cancelling it', async () => {
    // Prepare
    const store = await newStore(billing, 'unpaid');
    const { email, period } = await subscribe(store, {
      unp_declines: 'pm_card_chargeDeclinedInsufficientFunds',
    });

    // Act: yesterday's run, then today's.
    await runBilling(billing, daysAgo(1));
    const pastDue = await store.client.call('GET', '/v1/subscriptions/unp_declines');
    const runId = await triggerTodaysRun(billing);
    const view = await waitForRun(billing, runId, 30_000);

    // Assess
    expect(pastDue.body).toMatchObject({ status: 'past_due', dunning: { attempt: 1 } });
    expect(view).toMatchObject({ total: 1, succeeded: 0, failed: 1 });
    const unpaid = await store.client.call('GET', '/v1/subscriptions/unp_declines');
    expect(unpaid.body).toMatchObject({
      status: 'unpaid',
      nextChargeAt: null,
      charges: [{ period, status: 'failed', attempts: 2, declineCode: 'insufficient_funds' }],
    });
    expect(unpaid.body.dunning).toBeUndefined();
    expect(unpaid.body.canceledAt).toBeUndefined();
    const failures = await eventsOf(store, 'subscription.payment_failed');
    expect(failures.map((event) => [event.data.charge.attempt, event.data.dunning?.attempt ?? null])).toEqual(
      [
        [0, 1],
        [1, null],
      ],
    );
    expect(failures[1]?.data).toMatchObject({ finalAction: 'unpaid', subscription: { status: 'unpaid' } });
    expect(await eventsOf(store, 'subscription.canceled')).toEqual([]);
    expect(ledgerOf(billing, 'unp_declines')).toHaveLength(2);
    expect(await mailKinds(billing, { unp_declines: email('unp_declines') }, 2)).toEqual({
      unp_declines: ['payment-failed', 'payment-failed'],
    });
    // As in Stripe, an unpaid subscription can still be canceled; a canceled one cannot (409).
    const cancel = await store.client.call('DELETE', '/v1/subscriptions/unp_declines');
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ status: 'canceled', cancelReason: 'requested' });
    const again = await store.client.call('DELETE', '/v1/subscriptions/unp_declines');
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  }, 60_000);
});
