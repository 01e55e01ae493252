import { formatMoney, minorUnitExponent } from '../../lambdas/notifications/domain/money';
import { notificationOf } from '../../lambdas/notifications/domain/notification';
import { renderEmail } from '../../lambdas/notifications/domain/render-email';
import { currencyCode, ISO_CURRENCIES, isCurrencyCode } from '../../lambdas/platform/currency';
import { acme, json, webhookApi } from './support/in-memory-api';
import { chargedData, messageOf, paymentFailedData, subscriptionEvent } from './support/notification-fakes';

/** Currencies (docs/api.md section 3): ISO 4217 in either case, kept and answered in upper case. */

const messagesOf = (value: unknown) =>
  currencyCode.safeParse(value).error?.issues.map((issue) => issue.message) ?? [];

describe('currencyCode', () => {
  it.each([
    ['usd', 'USD'],
    ['USD', 'USD'],
    ['Jpy', 'JPY'],
    ['eUr', 'EUR'],
    ['kwd', 'KWD'],
  ])('takes %s as %s', (input, expected) => {
    expect(currencyCode.parse(input)).toBe(expected);
  });

  it('takes the platform’s set, far more than a hand-written list of 21', () => {
    expect(typeof Intl.supportedValuesOf).toBe('function');
    expect(ISO_CURRENCIES.size).toBeGreaterThan(100);
    for (const code of ['USD', 'EUR', 'JPY', 'GBP', 'KWD', 'BHD', 'CLP', 'VND', 'ISK', 'TWD', 'UAH', 'XOF']) {
      expect({ code, known: ISO_CURRENCIES.has(code) }).toEqual({ code, known: true });
    }
    expect([...ISO_CURRENCIES].every((code) => /^[A-Z]{3}$/.test(code))).toBe(true);
    expect(isCurrencyCode('uah')).toBe(true);
    expect(isCurrencyCode('xyz')).toBe(false);
  });

  it.each([
    ['an unknown code', 'XYZ'],
    ['an unknown lower-case code', 'abc'],
    ['the testing code', 'XTS'],
    ['a currency name', 'euro'],
    ['a symbol', '$'],
    ['padding', ' usd'],
    ['the empty string', ''],
  ])('refuses %s (%j) with a short message', (_what, value) => {
    const [message, ...more] = messagesOf(value);
    expect(more).toEqual([]);
    expect(message).toMatch(/^must be an ISO 4217 currency code/);
    // The message names a few examples, never the whole list.
    expect((message ?? '').length).toBeLessThan(140);
    expect(message).not.toContain('AUD');
  });

  it('names the refused code back when it looks like one', () => {
    expect(messagesOf('xyz')).toEqual([
      'must be an ISO 4217 currency code, in either case, such as "USD", "eur" or "JPY": "XYZ" is not one',
    ]);
    expect(messagesOf('x'.repeat(10_000))[0]).not.toContain('xxxx');
  });

  it.each([
    ['a number', 840],
    ['null', null],
    ['an array', ['USD']],
    ['an object', { code: 'USD' }],
    ['a boolean', true],
  ])('refuses %s', (_what, value) => {
    expect(messagesOf(value)).toEqual([
      'must be an ISO 4217 currency code, in either case, such as "USD", "eur" or "JPY"',
    ]);
  });
});

describe('currencies at the API', () => {
  const subscription = {
    customer: { id: 'cus_1', email: 'c@example.com' },
    plan: 'coffee',
    amount: 1999,
    interval: 'month',
    paymentMethod: 'pm_card_visa',
  };
  const transaction = {
    customer: { email: 'ada@example.com' },
    total: 1999,
    items: [{ sku: 'MUG-1', name: 'Mug', quantity: 1, unitPrice: 1999 }],
  };

  it('creates a subscription from a lower-case code and answers it in upper case', async () => {
    const { call } = await webhookApi();
    const created = await call(
      'POST',
      '/v1/subscriptions',
      json({ ...subscription, id: 'sub_jpy', currency: 'jpy' }),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'sub_jpy', currency: 'JPY', amount: 1999 });
    expect((await call('GET', '/v1/subscriptions/sub_jpy', { headers: acme })).body.currency).toBe('JPY');
  });

  it('stores a transaction’s lower-case code in upper case, as its webhook will carry it', async () => {
    const { call, deps } = await webhookApi();
    const accepted = await call(
      'POST',
      '/v1/transactions',
      json({ ...transaction, id: 'o-1', currency: 'usd' }),
    );
    expect(accepted.status).toBe(202);
    const [stored] = [...deps.transactions.items.values()];
    expect(stored?.transaction.currency).toBe('USD');
    // `usd` and `USD` are the same currency: the same transaction, replayed, not a conflict.
    const again = await call(
      'POST',
      '/v1/transactions',
      json({ ...transaction, id: 'o-1', currency: 'USD' }),
    );
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });

  it.each([
    ['/v1/subscriptions', '"abc"', { ...subscription, currency: 'abc' }],
    ['/v1/transactions', '"abc"', { ...transaction, id: 'o-2', currency: 'abc' }],
    ['/v1/subscriptions', 'a number', { ...subscription, currency: 840 }],
    ['/v1/transactions', 'null', { ...transaction, id: 'o-3', currency: null }],
  ])('answers 400 naming currency on %s for %s', async (path, _what, body) => {
    const { call } = await webhookApi();
    const answer = await call('POST', path, json(body));
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body.errors).toEqual([
      { field: 'currency', message: expect.stringMatching(/^must be an ISO 4217 currency code/) },
    ]);
  });
});

describe('amounts in minor units in the emails', () => {
  const email = (type: 'subscription.charged' | 'subscription.payment_failed', data: unknown) =>
    renderEmail(notificationOf(messageOf(subscriptionEvent(type, data))), {
      from: 'billing@shop.example.com',
    });

  it.each([
    ['JPY', 1999, '¥1,999'],
    ['jpy', 1999, '¥1,999'],
    ['KRW', 1999, '₩1,999'],
    ['USD', 1999, '$19.99'],
    ['usd', 1999, '$19.99'],
    ['KWD', 1999, 'KWD\u00a01.999'],
  ])('a receipt for %s %d reads %s', (currency, amount, expected) => {
    const receipt = email('subscription.charged', chargedData({ plan: 'Beans', amount, currency }));
    expect(receipt.subject).toBe(`Receipt for your Beans subscription: ${expected}`);
    expect(receipt.text).toContain(`We charged ${expected} for your Beans subscription`);
    expect(receipt.html).toContain(expected);
  });

  it('a payment-failed notice for 1999 yen says ¥1,999, never ¥19.99', () => {
    const data = paymentFailedData();
    const notice = email('subscription.payment_failed', {
      ...data,
      subscription: { ...data.subscription, amount: 1999, currency: 'JPY' },
      charge: { ...data.charge, amount: 1999, currency: 'JPY' },
    });
    expect(notice.text).toContain('We could not charge ¥1,999 for your');
    expect(`${notice.text}${notice.html}`).not.toContain('19.99');
  });

  it('counts every platform currency in 0, 2 or 3 decimals, and Intl formats each', () => {
    for (const code of ISO_CURRENCIES) {
      expect([0, 2, 3]).toContain(minorUnitExponent(code));
      expect(() => formatMoney(1999, code)).not.toThrow();
    }
  });
});
