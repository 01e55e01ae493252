import type { ChargeRecord } from './charges/charge';
import { cancelReasonView, type Subscription, upcomingChargeAt } from './subscription';

/**
 * The subscription datafeed (docs/api.md `GET /v1/datafeeds/subscriptions/{runId}`): one XML document per store
 * per run, written once the run has completed, as complete as FoxyCart's subscription datafeed so that a
 * merchant's script needs no second call:
 *
 * - each subscription charged or failed in the run, with its state after the run (status, customer, plan, amount,
 *   next charge), its charges of the run, a `<past_due>` block while it is past due, and its `<manage_url>`;
 * - `<canceled_today>`: the store's subscriptions canceled during the run's UTC day (up to `generated_at`);
 * - `<ending_soon>`: those whose `endAt` falls in the 7 UTC days after the run's day.
 *
 * Written by hand rather than with an XML library: the format is a few fixed elements with attributes and one
 * text element, and escaping the five XML specials (plus dropping the characters XML 1.0 cannot carry) is all
 * that well-formedness needs here. Every value goes through `attr` or `text`, plan names and emails included.
 */

export const DATAFEED_CONTENT_TYPE = 'application/xml';

/** How far ahead `<ending_soon>` looks: the 7 UTC days after the run's day. */
export const ENDING_SOON_DAYS = 7;

const DAY_MS = 86_400_000;

/** What the datafeed shows of a subscription: the fields of the subscriptions table's item it reads. */
export type DatafeedSubscription = Pick<
  Subscription,
  | 'storeId'
  | 'subscriptionId'
  | 'status'
  | 'customer'
  | 'plan'
  | 'amount'
  | 'currency'
  | 'nextChargeAt'
  | 'dueShard'
  | 'dunning'
  | 'canceledAt'
  | 'cancelReason'
  | 'endAt'
  // What `upcomingChargeAt` needs to say when it is next charged, as the API does.
  | 'pause'
  | 'anchor'
  | 'interval'
  | 'intervalCount'
  | 'cycle'
>;

/** The attributes `DatafeedSubscription` names, for an adapter's projection. */
export const DATAFEED_SUBSCRIPTION_FIELDS = [
  'storeId',
  'subscriptionId',
  'status',
  'customer',
  'plan',
  'amount',
  'currency',
  'nextChargeAt',
  'dueShard',
  'dunning',
  'canceledAt',
  'cancelReason',
  'endAt',
  'pause',
  'anchor',
  'interval',
  'intervalCount',
  'cycle',
] as const satisfies readonly (keyof DatafeedSubscription)[];

/** The time windows of a run's datafeed, ISO times, each from inclusive to exclusive. */
export interface DatafeedWindows {
  /** The run's UTC day: `<canceled_today>` lists the cancellations in it. */
  readonly canceled: { readonly from: string; readonly to: string };
  /** The 7 UTC days after it: `<ending_soon>` lists the `endAt`s in them. */
  readonly ending: { readonly from: string; readonly to: string };
}

/** The windows of the run `runId` (its UTC date, `YYYY-MM-DD`). */
export function datafeedWindows(runId: string): DatafeedWindows {
  const day = Date.parse(`${runId}T00:00:00.000Z`);
  if (Number.isNaN(day)) throw new RangeError(`datafeedWindows: "${runId}" is not a run id (YYYY-MM-DD)`);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    canceled: { from: iso(day), to: iso(day + DAY_MS) },
    ending: { from: iso(day + DAY_MS), to: iso(day + (1 + ENDING_SOON_DAYS) * DAY_MS) },
  };
}

/** Port: the subscriptions a store's datafeed shows (the subscriptions table). */
export interface DatafeedSubscriptions {
  /** The subscriptions with these keys, as they stand now; keys without an item are left out. */
  getMany(
    keys: readonly { readonly storeId: string; readonly subscriptionId: string }[],
  ): Promise<DatafeedSubscription[]>;
  /**
   * The store's subscriptions canceled within `windows.canceled`, or whose `endAt` falls within `windows.ending`.
   * May return more (the builder keeps exactly the ones in the windows), never fewer.
   */
  ofWindows(storeId: string, windows: DatafeedWindows): Promise<DatafeedSubscription[]>;
}

export interface DatafeedInput {
  readonly runId: string;
  readonly storeId: string;
  readonly generatedAt: string;
  /** The run's charges (other stores' are ignored). */
  readonly charges: readonly ChargeRecord[];
  /**
   * The subscriptions of these charges, and the store's others that `DatafeedSubscriptions.ofWindows` found. A
   * charged subscription missing here is written with its id and charges only.
   */
  readonly subscriptions?: readonly DatafeedSubscription[];
  /** The customer's manage link of a subscription; absent: no `<manage_url>`. */
  readonly manageUrlOf?: (storeId: string, subscriptionId: string) => string;
}

/** The store's datafeed for a run, subscriptions and their charges in a stable order. */
export function buildDatafeed(input: DatafeedInput): string {
  const { storeId } = input;
  const bySubscription = new Map<string, ChargeRecord[]>();
  for (const charge of input.charges) {
    if (charge.storeId !== storeId) continue;
    const list = bySubscription.get(charge.subscriptionId) ?? [];
    list.push(charge);
    bySubscription.set(charge.subscriptionId, list);
  }
  const known = new Map<string, DatafeedSubscription>();
  for (const subscription of input.subscriptions ?? []) {
    if (subscription.storeId === storeId) known.set(subscription.subscriptionId, subscription);
  }
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<subscription_datafeed run_id="${attr(input.runId)}" store_id="${attr(storeId)}" generated_at="${attr(input.generatedAt)}" subscriptions="${bySubscription.size}">`,
  ];
  for (const id of [...bySubscription.keys()].sort()) {
    const subscription = known.get(id);
    const charges = (bySubscription.get(id) ?? []).sort(
      (a, b) => a.period.localeCompare(b.period) || a.attempt - b.attempt,
    );
    lines.push(
      subscription
        ? `  <subscription ${subscriptionAttributes(subscription)}>`
        : `  <subscription id="${attr(id)}">`,
    );
    for (const charge of charges) {
      const extra = [
        `attempt="${charge.attempt}"`,
        ...(charge.paymentIntentId ? [`payment_intent="${attr(charge.paymentIntentId)}"`] : []),
        ...(charge.declineCode ? [`decline_code="${attr(charge.declineCode)}"`] : []),
        ...(charge.resolvedAt ? [`at="${attr(charge.resolvedAt)}"`] : []),
      ];
      lines.push(
        `    <charge period="${attr(charge.period)}" status="${attr(charge.status)}" amount="${charge.amount}" currency="${attr(charge.currency)}" ${extra.join(' ')}/>`,
      );
    }
    const pastDue = subscription ? pastDueElement(subscription) : undefined;
    if (pastDue) lines.push(`    ${pastDue}`);
    if (input.manageUrlOf) {
      lines.push(`    <manage_url>${text(input.manageUrlOf(storeId, id))}</manage_url>`);
    }
    lines.push('  </subscription>');
  }

  const windows = datafeedWindows(input.runId);
  const inWindow = (at: string | undefined, window: { from: string; to: string }) => {
    const ms = at === undefined ? Number.NaN : Date.parse(at);
    return ms >= Date.parse(window.from) && ms < Date.parse(window.to);
  };
  const others = [...known.values()].sort((a, b) => a.subscriptionId.localeCompare(b.subscriptionId));
  const canceled = others.filter(
    (subscription) =>
      subscription.status === 'canceled' && inWindow(subscription.canceledAt, windows.canceled),
  );
  const ending = others.filter(
    (subscription) => subscription.status !== 'canceled' && inWindow(subscription.endAt, windows.ending),
  );
  lines.push(
    ...group('canceled_today', windows.canceled, canceled, (subscription) => [
      ...(subscription.canceledAt ? [`canceled_at="${attr(subscription.canceledAt)}"`] : []),
      ...(subscription.cancelReason ? [`reason="${attr(cancelReasonView(subscription.cancelReason))}"`] : []),
    ]),
    ...group('ending_soon', windows.ending, ending, (subscription) => [
      `end_at="${attr(subscription.endAt ?? '')}"`,
    ]),
  );
  lines.push('</subscription_datafeed>', '');
  return lines.join('\n');
}

/** `<name from to count>` listing `subscriptions`, each with its own attributes and `extra`. */
function group(
  name: string,
  window: { readonly from: string; readonly to: string },
  subscriptions: readonly DatafeedSubscription[],
  extra: (subscription: DatafeedSubscription) => string[],
): string[] {
  const open = `  <${name} from="${attr(window.from)}" to="${attr(window.to)}" count="${subscriptions.length}"`;
  if (subscriptions.length === 0) return [`${open}/>`];
  return [
    `${open}>`,
    ...subscriptions.map(
      (subscription) =>
        `    <subscription ${[subscriptionAttributes(subscription), ...extra(subscription)].join(' ')}/>`,
    ),
    `  </${name}>`,
  ];
}

/** The attributes of a `<subscription>`: its state as the API shows it. */
function subscriptionAttributes(subscription: DatafeedSubscription): string {
  return [
    `id="${attr(subscription.subscriptionId)}"`,
    `status="${attr(subscription.status)}"`,
    `customer_id="${attr(subscription.customer.id)}"`,
    `customer_email="${attr(subscription.customer.email)}"`,
    `plan="${attr(subscription.plan)}"`,
    `amount="${integer(subscription.amount)}"`,
    `currency="${attr(subscription.currency)}"`,
    // As the API shows it: none once it is charged no more (ended, paused without resumesAt, past its endAt).
    ...optionalAttr('next_charge_at', upcomingChargeAt(subscription)),
  ].join(' ');
}

/** `<past_due …/>` while the subscription is past due: what is owed, since when, and the next retry. */
function pastDueElement(subscription: DatafeedSubscription): string | undefined {
  const { dunning } = subscription;
  if (subscription.status !== 'past_due' || !dunning) return undefined;
  const attributes = [
    `amount="${integer(subscription.amount)}"`,
    ...(dunning.since ? [`since="${attr(dunning.since)}"`] : []),
    `attempt="${integer(dunning.attempt)}"`,
    `next_retry_at="${attr(dunning.nextRetryAt)}"`,
    ...(dunning.declineCode ? [`decline_code="${attr(dunning.declineCode)}"`] : []),
    ...(dunning.waitingForPaymentMethod ? ['waiting_for_payment_method="true"'] : []),
  ];
  return `<past_due ${attributes.join(' ')}/>`;
}

/** A number as an attribute: integers only (amounts and attempts), anything else escaped as text. */
function integer(value: number): string {
  return Number.isSafeInteger(value) ? String(value) : attr(String(value));
}

// Characters XML 1.0 does not allow at all (not even escaped): dropped rather than making the document invalid.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters to remove.
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;
/** A UTF-16 surrogate without its pair: no character at all, so UTF-8 cannot carry it either. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function attr(value: string): string {
  return String(value)
    .replace(NOT_XML, '')
    .replace(LONE_SURROGATE, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

/** Element text: escaped as an attribute value is (which is stricter than text needs). */
function text(value: string): string {
  return attr(value);
}

function optionalAttr(name: string, value: string | null): string[] {
  return value === null ? [] : [`${name}="${attr(value)}"`];
}
