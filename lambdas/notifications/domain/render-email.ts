import type { SubscriptionSummary } from '../../billing/domain/subscription-events';
import { EMAIL_LOCALE, formatMoney } from './money';
import type { Notification } from './notification';

/**
 * The emails of docs/api.md section 6, written from a notification alone: a receipt (`subscription.charged`), a
 * payment-failed notice (`subscription.payment_failed`, one per dunning step) and a cancellation notice
 * (`subscription.canceled`). Plain text and a simple HTML alternative carry the same content.
 */

export type NotificationKind = 'receipt' | 'payment-failed' | 'cancellation';

const NOTIFICATION_KINDS: Readonly<Record<Notification['type'], NotificationKind>> = {
  'subscription.charged': 'receipt',
  'subscription.payment_failed': 'payment-failed',
  'subscription.canceled': 'cancellation',
};

/** Names the event in every email, beside the Message-ID: SES replaces a Message-ID with its own, not this. */
export const EVENT_ID_HEADER = 'X-Pipeline-Event-Id';

export interface Email {
  readonly to: string;
  readonly from: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** `<…>`, a function of the event id (see notificationMessageId). */
  readonly messageId: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The Message-ID of the email about an event: the same every time it is written, so that a duplicate (a send
 * whose success was not recorded, then repeated) carries the first one's id and mail systems recognise it.
 * The right-hand side is the sender's domain, which makes it globally unique as RFC 5322 asks.
 */
export function notificationMessageId(eventId: string, kind: NotificationKind, from: string): string {
  const domain = /@([^@\s>]+)>?\s*$/.exec(from)?.[1] ?? 'commerce-pipeline.invalid';
  return `<${eventId}.${kind}@${domain}>`;
}

/** What an email says; written out once as text and once as HTML. */
interface Content {
  readonly subject: string;
  readonly paragraphs: readonly string[];
  /** A link after the paragraphs: its sentence, then the URL (as text, and as the HTML link's target). */
  readonly link?: { readonly text: string; readonly url: string };
  readonly details: readonly (readonly [label: string, value: string])[];
  readonly closing: string;
}

export interface RenderOptions {
  /** EMAIL_FROM. */
  readonly from: string;
  /**
   * The customer's manage link (docs/api.md section 3), signed for this email's subscription: receipts and
   * payment-failed notices carry it (docs/api.md section 6). @default - none: the email says nothing of it
   */
  readonly manageUrl?: string;
}

export function renderEmail(notification: Notification, options: RenderOptions): Email {
  const kind = NOTIFICATION_KINDS[notification.type];
  const content = contentOf(notification, options.manageUrl);
  return {
    to: notification.data.subscription.customer.email,
    from: options.from,
    subject: oneLine(content.subject),
    text: textOf(content),
    html: htmlOf(content),
    messageId: notificationMessageId(notification.eventId, kind, options.from),
    headers: {
      [EVENT_ID_HEADER]: notification.eventId,
      // RFC 3834: a machine-sent message, so out-of-office responders do not answer it.
      'Auto-Submitted': 'auto-generated',
    },
  };
}

function contentOf(notification: Notification, manageUrl: string | undefined): Content {
  switch (notification.type) {
    case 'subscription.charged': {
      const { subscription, charge } = notification.data;
      const amount = formatMoney(charge.amount, charge.currency);
      return {
        subject: `Receipt for your ${subscription.plan} subscription: ${amount}`,
        paragraphs: [
          'Thank you for your payment.',
          `We charged ${amount} for your ${subscription.plan} subscription, billed ${billingInterval(subscription)}.`,
        ],
        details: [
          ['Subscription', subscription.id],
          ['Period', formatDate(charge.period)],
          ['Paid on', formatDate(charge.at)],
          ['Payment reference', charge.paymentIntentId],
          ...nextCharge(subscription),
        ],
        ...(manageUrl
          ? { link: { text: 'Manage your subscription (payment method, cancel):', url: manageUrl } }
          : {}),
        closing: 'Keep this email as your receipt.',
      };
    }
    case 'subscription.payment_failed': {
      const { subscription, charge, dunning, finalAction } = notification.data;
      const amount = formatMoney(charge.amount, charge.currency);
      // Three cases: a hard decline (this card is not tried again: only a new payment method helps), a soft one
      // (tried again on a date), or the last step (the final action was applied).
      const waiting = dunning?.waitingForPaymentMethod === true;
      let next: string;
      let link: string;
      if (dunning && waiting) {
        next = `This payment method will not be tried again. Please update your payment method before ${formatDate(dunning.nextRetryAt)} to keep your subscription.`;
        link = 'Update your payment method:';
      } else if (dunning) {
        next = `We will try again on ${formatDate(dunning.nextRetryAt)}. Please make sure your payment method is up to date.`;
        link = 'Update your payment method or manage your subscription:';
      } else {
        next = finalNotice(finalAction);
        link = 'See your subscription:';
      }
      return {
        subject: waiting
          ? `Action needed: update your payment method for your ${subscription.plan} subscription`
          : `Payment failed for your ${subscription.plan} subscription`,
        paragraphs: [
          `We could not charge ${amount} for your ${subscription.plan} subscription.`,
          ...(charge.message ? [`Reason: ${charge.message}`] : []),
          next,
        ],
        ...(manageUrl ? { link: { text: link, url: manageUrl } } : {}),
        details: [
          ['Subscription', subscription.id],
          ['Period', formatDate(charge.period)],
          ['Attempted on', formatDate(charge.at)],
          ...(dunning && !waiting ? [['Next attempt', formatDate(dunning.nextRetryAt)] as const] : []),
          ...(dunning && waiting ? [['Update before', formatDate(dunning.nextRetryAt)] as const] : []),
        ],
        closing: waiting
          ? 'Until a new payment method is given, no payment is attempted.'
          : 'If you have already updated your payment method, no action is needed.',
      };
    }
    case 'subscription.canceled': {
      const { subscription, reason, canceledAt } = notification.data;
      const on = formatDate(canceledAt);
      const why = {
        requested: `Your ${subscription.plan} subscription was canceled on ${on}, as requested.`,
        ended: `Your ${subscription.plan} subscription ended on ${on}, as it was set to.`,
        payment_failed: `Your ${subscription.plan} subscription was canceled on ${on} because we could not collect its payment.`,
      }[reason];
      return {
        subject:
          reason === 'ended'
            ? `Your ${subscription.plan} subscription has ended`
            : `Your ${subscription.plan} subscription has been canceled`,
        paragraphs: [why, 'You will not be charged for it again.'],
        details: [
          ['Subscription', subscription.id],
          ['Canceled on', on],
        ],
        closing: 'Thank you for having been a subscriber.',
      };
    }
  }
}

function finalNotice(finalAction: 'cancel' | 'unpaid' | undefined): string {
  if (finalAction === 'cancel') return 'This was our last attempt, so your subscription has been canceled.';
  if (finalAction === 'unpaid') {
    return 'This was our last attempt: your subscription is unpaid until the amount is settled.';
  }
  return 'This was our last attempt to collect this payment.';
}

function nextCharge(subscription: SubscriptionSummary): (readonly [string, string])[] {
  if (subscription.status !== 'active' || !subscription.nextChargeAt) return [];
  return [['Next charge', formatDate(subscription.nextChargeAt)]];
}

function billingInterval({ interval, intervalCount }: SubscriptionSummary): string {
  return intervalCount === 1 ? `every ${interval}` : `every ${intervalCount} ${interval}s`;
}

const dateFormat = new Intl.DateTimeFormat(EMAIL_LOCALE, { dateStyle: 'long', timeZone: 'UTC' });

/** An ISO time or a YYYY-MM-DD date as a UTC calendar date ("June 1, 2024"); text that is neither, as it is. */
function formatDate(value: string): string {
  const time = Date.parse(value);
  return Number.isNaN(time) ? value : dateFormat.format(time);
}

/**
 * Header values are one line: a line break in a plan name must not reach the Subject header as one. (Only breaks
 * and tabs: the no-break space Intl puts in "KWD 1.500" stays.)
 */
function oneLine(text: string): string {
  return text.replace(/[\r\n\t\f\v\u2028\u2029]+/g, ' ').trim();
}

function textOf(content: Content): string {
  const width = Math.max(...content.details.map(([label]) => label.length)) + 2;
  const details = content.details.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`);
  const link = content.link ? [`${content.link.text}\n${content.link.url}`] : [];
  return `${[...content.paragraphs, ...link, details.join('\n'), content.closing].join('\n\n')}\n`;
}

function htmlOf(content: Content): string {
  const rows = content.details
    .map(
      ([label, value]) => `<tr><th align="left">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`,
    )
    .join('\n');
  return [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(oneLine(content.subject))}</title></head>`,
    '<body style="font-family: sans-serif; line-height: 1.5">',
    ...content.paragraphs.map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`),
    ...(content.link
      ? [
          `<p>${escapeHtml(content.link.text)} <a href="${escapeHtml(content.link.url)}">${escapeHtml(content.link.url)}</a></p>`,
        ]
      : []),
    `<table cellpadding="4">\n${rows}\n</table>`,
    `<p>${escapeHtml(content.closing)}</p>`,
    '</body></html>',
    '',
  ].join('\n');
}

/** Plan names, decline messages and ids come from merchants and gateways: never markup. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
