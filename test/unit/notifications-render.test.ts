import { formatMoney, minorUnitExponent } from '../../lambdas/notifications/domain/money';
import { MalformedNotificationError, notificationOf } from '../../lambdas/notifications/domain/notification';
import {
  isNotifiable,
  notificationMessage,
  notificationMessageFor,
} from '../../lambdas/notifications/domain/notification-message';
import {
  EVENT_ID_HEADER,
  escapeHtml,
  notificationMessageId,
  renderEmail,
} from '../../lambdas/notifications/domain/render-email';
import {
  canceledData,
  chargedData,
  messageOf,
  paymentFailedData,
  subscriptionEvent,
} from './support/notification-fakes';

const FROM = 'billing@shop.example.com';
const render = (type: Parameters<typeof subscriptionEvent>[0], data: unknown) => {
  const event = subscriptionEvent(type, data);
  return { event, email: renderEmail(notificationOf(messageOf(event)), { from: FROM }) };
};

describe('formatMoney', () => {
  it.each([
    [1999, 'USD', '$19.99'],
    [1999, 'usd', '$19.99'],
    [1900, 'EUR', '€19.00'],
    [5, 'GBP', '£0.05'],
    [1200, 'JPY', '¥1,200'],
    [50000, 'KRW', '₩50,000'],
    [1500, 'KWD', 'KWD\u00a01.500'],
    [12345, 'BHD', 'BHD\u00a012.345'],
    // HUF counts fillér at the gateway although CLDR shows whole forints: never rounded, never 100x.
    [199000, 'HUF', 'HUF\u00a01,990'],
    [1990, 'HUF', 'HUF\u00a019.90'],
    [123456789012345, 'USD', '$1,234,567,890,123.45'],
    // Intl puts a no-break space between a currency code and its number.
  ])('%d minor units of %s read %s', (amount, currency, expected) => {
    expect(formatMoney(amount, currency)).toBe(expected);
  });

  it('knows the minor units of zero-, two- and three-decimal currencies', () => {
    expect(['JPY', 'krw', 'CLP', 'VND'].map(minorUnitExponent)).toEqual([0, 0, 0, 0]);
    expect(['USD', 'EUR', 'HUF', 'ISK'].map(minorUnitExponent)).toEqual([2, 2, 2, 2]);
    expect(['KWD', 'BHD', 'JOD', 'OMR', 'TND'].map(minorUnitExponent)).toEqual([3, 3, 3, 3, 3]);
  });
});

describe('which events send an email', () => {
  it('receipts, payment-failed and cancellation notices; nothing else', () => {
    expect(isNotifiable('subscription.charged')).toBe(true);
    expect(isNotifiable('subscription.payment_failed')).toBe(true);
    expect(isNotifiable('subscription.canceled')).toBe(true);
    expect(isNotifiable('subscription.created')).toBe(false);
    expect(isNotifiable('transaction.created')).toBe(false);
    expect(isNotifiable('datafeed.ready')).toBe(false);
    expect(notificationMessageFor(subscriptionEvent('subscription.created', {}))).toBeUndefined();
  });

  it('carries the event id, store, type and the event itself', () => {
    const event = subscriptionEvent('subscription.charged', chargedData());
    const message = notificationMessageFor(event);
    expect(message).toEqual({ eventId: event.id, storeId: 'store_1', type: 'subscription.charged', event });
    expect(notificationMessage.parse(JSON.parse(JSON.stringify(message)))).toEqual(message);
  });

  it('refuses a message whose event is not the one it names', () => {
    const message = messageOf(subscriptionEvent('subscription.charged', chargedData()));
    expect(notificationMessage.safeParse({ ...message, eventId: 'evt_other' }).success).toBe(false);
    expect(notificationMessage.safeParse({ ...message, type: 'subscription.canceled' }).success).toBe(false);
  });
});

describe('renderEmail', () => {
  it('writes a receipt for subscription.charged', () => {
    const { event, email } = render(
      'subscription.charged',
      chargedData({ plan: 'Pro', amount: 1999, currency: 'usd' }),
    );
    expect(email.to).toBe('ada@example.org');
    expect(email.from).toBe(FROM);
    expect(email.subject).toBe('Receipt for your Pro subscription: $19.99');
    expect(email.text).toContain('We charged $19.99 for your Pro subscription, billed every month.');
    expect(email.text).toMatch(/Payment reference: +pi_123/);
    expect(email.text).toMatch(/Period: +June 1, 2024/);
    expect(email.text).toMatch(/Next charge: +July 1, 2024/);
    expect(email.html).toContain('<td>pi_123</td>');
    expect(email.html).toContain('$19.99');
    expect(email.messageId).toBe(`<${event.id}.receipt@shop.example.com>`);
    expect(email.headers).toEqual({ [EVENT_ID_HEADER]: event.id, 'Auto-Submitted': 'auto-generated' });
  });

  it.each([
    ['JPY', 1200, '¥1,200'],
    ['EUR', 4500, '€45.00'],
    ['KWD', 2750, 'KWD\u00a02.750'],
  ])('writes amounts in %s in the currency’s units', (currency, amount, expected) => {
    const { email } = render('subscription.charged', chargedData({ amount, currency, intervalCount: 3 }));
    expect(email.subject).toBe(`Receipt for your Pro subscription: ${expected}`);
    expect(email.text).toContain(`We charged ${expected} for your Pro subscription, billed every 3 months.`);
  });

  it('writes a payment-failed notice with the next retry', () => {
    const { event, email } = render('subscription.payment_failed', paymentFailedData());
    expect(email.to).toBe('ada@example.org');
    expect(email.subject).toBe('Payment failed for your Pro subscription');
    expect(email.text).toContain('We could not charge $19.99 for your Pro subscription.');
    expect(email.text).toContain('Reason: Your card has insufficient funds.');
    expect(email.text).toContain('We will try again on June 2, 2024.');
    expect(email.text).toMatch(/Next attempt: +June 2, 2024/);
    expect(email.messageId).toBe(`<${event.id}.payment-failed@shop.example.com>`);
  });

  it.each([
    ['cancel', 'This was our last attempt, so your subscription has been canceled.'],
    ['unpaid', 'This was our last attempt: your subscription is unpaid until the amount is settled.'],
  ] as const)('tells the last dunning step’s final action (%s)', (finalAction, sentence) => {
    const { email } = render(
      'subscription.payment_failed',
      paymentFailedData({ dunning: null, finalAction }),
    );
    expect(email.text).toContain(sentence);
    expect(email.text).not.toContain('Next attempt');
  });

  it('writes a cancellation notice, requested, after failed payments, or at its end date', () => {
    const requested = render('subscription.canceled', canceledData()).email;
    expect(requested.subject).toBe('Your Pro subscription has been canceled');
    expect(requested.text).toContain('Your Pro subscription was canceled on June 15, 2024, as requested.');
    expect(requested.messageId).toMatch(/^<evt_\w+\.cancellation@shop\.example\.com>$/);

    const dunned = render('subscription.canceled', canceledData({ reason: 'payment_failed' })).email;
    expect(dunned.text).toContain('because we could not collect its payment');

    const ended = render('subscription.canceled', canceledData({ reason: 'ended' })).email;
    expect(ended.subject).toBe('Your Pro subscription has ended');
    expect(ended.text).toContain('ended on June 15, 2024, as it was set to');
  });

  it('escapes merchant text in the HTML and keeps the subject on one line', () => {
    const { email } = render('subscription.charged', chargedData({ plan: 'Gold <b>&\r\nBcc: x@evil.test' }));
    expect(email.subject).toBe('Receipt for your Gold <b>& Bcc: x@evil.test subscription: $19.99');
    expect(email.html).toContain('Gold &lt;b&gt;&amp;');
    expect(email.html).not.toContain('<b>');
    expect(escapeHtml(`"'`)).toBe('&quot;&#39;');
  });

  it('gives the same Message-ID every time it is written, another one for another event', () => {
    const event = subscriptionEvent('subscription.charged', chargedData());
    const first = renderEmail(notificationOf(messageOf(event)), { from: FROM });
    const again = renderEmail(notificationOf(messageOf(event)), { from: FROM });
    expect(again.messageId).toBe(first.messageId);
    const other = render('subscription.charged', chargedData()).email;
    expect(other.messageId).not.toBe(first.messageId);
    expect(notificationMessageId('evt_1', 'receipt', 'Billing <billing@a.example>')).toBe(
      '<evt_1.receipt@a.example>',
    );
  });
});

describe('notificationOf', () => {
  it('names every field that is missing or wrong, never its value', () => {
    const data = chargedData();
    const broken = {
      ...data,
      subscription: { ...data.subscription, customer: { id: 'cus_1' }, currency: 'dollars' },
      charge: { ...data.charge, amount: 19.99 },
    };
    let error: unknown;
    try {
      notificationOf(messageOf(subscriptionEvent('subscription.charged', broken)));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(MalformedNotificationError);
    const issues = (error as MalformedNotificationError).issues.join('\n');
    expect(issues).toContain('data.subscription.customer.email');
    expect(issues).toContain('data.subscription.currency');
    expect(issues).toContain('data.charge.amount');
    expect(issues).not.toContain('dollars');
  });

  it('accepts fields it does not use (events may grow)', () => {
    const data = { ...chargedData(), extra: { anything: true } };
    expect(() => notificationOf(messageOf(subscriptionEvent('subscription.charged', data)))).not.toThrow();
  });
});
