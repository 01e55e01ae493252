import { randomBytes } from 'node:crypto';
import type { GatewayFault } from '../../../local/payment-gateway/payment-gateway';
import { sleep, waitFor } from '../support/wait-for';
import { parseDatafeed } from './datafeed-xml';
import {
  type BillingTestStack,
  chargeKey,
  clearOfMidnight,
  eventsOf,
  fetchDatafeed,
  invokeScheduledRun,
  newStore,
  type RunProgress,
  slowGateway,
  startBillingTestStack,
  subscriptionBody,
  type TestStore,
  waitForRun,
} from './support';

/**
 * The subscription half of the 2018 outage (seeds/incident-2018-08-25-duplicate-charges.txt): charges slowed
 * down, the day's run was still working when the backup job fired, a timed-out charge request was re-attempted,
 * customers were charged twice, the datafeed ran before the subscriptions were processed, and the team took a slow
 * queue for a stuck one. Here the gateway is throttled (a few requests at a time, each slow, the rest queued past
 * the client's timeout) and a few charges are made but never answered; the backup schedule and an operator fire
 * mid-run. Every charge happens once, the first answer is the one recorded, the datafeed waits for the run and
 * lists every charge, and the progress shows a moving rate.
 */
jest.setTimeout(90_000);

const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
let billing: BillingTestStack;

beforeAll(async () => {
  // The run reconciles itself with the gateway a second after it completes (RECONCILE_AFTER).
  billing = await startBillingTestStack(adminKey, { RECONCILE_AFTER: '1s' });
}, 120_000);

afterAll(async () => {
  await billing?.stop();
});

interface Seeded {
  readonly store: TestStore;
  readonly id: string;
  readonly paymentMethod: string;
  readonly amount: number;
  readonly currency: string;
  readonly period: string;
}

/** `count` subscriptions due now in `store`, ids `<prefix>_<n>`: every seventh on a declining card. */
async function seed(store: TestStore, prefix: string, count: number, currency: string): Promise<Seeded[]> {
  const seeded: Seeded[] = [];
  for (let first = 0; first < count; first += 10) {
    const batch = Array.from({ length: Math.min(10, count - first) }, (_, offset) => {
      const index = first + offset;
      const declining =
        index % 2 === 0 ? 'pm_card_chargeDeclined' : 'pm_card_chargeDeclinedInsufficientFunds';
      return {
        id: `${prefix}_${index}`,
        paymentMethod: index % 7 === 3 ? declining : 'pm_card_visa',
        amount: 1000 + index,
        currency,
      };
    });
    const answers = await Promise.all(
      batch.map((sub) =>
        store.client.call(
          'POST',
          '/v1/subscriptions',
          subscriptionBody({
            id: sub.id,
            customer: { id: `cus_${sub.id}`, email: `${sub.id}@example.com` },
            amount: sub.amount,
            currency: sub.currency,
            paymentMethod: sub.paymentMethod,
          }),
        ),
      ),
    );
    for (const [index, answer] of answers.entries()) {
      if (answer.status !== 201) throw new Error(`seed: ${answer.status} ${JSON.stringify(answer.body)}`);
      const sub = batch[index] as (typeof batch)[number];
      seeded.push({ store, ...sub, period: answer.body.nextChargeAt.slice(0, 10) });
    }
  }
  return seeded;
}

it('slow charges and a backup run mid-run: no duplicate charge, a datafeed after completion, a moving rate', async () => {
  // Prepare: two stores, 54 subscriptions due now, 8 of them on declining cards.
  // The backup trigger charges as of its own time: keep the scenario on one UTC date.
  await clearOfMidnight();
  const [north, south] = [await newStore(billing, 'north'), await newStore(billing, 'south')];
  const subscriptions = [...(await seed(north, 'n', 28, 'USD')), ...(await seed(south, 's', 26, 'EUR'))];
  const lostAnswers = new Set(['n_2', 'n_20', 's_11']);
  // The throttled gateway: three requests at a time, 300-600 ms each, the rest queued beyond the client's 1.5 s
  // timeout; three charges are made and their answers lost.
  billing.gateway.faults = slowGateway({
    slots: 3,
    minMs: 300,
    maxMs: 600,
    override: ({ params }): GatewayFault | undefined =>
      lostAnswers.has(params['metadata[subscription_id]'] ?? '') ? { kind: 'commit-then-hang' } : undefined,
  });

  // Act: the primary schedule fires.
  const primary = await invokeScheduledRun(billing, 'primary');
  expect(primary.outcome).toBe('started');
  const runId = primary.runId;
  expect(runId).toBe(new Date().toISOString().slice(0, 10));

  // Mid-run (some charges resolved, most still to come): the datafeed is not ready, and the backup schedule and
  // an operator trigger the same day's run.
  const views: RunProgress[] = [];
  const progress = async () => {
    const view = await billing.admin.call<RunProgress>('GET', `/v1/admin/subscription-runs/${runId}`);
    expect(view.status).toBe(200);
    views.push(view.body);
    return view.body;
  };
  let view = await progress();
  while (!(view.succeeded + view.failed >= 5 && view.pending >= 15)) {
    expect(view.status).toBe('running');
    await sleep(100);
    view = await progress();
  }
  const early = await fetchDatafeed(billing, north.apiKey, runId);
  const [backup, operator] = await Promise.all([
    invokeScheduledRun(billing, 'backup'),
    billing.admin.call('POST', '/v1/admin/subscription-runs', {}),
  ]);

  // Assess (during the run)
  expect(early.status).toBe(425);
  expect(early.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(early.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(JSON.parse(early.text)).toMatchObject({ status: 425, title: expect.any(String) });
  expect(backup).toEqual({ runId, outcome: 'joined' });
  expect(operator.status).toBe(202);
  expect(operator.body).toMatchObject({ runId, outcome: 'joined', status: 'running' });

  while (view.status !== 'completed') {
    await sleep(250);
    view = await progress();
  }

  // Assess: progress moved, visibly. Done only grows, pending shrank, and a rate with an ETA was shown mid-run.
  const running = views.filter((v) => v.status === 'running');
  const done = running.map((v) => v.succeeded + v.failed);
  expect(done).toEqual([...done].sort((a, b) => a - b));
  expect(new Set(done).size).toBeGreaterThanOrEqual(3);
  expect(running.some((v) => v.total === subscriptions.length && v.pending > 0)).toBe(true);
  const pendings = running.filter((v) => v.total === subscriptions.length).map((v) => v.pending);
  expect(Math.min(...pendings)).toBeLessThan(Math.max(...pendings));
  const moving = running.filter((v) => v.ratePerMinute > 0);
  expect(moving.length).toBeGreaterThan(0);
  expect(moving.every((v) => typeof v.etaSeconds === 'number' && v.etaSeconds >= 0)).toBe(true);
  expect(running.every((v) => v.pending === Math.max(0, v.total - v.succeeded - v.failed))).toBe(true);

  // Assess: requests did time out and were asked again with the same key (the charge function says so)...
  const askedAgain = billing.stack.functionOutput
    .join('')
    .match(/charge still pending: no trustworthy answer yet/g);
  expect(askedAgain?.length ?? 0).toBeGreaterThan(0);
  // ...and yet the gateway charged each subscription once, under its one key, and declined each declining card once.
  const ledger = billing.gateway.ledger;
  const keys = ledger.map((entry) => entry.idempotencyKey);
  expect(new Set(keys).size).toBe(ledger.length);
  const expected = subscriptions.map((sub) => ({
    key: chargeKey(sub.store.id, sub.id, sub.period, 0),
    outcome: sub.paymentMethod === 'pm_card_visa' ? 'succeeded' : 'declined',
  }));
  expect(ledger.map((entry) => ({ key: entry.idempotencyKey, outcome: entry.outcome })).sort(byKey)).toEqual(
    expected.sort(byKey),
  );
  for (const sub of subscriptions) {
    const charges = billing.gateway.successfulCharges({ subscription_id: sub.id, period: sub.period });
    expect(charges.length).toBe(sub.paymentMethod === 'pm_card_visa' ? 1 : 0);
  }
  const succeeded = ledger.filter((entry) => entry.outcome === 'succeeded').length;
  expect(view).toMatchObject({
    status: 'completed',
    total: subscriptions.length,
    succeeded,
    failed: subscriptions.length - succeeded,
    pending: 0,
  });

  // The first answer is the one recorded: each charge holds the payment intent the gateway made for its key.
  const intents = new Map(ledger.map((entry) => [entry.idempotencyKey, entry.paymentIntentId]));
  const states = await Promise.all(
    subscriptions.map((sub) => sub.store.client.call('GET', `/v1/subscriptions/${sub.id}`)),
  );
  for (const [index, sub] of subscriptions.entries()) {
    const charged = sub.paymentMethod === 'pm_card_visa';
    expect(states[index]?.body).toMatchObject({
      status: charged ? 'active' : 'past_due',
      charges: [
        {
          period: sub.period,
          status: charged ? 'succeeded' : 'failed',
          attempts: 1,
          ...(charged
            ? { paymentIntentId: intents.get(chargeKey(sub.store.id, sub.id, sub.period, 0)) }
            : {}),
        },
      ],
    });
  }

  // The datafeed of each store: well-formed, and every charge of the run in it, as the gateway saw it.
  for (const store of [north, south]) {
    const feed = await fetchDatafeed(billing, store.apiKey, runId);
    expect(feed.status).toBe(200);
    expect(feed.headers.get('content-type')).toMatch(/^application\/xml/);
    const datafeed = parseDatafeed(feed.text);
    expect(datafeed.attributes).toMatchObject({ run_id: runId, store_id: store.id });
    const own = subscriptions.filter((sub) => sub.store === store);
    expect(datafeed.subscriptions.map((s) => s.id).sort()).toEqual(own.map((sub) => sub.id).sort());
    for (const sub of own) {
      const listed = datafeed.subscriptions.find((s) => s.id === sub.id);
      const charged = sub.paymentMethod === 'pm_card_visa';
      expect(listed?.charges).toEqual([
        {
          period: sub.period,
          status: charged ? 'succeeded' : 'failed',
          amount: sub.amount,
          currency: sub.currency,
          attributes: expect.objectContaining(
            charged
              ? { payment_intent: intents.get(chargeKey(store.id, sub.id, sub.period, 0)) }
              : { decline_code: expect.any(String) },
          ),
        },
      ]);
    }
    const ready = await eventsOf(store, 'datafeed.ready');
    expect(ready).toEqual([
      expect.objectContaining({ storeId: store.id, data: expect.objectContaining({ runId }) }),
    ]);
  }

  // The reconciliation the run scheduled at its completion, with nobody asking: after all those faults the gateway's
  // PaymentIntents and the charges recorded agree, one for one.
  const reconciled = await waitFor(
    () => billing.admin.call('GET', `/v1/admin/reconciliations/${runId}`),
    (read) => read.status === 200 && read.body.status === 'completed',
    { timeoutMs: 30_000, intervalMs: 250, what: 'the run to reconcile itself' },
  );
  expect(reconciled.body).toMatchObject({
    date: runId,
    gatewayPaymentIntents: succeeded,
    recordedCharges: succeeded,
    matched: succeeded,
    duplicates: [],
    orphans: [],
    missing: [],
  });

  // A backup that fires after completion starts nothing either.
  const late = await invokeScheduledRun(billing, 'backup');
  expect(late).toEqual({ runId, outcome: 'completed' });
  await sleep(1_000);
  expect(billing.gateway.ledger).toHaveLength(ledger.length);
  expect((await waitForRun(billing, runId)).total).toBe(subscriptions.length);
});

const byKey = (a: { key?: string }, b: { key?: string }) => (a.key ?? '').localeCompare(b.key ?? '');
