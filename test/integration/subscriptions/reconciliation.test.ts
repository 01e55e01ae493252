import { randomBytes } from 'node:crypto';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  type ChargeRecord,
  type ChargeRef,
  chargeKeyOf,
  chargeRefToString,
  idempotencyKeyOf,
  subscriptionKeyOf,
} from '../../../lambdas/billing/domain/charges/charge';
import { chargeMetadataOf } from '../../../lambdas/billing/domain/charges/gateway';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { runCli } from '../support/cli';
import { waitFor } from '../support/wait-for';
import {
  type BillingTestStack,
  clearOfMidnight,
  newStore,
  runBilling,
  startBillingTestStack,
  subscriptionBody,
} from './support';

/**
 * The reconciliation of a run with the gateway, end to end: the admin API starts it, RunFunction lists the bundled
 * gateway's PaymentIntents through the `stripe` SDK and reads the tables, the report is served and printed by
 * `npx pipeline reconcile`. A PaymentIntent planted at the gateway (money that moved with no record) must be found,
 * so a reconciliation that reads nothing cannot pass.
 */
const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
let billing: BillingTestStack;

jest.setTimeout(120_000);

beforeAll(async () => {
  billing = await startBillingTestStack(adminKey);
}, 120_000);

afterAll(async () => {
  await billing?.stop();
});

interface Report {
  readonly date: string;
  readonly status: string;
  readonly gatewayPaymentIntents: number;
  readonly recordedCharges: number;
  readonly matched: number;
  readonly duplicates: { subscriptionId: string; paymentIntentIds: string[] }[];
  readonly orphans: { paymentIntentId: string; subscriptionId?: string; reason?: string }[];
  readonly missing: unknown[];
  readonly completedAt?: string;
}

/** Starts the reconciliation of `date` through the admin API and waits for its completed report. */
async function reconcileThroughApi(date: string): Promise<Report> {
  const started = await billing.admin.call('POST', '/v1/admin/reconciliations', { date });
  expect(started.status).toBe(202);
  expect(started.body).toMatchObject({ date, status: 'running' });
  const answer = await waitFor(
    () => billing.admin.call<Report>('GET', `/v1/admin/reconciliations/${date}`),
    (read) => read.status === 200 && read.body.status === 'completed',
    { timeoutMs: 30_000, intervalMs: 250, what: `the reconciliation of ${date}` },
  );
  return answer.body;
}

/**
 * A completed run of a past date written straight into the runs and charges tables, as the run and charge functions
 * write them, with its PaymentIntents planted at the gateway at that date: the reconciliation alone, whatever the
 * state of the charge path. Its PaymentIntents are dated in the past so that they stay out of the window of
 * today's run in the next test (a window ends at the reconciliation's time).
 */
const SEEDED_DATE = '2001-02-03';
const SEEDED_START = Date.parse(`${SEEDED_DATE}T00:05:00.000Z`);

async function seedRun(
  storeId: string,
  charges: readonly { subscriptionId: string; status: string; paymentIntentId?: string }[],
) {
  const documents = createDocumentClient(billing.stack.clients.dynamodb);
  const runsTable = billing.stack.ref('RunsTable');
  const chargesTable = billing.stack.ref('ChargesTable');
  const at = (minutes: number) => new Date(SEEDED_START + minutes * 60_000).toISOString();
  await documents.send(
    new PutCommand({
      TableName: runsTable,
      Item: {
        runId: SEEDED_DATE,
        sk: 'run',
        asOf: at(0),
        status: 'completed',
        startedAt: at(0),
        updatedAt: at(30),
        completedAt: at(30),
        deadlineAt: at(360),
        cursor: { shard: 16 },
        enumerated: true,
        total: charges.length,
        succeeded: charges.filter((charge) => charge.status === 'succeeded').length,
        failed: charges.filter((charge) => charge.status === 'failed').length,
        samples: [],
        claimed: charges.length,
        triggers: 1,
        announced: true,
      },
    }),
  );
  for (const charge of charges) {
    const ref: ChargeRef = {
      storeId,
      subscriptionId: charge.subscriptionId,
      period: SEEDED_DATE,
      attempt: 0,
    };
    const item: ChargeRecord = {
      subscriptionKey: subscriptionKeyOf(storeId, charge.subscriptionId),
      chargeKey: chargeKeyOf(SEEDED_DATE, 0),
      ...ref,
      cycle: 0,
      amount: 1999,
      currency: 'USD',
      paymentMethod: 'pm_card_visa',
      customer: { id: 'cus_1', email: 'customer@example.com' },
      plan: 'coffee-monthly',
      interval: 'month',
      intervalCount: 1,
      runId: SEEDED_DATE,
      idempotencyKey: idempotencyKeyOf(ref),
      status: charge.status as ChargeRecord['status'],
      claimedAt: at(1),
      resolvedAt: at(2),
      ...(charge.paymentIntentId ? { paymentIntentId: charge.paymentIntentId } : {}),
    };
    await documents.send(new PutCommand({ TableName: chargesTable, Item: item }));
    await documents.send(
      new UpdateCommand({
        TableName: runsTable,
        Key: { runId: SEEDED_DATE, sk: 'page#0:start' },
        UpdateExpression: 'ADD refs :refs',
        ExpressionAttributeValues: { ':refs': new Set([chargeRefToString(ref)]) },
      }),
    );
  }
}

/** A PaymentIntent at the gateway, created during the seeded run, for a charge of it. */
function plantSeeded(storeId: string, subscriptionId: string) {
  return billing.gateway.injectPaymentIntent({
    amount: 1999,
    currency: 'usd',
    metadata: { ...chargeMetadataOf({ storeId, subscriptionId, period: SEEDED_DATE, attempt: 0 }) },
    created: Math.floor((SEEDED_START + 10 * 60_000) / 1000),
  });
}

describe('the reconciliation of a run with the gateway', () => {
  it('matches a seeded run, then reports what is planted at the gateway and a payment the gateway lacks', async () => {
    // Prepare
    const storeId = 'seeded';
    const one = plantSeeded(storeId, 'sub_1');
    const two = plantSeeded(storeId, 'sub_2');
    await seedRun(storeId, [
      { subscriptionId: 'sub_1', status: 'succeeded', paymentIntentId: one.id },
      { subscriptionId: 'sub_2', status: 'succeeded', paymentIntentId: two.id },
      { subscriptionId: 'sub_3', status: 'failed' },
    ]);

    // Act, Assess
    expect(await reconcileThroughApi(SEEDED_DATE)).toMatchObject({
      status: 'completed',
      gatewayPaymentIntents: 2,
      recordedCharges: 2,
      matched: 2,
      duplicates: [],
      orphans: [],
      missing: [],
    });

    // Prepare: the declined charge moved money after all, sub_1 was charged twice, and a recorded payment vanished
    const failedButPaid = plantSeeded(storeId, 'sub_3');
    const again = plantSeeded(storeId, 'sub_1');
    await seedRun(storeId, [
      { subscriptionId: 'sub_4', status: 'succeeded', paymentIntentId: 'pi_vanished' },
    ]);

    // Act
    const found = await reconcileThroughApi(SEEDED_DATE);

    // Assess
    expect(found).toMatchObject({
      gatewayPaymentIntents: 4,
      recordedCharges: 3,
      matched: 1,
      duplicates: [{ subscriptionId: 'sub_1', paymentIntentIds: [one.id, again.id].sort() }],
      orphans: [
        { paymentIntentId: failedButPaid.id, subscriptionId: 'sub_3', reason: 'not-recorded-as-paid' },
      ],
      missing: [{ subscriptionId: 'sub_4', paymentIntentId: 'pi_vanished' }],
    });
  });

  it('reports a clean run as clean, then finds a planted orphan and a duplicate, which the CLI prints with exit 1', async () => {
    // Prepare: a run that charged two cards and was declined on a third
    await clearOfMidnight();
    const store = await newStore(billing, 'reconcile');
    for (const body of [
      subscriptionBody({ id: 'sub_visa_1' }),
      subscriptionBody({ id: 'sub_visa_2' }),
      subscriptionBody({ id: 'sub_declined', paymentMethod: 'pm_card_chargeDeclined' }),
    ]) {
      expect((await store.client.call('POST', '/v1/subscriptions', body)).status).toBe(201);
    }
    const run = await runBilling(billing, new Date().toISOString());
    const date = run.runId;
    expect(run).toMatchObject({ status: 'completed', succeeded: 2, failed: 1 });
    // Another integration's PaymentIntent on the same account: not the pipeline's business.
    billing.gateway.injectPaymentIntent({ amount: 500, currency: 'usd', metadata: { order_id: 'shop-42' } });

    // Act, Assess: a clean run
    const clean = await reconcileThroughApi(date);
    expect(clean).toMatchObject({
      date,
      status: 'completed',
      gatewayPaymentIntents: 2,
      recordedCharges: 2,
      matched: 2,
      duplicates: [],
      orphans: [],
      missing: [],
    });

    // Prepare: money moved twice for one charge, and once for a charge that was never recorded
    const period = date;
    const metadata = (subscriptionId: string) => ({
      store_id: store.id,
      subscription_id: subscriptionId,
      period,
      attempt: '0',
    });
    const orphan = billing.gateway.injectPaymentIntent({
      amount: 1999,
      currency: 'usd',
      metadata: metadata('sub_never_recorded'),
    });
    const second = billing.gateway.injectPaymentIntent({
      amount: 1999,
      currency: 'usd',
      metadata: metadata('sub_visa_1'),
    });

    // Act
    const found = await reconcileThroughApi(date);

    // Assess
    expect(found).toMatchObject({ gatewayPaymentIntents: 4, recordedCharges: 2, matched: 1, missing: [] });
    expect(found.orphans).toEqual([
      expect.objectContaining({
        paymentIntentId: orphan.id,
        subscriptionId: 'sub_never_recorded',
        reason: 'no-record',
      }),
    ]);
    expect(found.duplicates).toEqual([
      expect.objectContaining({
        subscriptionId: 'sub_visa_1',
        paymentIntentIds: expect.arrayContaining([second.id]),
      }),
    ]);
    expect(found.duplicates[0]?.paymentIntentIds).toHaveLength(2);

    // The operator's view of the same: the CLI against the running stack.
    const cli = await runCli([
      '--api-url',
      billing.stack.apiUrl,
      '--admin-key',
      adminKey,
      'reconcile',
      date,
      '--interval',
      '0.25',
    ]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`Reconciliation of run ${date}: completed`);
    expect(cli.stdout).toContain(orphan.id);
    expect(cli.stdout).toContain(second.id);
    expect(cli.stdout).toContain('Not clean: 1 duplicate(s), 1 orphan(s).');
  });

  it('refuses a date without a run (404) and a malformed one (400 naming date)', async () => {
    const none = await billing.admin.call('POST', '/v1/admin/reconciliations', { date: '2001-01-01' });
    const bad = await billing.admin.call('POST', '/v1/admin/reconciliations', { date: '2001-1-1' });

    expect(none.status).toBe(404);
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'date' })]);
    expect((await billing.admin.call('GET', '/v1/admin/reconciliations/2001-01-01')).status).toBe(404);
  });
});
