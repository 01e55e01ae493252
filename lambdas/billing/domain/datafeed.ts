import type { ChargeRecord } from './charges/charge';

/**
 * The subscription datafeed (docs/api.md `GET /v1/datafeeds/subscriptions/{runId}`): one XML document per store
 * per run, built from the run's charges once the run has completed. Written by hand rather than with an XML
 * library: the format is two fixed elements with attributes, and escaping the five XML specials (plus refusing
 * the characters XML 1.0 cannot carry) is all that well-formedness needs here.
 */

export const DATAFEED_CONTENT_TYPE = 'application/xml';

/** The store's datafeed for a run, subscriptions and their charges in a stable order. */
export function buildDatafeed(input: {
  readonly runId: string;
  readonly storeId: string;
  readonly generatedAt: string;
  readonly charges: readonly ChargeRecord[];
}): string {
  const bySubscription = new Map<string, ChargeRecord[]>();
  for (const charge of input.charges) {
    if (charge.storeId !== input.storeId) continue;
    const list = bySubscription.get(charge.subscriptionId) ?? [];
    list.push(charge);
    bySubscription.set(charge.subscriptionId, list);
  }
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<subscription_datafeed run_id="${attr(input.runId)}" store_id="${attr(input.storeId)}" generated_at="${attr(input.generatedAt)}" subscriptions="${bySubscription.size}">`,
  ];
  for (const id of [...bySubscription.keys()].sort()) {
    const charges = (bySubscription.get(id) ?? []).sort(
      (a, b) => a.period.localeCompare(b.period) || a.attempt - b.attempt,
    );
    lines.push(`  <subscription id="${attr(id)}">`);
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
    lines.push('  </subscription>');
  }
  lines.push('</subscription_datafeed>', '');
  return lines.join('\n');
}

// Characters XML 1.0 does not allow at all (not even escaped): dropped rather than making the document invalid.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters to remove.
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

function attr(value: string): string {
  return value
    .replace(NOT_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}
