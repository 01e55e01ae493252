import { randomBytes } from 'node:crypto';
import {
  type BillingTestStack,
  newStore,
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
    // Prepare
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
    expect([visa.status, declined.status, future.status]).toEqual([201, 201, 201]);
    expect(visa.body).toMatchObject({ id: 'sub_visa', status: 'active', charges: [] });

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
    const feed = await fetch(new URL(`/v1/datafeeds/subscriptions/${runId}`, billing.stack.apiUrl), {
      headers: { authorization: `Bearer ${(store.client as unknown as { key?: string }).key ?? ''}` },
    });
    expect(feed.status).not.toBe(500);
  }, 90_000);
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
