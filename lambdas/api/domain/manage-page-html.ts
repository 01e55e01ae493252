import { createHash } from 'node:crypto';
import type { ChargeRecord } from '../../billing/domain/charges/charge';
import { MANAGE_PAGE_PATH } from '../../billing/domain/manage-link';
import { type Subscription, subscriptionView } from '../../billing/domain/subscription';
import { EMAIL_LOCALE, formatMoney } from '../../notifications/domain/money';
import { escapeHtml } from '../../notifications/domain/render-email';

/**
 * The customer's manage page (docs/api.md section 3, `GET <manage link>`), as HTML that needs no JavaScript: the
 * subscription, its last charges, and two forms (a new payment method, cancel) that post the token in their body.
 * Every value is escaped (plan names are merchants' text); the answers forbid scripts, frames, outside requests and
 * caching (MANAGE_PAGE_HEADERS).
 */

/** Where the forms post: beside the page, one path segment deeper, so no token can be mistaken for an action. */
export const MANAGE_ACTION_PATHS = {
  paymentMethod: `${MANAGE_PAGE_PATH}/actions/payment-method`,
  cancel: `${MANAGE_PAGE_PATH}/actions/cancel`,
} as const;

/** The only style: allowed by its hash, so the policy needs neither 'unsafe-inline' nor a stylesheet request. */
const STYLE = [
  'body{font-family:system-ui,sans-serif;line-height:1.5;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}',
  'table{border-collapse:collapse;margin:1rem 0}th,td{text-align:left;padding:.25rem .75rem .25rem 0}',
  'form{margin:1.5rem 0;padding:1rem;border:1px solid #ccc;border-radius:.5rem}',
  'input[type=text]{width:100%;max-width:24rem;padding:.25rem}button{margin-top:.5rem;padding:.4rem .9rem}',
  '.notice{padding:.75rem;border-radius:.5rem;background:#eef6ee}.error{background:#fbeaea}',
].join('');

const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/**
 * The headers of every answer under /manage: no script, no request to anywhere (the style is inline, allowed by
 * its hash), forms post only here, never framed, no base; no sniffing, no referrer (the URL holds the token), no
 * caching (the page shows a customer's data), and never a cookie.
 */
export const MANAGE_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};

/** A message above the page: what a form did, or why it did nothing. */
export interface PageNotice {
  readonly kind: 'done' | 'error';
  readonly text: string;
}

/** What the forms answer with, above the page. */
export const managePageNotice = {
  canceled: { kind: 'done', text: 'Your subscription is canceled. You will not be charged again.' },
  paymentMethodUpdated: { kind: 'done', text: 'Your payment method was updated.' },
  paymentMethodUnchanged: {
    kind: 'done',
    text: 'This payment method is already the one on file: nothing changed.',
  },
  invalidPaymentMethod: (message: string): PageNotice => ({
    kind: 'error',
    text: `The payment method ${message}. Nothing changed.`,
  }),
  conflict: (subscription: Pick<Subscription, 'status'>): PageNotice => ({
    kind: 'error',
    text:
      subscription.status === 'canceled'
        ? 'This subscription is canceled: its payment method cannot be changed.'
        : 'The payment method cannot be changed now. Nothing changed.',
  }),
} as const satisfies Record<string, PageNotice | ((...args: never[]) => PageNotice)>;

const STATUS_LABELS: Readonly<Record<string, string>> = {
  active: 'Active',
  paused: 'Paused',
  past_due: 'Past due: the last payment failed',
  canceled: 'Canceled',
  unpaid: 'Unpaid',
};

/** How many billing periods the page lists, newest first. */
const CHARGES_SHOWN = 6;

/** The page of one subscription. `token` goes into the forms' bodies only (escaped), never into a URL. */
export function manageSubscriptionPage(input: {
  readonly subscription: Subscription;
  readonly charges: readonly ChargeRecord[];
  readonly token: string;
  readonly notice?: PageNotice;
}): string {
  const { subscription, token, notice } = input;
  const view = subscriptionView(subscription);
  const ended = subscription.status === 'canceled';
  const details: [string, string][] = [
    ['Plan', subscription.plan],
    ['Amount', `${formatMoney(subscription.amount, subscription.currency)} ${billingInterval(subscription)}`],
    ['Status', STATUS_LABELS[subscription.status] ?? subscription.status],
    ['Next charge', view.nextChargeAt ? formatDate(view.nextChargeAt) : 'None'],
  ];
  if (subscription.dunning && subscription.status === 'past_due') {
    details.push([
      'Payment',
      subscription.dunning.waitingForPaymentMethod
        ? 'Your card was declined and will not be tried again: please give a new payment method.'
        : `We will try again on ${formatDate(subscription.dunning.nextRetryAt)}.`,
    ]);
  }
  const body = [
    '<h1>Your subscription</h1>',
    notice
      ? `<p class="notice${notice.kind === 'error' ? ' error' : ''}" role="status">${escapeHtml(notice.text)}</p>`
      : '',
    `<table id="subscription">${details.map(([label, value]) => row(label, value)).join('')}</table>`,
    '<h2>Last charges</h2>',
    chargesTable(input.charges),
    ended ? '<p>This subscription is canceled: it will not be charged again.</p>' : forms(token),
  ];
  return page('Your subscription', body.join('\n'));
}

/** The one page for a tampered, expired or unknown link: it says nothing about which, nor about any subscription. */
export function manageNotFoundPage(): string {
  return page(
    'Link not valid',
    '<h1>This link is not valid</h1>\n<p>It may have expired. Ask the shop for a new link to manage your subscription.</p>',
  );
}

/** A short page for a request the forms never make (wrong method, bad body). */
export function manageErrorPage(title: string, text: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(text)}</p>`);
}

function forms(token: string): string {
  const hidden = `<input type="hidden" name="token" value="${escapeHtml(token)}">`;
  return [
    `<form method="post" action="${MANAGE_ACTION_PATHS.paymentMethod}" id="payment-method-form">`,
    '<h2>Update your payment method</h2>',
    hidden,
    '<label for="paymentMethod">New payment method</label><br>',
    '<input type="text" id="paymentMethod" name="paymentMethod" required maxlength="255" autocomplete="off"><br>',
    '<button type="submit">Update payment method</button>',
    '</form>',
    `<form method="post" action="${MANAGE_ACTION_PATHS.cancel}" id="cancel-form">`,
    '<h2>Cancel your subscription</h2>',
    hidden,
    '<p>You will not be charged again.</p>',
    '<button type="submit">Cancel subscription</button>',
    '</form>',
  ].join('\n');
}

function chargesTable(charges: readonly ChargeRecord[]): string {
  const latestByPeriod = new Map<string, ChargeRecord>();
  for (const charge of charges) {
    const current = latestByPeriod.get(charge.period);
    if (!current || charge.attempt > current.attempt) latestByPeriod.set(charge.period, charge);
  }
  const shown = [...latestByPeriod.values()]
    .sort((a, b) => b.period.localeCompare(a.period))
    .slice(0, CHARGES_SHOWN);
  if (shown.length === 0) return '<p id="charges">No charges yet.</p>';
  const rows = shown.map(
    (charge) =>
      `<tr><td>${escapeHtml(formatDate(charge.period))}</td><td>${escapeHtml(formatMoney(charge.amount, charge.currency))}</td><td>${escapeHtml(charge.status)}</td></tr>`,
  );
  return `<table id="charges"><tr><th>Period</th><th>Amount</th><th>Status</th></tr>${rows.join('')}</table>`;
}

function row(label: string, value: string): string {
  return `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`;
}

function page(title: string, body: string): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head><body>',
    body,
    '</body></html>',
    '',
  ].join('\n');
}

function billingInterval({ interval, intervalCount }: Subscription): string {
  return intervalCount === 1 ? `every ${interval}` : `every ${intervalCount} ${interval}s`;
}

const dateFormat = new Intl.DateTimeFormat(EMAIL_LOCALE, { dateStyle: 'long', timeZone: 'UTC' });

function formatDate(value: string): string {
  const time = Date.parse(value);
  return Number.isNaN(time) ? value : dateFormat.format(time);
}
