import { randomBytes } from 'node:crypto';
import { transaction } from '../support/pipeline-client';
import { waitFor } from '../support/wait-for';
import { parseDatafeed } from './datafeed-xml';
import {
  type BillingTestStack,
  clearOfMidnight,
  eventsOf,
  fetchDatafeed,
  mailsTo,
  newStore,
  runBilling,
  startBillingTestStack,
  subscriptionBody,
} from './support';

/**
 * Currencies on the local stack (docs/api.md section 3): ISO 4217 codes in either case, as Stripe users write them,
 * stored and answered in upper case; amounts in the currency's minor units, so 1999 yen is ¥1,999 in the receipt.
 */
const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
let billing: BillingTestStack;

beforeAll(async () => {
  billing = await startBillingTestStack(adminKey);
}, 120_000);

afterAll(async () => {
  await billing?.stop();
});

it('takes usd and jpy in a subscription and a transaction, answers USD and JPY, and writes 1999 yen as ¥1,999', async () => {
  // Prepare: the run below charges as of now, on one UTC day.
  await clearOfMidnight();
  const store = await newStore(billing, 'currencies');
  const email = `yen-${Date.now()}@example.com`;

  // Act
  const yen = await store.client.call(
    'POST',
    '/v1/subscriptions',
    subscriptionBody({ id: 'sub_yen', currency: 'jpy', amount: 1999, customer: { id: 'cus_yen', email } }),
  );
  const dollars = await store.client.call(
    'POST',
    '/v1/subscriptions',
    subscriptionBody({
      id: 'sub_usd',
      currency: 'usd',
      startAt: new Date(Date.now() + 86_400_000).toISOString(),
    }),
  );
  const jpyOrder = transaction({
    currency: 'jpy',
    total: 1999,
    items: [{ sku: 'T', name: 'Tea', quantity: 1, unitPrice: 1999 }],
  });
  const usdOrder = transaction({ currency: 'Usd' });
  const orders = [
    await store.client.call('POST', '/v1/transactions', jpyOrder),
    await store.client.call('POST', '/v1/transactions', usdOrder),
  ];
  const unknown = await store.client.call('POST', '/v1/subscriptions', subscriptionBody({ currency: 'xyz' }));

  // Assess: answered and read back in upper case.
  expect([yen.status, dollars.status]).toEqual([201, 201]);
  expect([yen.body.currency, dollars.body.currency]).toEqual(['JPY', 'USD']);
  expect((await store.client.call('GET', '/v1/subscriptions/sub_yen')).body).toMatchObject({
    currency: 'JPY',
    amount: 1999,
  });
  expect((await store.client.call('GET', '/v1/subscriptions/sub_usd')).body.currency).toBe('USD');
  expect(orders.map((order) => order.status)).toEqual([202, 202]);
  // The transactions as their events carry them (what the webhooks deliver).
  const created = await waitFor(
    () => eventsOf(store, 'transaction.created'),
    (events) => events.length === 2,
    { timeoutMs: 15_000, intervalMs: 200, what: 'both transaction.created events' },
  );
  const currencyOf = (id: string) => created.find((event) => event.data.id === id)?.data.currency;
  expect([currencyOf(jpyOrder.id), currencyOf(usdOrder.id)]).toEqual(['JPY', 'USD']);
  // An unknown code: 400 naming the field, with a short message.
  expect(unknown.status).toBe(400);
  expect(unknown.body.errors).toEqual([
    { field: 'currency', message: expect.stringMatching(/^must be an ISO 4217 currency code.{0,100}$/) },
  ]);

  // The yen subscription charged: 1999 yen at the gateway, in the datafeed and in the receipt.
  const runId = new Date().toISOString().slice(0, 10);
  await runBilling(billing, new Date().toISOString());
  const [intent] = billing.gateway.successfulCharges({ subscription_id: 'sub_yen' });
  expect(intent).toMatchObject({ amount: 1999, currency: 'jpy' });
  const feed = parseDatafeed((await fetchDatafeed(billing, store.apiKey, runId)).text);
  expect(feed.subscriptions.find((s) => s.id === 'sub_yen')?.charges).toEqual([
    expect.objectContaining({ status: 'succeeded', amount: 1999, currency: 'JPY' }),
  ]);
  const [receipt] = await waitFor(
    async () => mailsTo(billing, email),
    (mails) => mails.length === 1,
    { timeoutMs: 15_000, intervalMs: 200, what: 'the receipt' },
  );
  expect(receipt?.subject).toContain('¥1,999');
  expect(receipt?.text).toContain('We charged ¥1,999 for your');
  expect(receipt?.text).not.toContain('19.99');
}, 90_000);
