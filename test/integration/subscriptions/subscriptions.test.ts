import { randomBytes } from 'node:crypto';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { GatewayFault } from '../../../local/payment-gateway/payment-gateway';
import { fetchApi } from '../support/openapi-validator';
import type { ApiAnswer } from '../support/pipeline-client';
import { sleep, waitFor } from '../support/wait-for';
import { WebhookReceiver } from '../support/webhook-receiver';
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
  scanTable,
  startBillingTestStack,
  subscriptionBody,
  waitForRun,
} from './support';

/** The subscription side end to end on the emulators, the bundled gateway and the SMTP sink. */
const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
let billing: BillingTestStack;

beforeAll(async () => {
  billing = await startBillingTestStack(adminKey);
}, 120_000);

afterAll(async () => {
  await billing?.stop();
});

describe('a subscription run', () => {
  it('charges each due subscription once, starts dunning on declines, and produces the datafeed after completion', async () => {
    // Prepare: the cancellation below and the run fall on one UTC day.
    await clearOfMidnight();
    const store = await newStore(billing);
    const visa = await store.client.call('POST', '/v1/subscriptions', subscriptionBody({ id: 'sub_visa' }));
    const declined = await store.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id: 'sub_declined', paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' }),
    );
    const future = await store.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id: 'sub_future', startAt: new Date(Date.now() + 86_400_000 * 3).toISOString() }),
    );
    // For the datafeed's lists: one canceled today, one that ends in three days (written as PATCH {endAt} does).
    const canceled = await store.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id: 'sub_canceled', plan: 'tea & <biscuits> "daily"' }),
    );
    const ending = await store.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id: 'sub_ending', startAt: new Date(Date.now() + 86_400_000 * 2).toISOString() }),
    );
    expect([visa.status, declined.status, future.status, canceled.status, ending.status]).toEqual([
      201, 201, 201, 201, 201,
    ]);
    expect(visa.body).toMatchObject({ id: 'sub_visa', status: 'active', charges: [] });
    expect((await store.client.call('DELETE', '/v1/subscriptions/sub_canceled')).status).toBe(200);
    const endAt = new Date(
      Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00.000Z`) + 3 * 86_400_000,
    );
    await billing.stack.clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: billing.stack.ref('SubscriptionsTable'),
        Key: { storeId: { S: store.id }, subscriptionId: { S: 'sub_ending' } },
        UpdateExpression: 'SET endAt = :endAt',
        ExpressionAttributeValues: { ':endAt': { S: endAt.toISOString() } },
      }),
    );

    // Act
    const asOf = new Date().toISOString();
    const trigger = await billing.admin.call('POST', '/v1/admin/subscription-runs', { asOf });
    const runId = asOf.slice(0, 10);
    expect(trigger.status).toBe(202);
    expect(trigger.body).toMatchObject({ runId });
    const view = await waitForRun(billing, runId);

    // Assess: counted exactly; one charge per due subscription at the gateway
    expect(view).toMatchObject({ status: 'completed', pending: 0 });
    const visaCharges = billing.gateway.successfulCharges({ subscription_id: 'sub_visa' });
    expect(visaCharges).toHaveLength(1);
    expect(billing.gateway.successfulCharges({ subscription_id: 'sub_future' })).toHaveLength(0);

    const charged = await store.client.call('GET', '/v1/subscriptions/sub_visa');
    expect(charged.body).toMatchObject({
      status: 'active',
      charges: [
        { period: visa.body.nextChargeAt.slice(0, 10), status: 'succeeded', amount: 1999, attempts: 1 },
      ],
    });
    expect(Date.parse(charged.body.nextChargeAt)).toBeGreaterThan(Date.now() + 27 * 86_400_000);
    const pastDue = await store.client.call('GET', '/v1/subscriptions/sub_declined');
    expect(pastDue.body).toMatchObject({
      status: 'past_due',
      dunning: { attempt: 1 },
      charges: [{ status: 'failed', attempts: 1, declineCode: 'insufficient_funds' }],
    });

    // The datafeed: well-formed, every charge of the run for this store.
    const feed = await fetchDatafeed(billing, store.apiKey, runId);
    expect(feed.status).toBe(200);
    const datafeed = parseDatafeed(feed.text);
    expect(datafeed.subscriptions.map((subscription) => subscription.id)).toEqual([
      'sub_declined',
      'sub_visa',
    ]);
    expect(datafeed.subscriptions.map((subscription) => subscription.charges[0]?.status)).toEqual([
      'failed',
      'succeeded',
    ]);
    // Each with its state after the run, as GET shows it: a merchant's script needs no second call.
    const [pastDueFeed, visaFeed] = datafeed.subscriptions;
    expect(visaFeed?.attributes).toEqual({
      id: 'sub_visa',
      status: 'active',
      customer_id: 'cus_1',
      customer_email: 'customer@example.com',
      plan: 'coffee-monthly',
      amount: '1999',
      currency: 'USD',
      next_charge_at: charged.body.nextChargeAt,
    });
    expect(visaFeed?.pastDue).toBeUndefined();
    expect(pastDueFeed?.attributes).toMatchObject({ id: 'sub_declined', status: 'past_due' });
    expect(pastDueFeed?.pastDue).toEqual({
      amount: '1999',
      since: pastDue.body.dunning.since ?? expect.any(String),
      attempt: String(pastDue.body.dunning.attempt),
      next_retry_at: pastDue.body.dunning.nextRetryAt,
      decline_code: 'insufficient_funds',
    });
    // Each with its customer's manage link (signed by the run function), which opens that subscription's page.
    for (const listed of datafeed.subscriptions) {
      expect(listed.manageUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/manage\/v1\.\S+$/);
      const page = await fetchApi(listed.manageUrl as string);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(listed.attributes.plan as string);
    }
    expect(datafeed.canceledToday?.subscriptions).toEqual([
      expect.objectContaining({
        id: 'sub_canceled',
        status: 'canceled',
        plan: 'tea & <biscuits> "daily"',
        reason: 'requested',
        canceled_at: expect.stringMatching(new RegExp(`^${runId}T`)),
      }),
    ]);
    expect(datafeed.endingSoon?.subscriptions).toEqual([
      expect.objectContaining({ id: 'sub_ending', status: 'active', end_at: endAt.toISOString() }),
    ]);
  }, 90_000);
});

/*
 * Runs are one per UTC date and charge everything due at their asOf, in every store of the stack. The first test
 * owns today's run; each test below owns one past date, and its subscriptions start on that date, so no run
 * charges another test's subscriptions.
 */

describe('announcements of a run', () => {
  const receivers: WebhookReceiver[] = [];
  afterAll(() => Promise.all(receivers.map((receiver) => receiver.stop())));

  it('sends one email and one webhook per outcome: receipts, payment-failed and cancellation notices, datafeed.ready', async () => {
    // Prepare: a receiver for the subscription events, two paying subscriptions and a declining one.
    const store = await newStore(billing, 'announce');
    const receiver = await WebhookReceiver.start();
    receivers.push(receiver);
    const subscriptionEvents = [
      'subscription.created',
      'subscription.charged',
      'subscription.payment_failed',
      'subscription.canceled',
      'datafeed.ready',
    ];
    const endpoint = await store.client.call('POST', '/v1/webhooks', {
      url: receiver.url,
      events: subscriptionEvents,
    });
    expect(endpoint.status).toBe(201);
    receiver.secrets = [endpoint.body.secret];
    const runAsOf = daysAgo(10);
    const email = (id: string) => `${id}.${store.id}@example.com`;
    const plans = {
      ann_paid: 'pm_card_visa',
      ann_canceled: 'pm_card_visa',
      ann_declined: 'pm_card_chargeDeclined',
    };
    for (const [id, paymentMethod] of Object.entries(plans)) {
      const created = await store.client.call(
        'POST',
        '/v1/subscriptions',
        subscriptionBody({
          id,
          customer: { id: `cus_${id}`, email: email(id) },
          paymentMethod,
          startAt: daysAgo(10, '06:00:00.000Z'),
        }),
      );
      expect(created.status).toBe(201);
    }

    // Act: the run, then a cancellation on request.
    const view = await runBilling(billing, runAsOf);
    const canceled = await store.client.call('DELETE', '/v1/subscriptions/ann_canceled');

    // Assess: every email and webhook arrived; then, after a pause for stragglers, none came twice.
    expect(view).toMatchObject({ total: 3, succeeded: 2, failed: 1 });
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ id: 'ann_canceled', status: 'canceled', nextChargeAt: null });
    const mails = () => Object.keys(plans).flatMap((id) => mailsTo(billing, email(id)));
    await waitFor(
      async () => mails().length,
      (count) => count >= 4,
      { timeoutMs: 20_000, what: 'four emails' },
    );
    await receiver.waitFor((r) => new Set(r.received.map((webhook) => webhook.webhookId)).size >= 8);
    await sleep(2_000);

    const events = new Map<string, string>();
    for (const type of subscriptionEvents) {
      for (const event of await eventsOf(store, type)) events.set(event.id, type);
    }
    const idsOf = (type: string) => [...events].filter(([, t]) => t === type).map(([id]) => id);
    expect(idsOf('subscription.created')).toHaveLength(3);
    expect(idsOf('subscription.charged')).toHaveLength(2);
    expect(idsOf('subscription.payment_failed')).toHaveLength(1);
    expect(idsOf('subscription.canceled')).toHaveLength(1);
    expect(idsOf('datafeed.ready')).toHaveLength(1);

    // Webhooks: every event exactly once, verified, and nothing else.
    expect(receiver.received.every((webhook) => webhook.verified)).toBe(true);
    expect([...receiver.successes()].sort()).toEqual([...events.keys()].map((id) => [id, 1]).sort());
    expect(receiver.received).toHaveLength(events.size);
    const webhookOf = (type: string) => receiver.received.filter((webhook) => webhook.body.type === type);
    expect(webhookOf('subscription.canceled')[0]?.body.data).toMatchObject({
      reason: 'requested',
      subscription: { id: 'ann_canceled', status: 'canceled' },
    });
    expect(webhookOf('datafeed.ready')[0]?.body.data).toMatchObject({ runId: runAsOf.slice(0, 10) });

    // Emails: one receipt per successful charge, one notice per failed attempt, one per cancellation, each to its
    // customer, each about its own event, none twice.
    const sent = mails();
    const kinds = sent.map((mail) => {
      const eventId = mail.headers['x-pipeline-event-id'] ?? '';
      const kind = /^<evt_[0-9A-Z]+\.([a-z-]+)@/.exec(mail.messageId ?? '')?.[1];
      return { to: mail.to.join(','), eventId, kind, type: events.get(eventId) };
    });
    expect(
      kinds.sort((a, b) => a.to.localeCompare(b.to) || (a.kind ?? '').localeCompare(b.kind ?? '')),
    ).toEqual([
      {
        to: email('ann_canceled'),
        eventId: expect.any(String),
        kind: 'cancellation',
        type: 'subscription.canceled',
      },
      {
        to: email('ann_canceled'),
        eventId: expect.any(String),
        kind: 'receipt',
        type: 'subscription.charged',
      },
      {
        to: email('ann_declined'),
        eventId: expect.any(String),
        kind: 'payment-failed',
        type: 'subscription.payment_failed',
      },
      { to: email('ann_paid'), eventId: expect.any(String), kind: 'receipt', type: 'subscription.charged' },
    ]);
    expect(new Set(sent.map((mail) => mail.messageId)).size).toBe(sent.length);
    expect(new Set(kinds.map((mail) => mail.eventId)).size).toBe(sent.length);
  }, 60_000);
});

describe('bad input on the HTTP API', () => {
  it('answers every client mistake with a 4xx problem that says what is wrong, never a 5xx', async () => {
    // Prepare
    const store = await newStore(billing, 'bad-input');
    const other = await newStore(billing, 'other');
    const theirs = await other.client.call('POST', '/v1/subscriptions', subscriptionBody({ id: 'theirs' }));
    const mine = await store.client.call('POST', '/v1/subscriptions', subscriptionBody({ id: 'mine' }));
    expect([theirs.status, mine.status]).toEqual([201, 201]);
    expect((await store.client.call('DELETE', '/v1/subscriptions/mine')).status).toBe(200);
    const { paymentMethod: _omitted, ...withoutPaymentMethod } = subscriptionBody();
    const admin = billing.admin;
    const future = new Date(Date.now() + 86_400_000).toISOString();

    // Act: one request at a time (each answer is about one mistake).
    const create = (overrides: Record<string, unknown>) => () =>
      store.client.call('POST', '/v1/subscriptions', subscriptionBody(overrides));
    const as = (client: typeof admin, method: string, path: string, body?: unknown) => () =>
      client.call(method, path, body);
    const cases: [what: string, request: () => Promise<ApiAnswer>, status: number, field?: string][] = [
      ['unknown interval', create({ interval: 'fortnight' }), 400, 'interval'],
      ['zero amount', create({ amount: 0 }), 400, 'amount'],
      ['negative amount', create({ amount: -500 }), 400, 'amount'],
      ['fractional amount', create({ amount: 19.99 }), 400, 'amount'],
      ['unsupported currency', create({ currency: 'XTS' }), 400, 'currency'],
      [
        'missing paymentMethod',
        as(store.client, 'POST', '/v1/subscriptions', withoutPaymentMethod),
        400,
        'paymentMethod',
      ],
      ['bad JSON', as(store.client, 'POST', '/v1/subscriptions', '{"plan": '), 400],
      ['cancel of a canceled subscription', as(store.client, 'DELETE', '/v1/subscriptions/mine'), 409],
      ["another store's subscription", as(store.client, 'GET', '/v1/subscriptions/theirs'), 404],
      ["cancel of another store's subscription", as(store.client, 'DELETE', '/v1/subscriptions/theirs'), 404],
      ['a malformed run date', as(admin, 'GET', '/v1/admin/subscription-runs/2026-13-45'), 400],
      [
        'asOf that is not a time',
        as(admin, 'POST', '/v1/admin/subscription-runs', { asOf: 'yesterday' }),
        400,
        'asOf',
      ],
      [
        'asOf far in the future',
        as(admin, 'POST', '/v1/admin/subscription-runs', { asOf: future }),
        400,
        'asOf',
      ],
      ['a run that does not exist', as(admin, 'GET', '/v1/admin/subscription-runs/2001-01-01'), 404],
      [
        'the datafeed of a run that does not exist',
        as(store.client, 'GET', '/v1/datafeeds/subscriptions/2001-01-01'),
        404,
      ],
      [
        'the datafeed of a malformed run date',
        as(store.client, 'GET', '/v1/datafeeds/subscriptions/2026-02-30'),
        400,
      ],
      [
        'a run trigger without the admin key',
        as(store.client, 'POST', '/v1/admin/subscription-runs', {}),
        401,
      ],
    ];
    const answers: ApiAnswer[] = [];
    for (const [, request] of cases) answers.push(await request());

    // Assess
    for (const [index, [what, , status, field]] of cases.entries()) {
      const answer = answers[index] as ApiAnswer;
      const seen = { what, status: answer.status, contentType: answer.headers.get('content-type') };
      expect(seen).toEqual({
        what,
        status,
        contentType: expect.stringMatching(/^application\/problem\+json/),
      });
      expect(answer.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status });
      expect(typeof answer.body.detail).toBe('string');
      if (field) {
        expect({ what, fields: answer.body.errors.map((error: { field: string }) => error.field) }).toEqual({
          what,
          fields: [field],
        });
      }
    }
    // Nothing refused was created or changed.
    expect((await other.client.call('GET', '/v1/subscriptions/theirs')).body.status).toBe('active');
    expect((await admin.call('GET', `/v1/admin/subscription-runs/${future.slice(0, 10)}`)).status).toBe(404);
  }, 30_000);
});

describe('a gateway that cannot answer', () => {
  it('keeps the charge pending and the run open, then resolves it with the same key once the gateway answers, or by search when the gateway stored a 500', async () => {
    // Prepare: one subscription per fault, and one the gateway answers.
    const store = await newStore(billing, 'faults');
    const faults: Record<string, GatewayFault> = {
      flt_garbage: { kind: 'garbage', commit: false },
      // Charged, then a 500 that Stripe stores under the key: asking again only replays the 500, so the charge
      // is found by search once the gateway's search has caught up.
      flt_500: { kind: 'error500', commit: true },
      flt_hang: { kind: 'hang' },
      // Charged, but answered with garbage: asking again with the key gets the charge it made.
      flt_garbled_commit: { kind: 'garbage', commit: true },
    };
    const asked = new Map<string, number>();
    billing.gateway.faults = ({ params }) => {
      const id = params['metadata[subscription_id]'] ?? '';
      asked.set(id, (asked.get(id) ?? 0) + 1);
      return faults[id] ?? { kind: 'none' };
    };
    const runAsOf = daysAgo(11);
    const period = runAsOf.slice(0, 10);
    for (const id of [...Object.keys(faults), 'flt_ok']) {
      const created = await store.client.call(
        'POST',
        '/v1/subscriptions',
        subscriptionBody({ id, startAt: daysAgo(11, '06:00:00.000Z') }),
      );
      expect(created.status).toBe(201);
    }

    try {
      // Act: the run, while the gateway fails three of its charges, until the pipeline asked each again (the
      // SDK's own retry after a 500 or a timeout is the second request of an ask).
      const trigger = await billing.admin.call('POST', '/v1/admin/subscription-runs', { asOf: runAsOf });
      expect(trigger.status).toBe(202);
      const stuck = ['flt_garbage', 'flt_500', 'flt_hang'];
      await waitFor(
        async () => stuck.map((id) => asked.get(id) ?? 0),
        ([garbage = 0, error500 = 0, hang = 0]) => garbage >= 2 && error500 >= 1 && hang >= 2,
        { timeoutMs: 20_000, what: 'the faulty charges to be asked again' },
      );
      // The stored 500 was replayed, never executed again: asked once, searched after.
      await waitFor(
        async () =>
          billing.stack.functionOutput.join('\n').match(/replayed-server-error|search-not-settled/g)
            ?.length ?? 0,
        (seen) => seen > 0,
        { timeoutMs: 20_000, what: 'the stored 500 to be replayed' },
      );
      expect(asked.get('flt_500')).toBe(1);

      // Assess: pending, visibly; the others went through; the run waits.
      const running = await waitFor(
        async () =>
          (await billing.admin.call<RunProgress>('GET', `/v1/admin/subscription-runs/${period}`)).body,
        (run) => run.succeeded === 2,
        { timeoutMs: 10_000, what: 'the answered charges to be counted' },
      );
      expect(running).toMatchObject({ status: 'running', total: 5, succeeded: 2, failed: 0, pending: 3 });
      for (const id of stuck) {
        const state = await store.client.call('GET', `/v1/subscriptions/${id}`);
        expect(state.body).toMatchObject({
          status: 'active',
          charges: [{ period, status: 'pending', attempts: 1, amount: 1999, currency: 'USD' }],
        });
        // The stored 500 made its PaymentIntent; the others made none.
        expect(ledgerOf(billing, id)).toHaveLength(id === 'flt_500' ? 1 : 0);
      }
      for (const id of ['flt_ok', 'flt_garbled_commit']) {
        const state = await store.client.call('GET', `/v1/subscriptions/${id}`);
        expect(state.body.charges).toEqual([expect.objectContaining({ status: 'succeeded' })]);
      }
      expect((await fetchDatafeed(billing, store.apiKey, period)).status).toBe(425);
    } finally {
      // Act: the gateway recovers, and its search catches up with the PaymentIntent the 500 hid (a minute).
      billing.gateway.faults = () => ({ kind: 'none' });
      billing.gateway.clock.advance(61_000);
    }
    const view = await waitForRun(billing, period, 30_000);

    // Assess: each charge made once, under its one key, and its answer recorded.
    expect(view).toMatchObject({ status: 'completed', total: 5, succeeded: 5, failed: 0, pending: 0 });
    for (const id of [...Object.keys(faults), 'flt_ok']) {
      const ledger = ledgerOf(billing, id);
      expect(ledger).toEqual([
        expect.objectContaining({ outcome: 'succeeded', idempotencyKey: chargeKey(store.id, id, period, 0) }),
      ]);
      const state = await store.client.call('GET', `/v1/subscriptions/${id}`);
      expect(state.body).toMatchObject({
        status: 'active',
        charges: [{ period, status: 'succeeded', attempts: 1, paymentIntentId: ledger[0]?.paymentIntentId }],
      });
    }
  }, 60_000);
});

afterEach(async () => {
  if (process.env.DEBUG_BILLING && billing) {
    console.error(JSON.stringify(await scanTable(billing.stack, 'RunsTable'), null, 1));
    console.error(JSON.stringify(await scanTable(billing.stack, 'SubscriptionsTable'), null, 1));
    // Kept for a failing test's diagnosis.
    process.stdout.write(
      `${billing.stack.logs.join('\n')}\n${billing.stack.functionOutput
        .filter((line) => /RunFunction/.test(line))
        .slice(0, 10)
        .join('\n')}\n`,
    );
  }
});
