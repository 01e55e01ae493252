import type { Bundle, Trigger, ZObject } from 'zapier-platform-core';
import { apiUrl } from './api';
import { paymentFailed, subscriptionCanceled, subscriptionCharged, transactionCreated } from './samples';

/**
 * REST-hook triggers (docs/api.md section 3, "the REST-hooks unsubscribe"): turning a Zap on registers Zapier's
 * hook URL as a webhook endpoint of the store for one event type, turning it off deletes that endpoint, and each
 * delivery's body (the event) is what the Zap receives.
 */

/** The webhook body (docs/api.md section 4). */
export type PipelineEvent = {
  readonly id: string;
  readonly type: string;
  readonly createdAt: string;
  readonly storeId: string;
  readonly data: unknown;
};

/** What `POST /v1/webhooks` answers, kept by Zapier as `bundle.subscribeData` until the Zap is turned off. */
export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly status: string;
  readonly secret?: string;
  readonly createdAt: string;
}

/** How many events a sample pull reads when Zapier does not say (`bundle.meta.limit`); the API takes 1–100. */
const DEFAULT_SAMPLE_LIMIT = 10;
const MAX_LIMIT = 100;

/** Creates the store's endpoint for Zapier's hook URL, subscribed to `eventType` only. */
export function subscribeTo(eventType: string, label: string) {
  return async (z: ZObject, bundle: Bundle): Promise<WebhookEndpoint> => {
    if (!bundle.targetUrl) throw new Error('Zapier gave no hook URL (bundle.targetUrl) to subscribe');
    const response = await z.request({
      url: apiUrl(bundle, '/v1/webhooks'),
      method: 'POST',
      body: { url: bundle.targetUrl, events: [eventType], description: `Zapier: ${label}` },
    });
    return response.data as WebhookEndpoint;
  };
}

/**
 * Deletes the endpoint the subscription created. An endpoint already gone (deleted by hand in the meantime) is
 * what unsubscribing wants, so its 404 is not an error: otherwise the Zap could not be turned off.
 */
export async function unsubscribe(z: ZObject, bundle: Bundle): Promise<{ id: string; deleted: boolean }> {
  const id = (bundle.subscribeData as { id?: unknown } | undefined)?.id;
  if (typeof id !== 'string' || !id) throw new Error('The subscription has no endpoint id to delete');
  const response = await z.request({
    url: apiUrl(bundle, `/v1/webhooks/${encodeURIComponent(id)}`),
    method: 'DELETE',
    skipThrowForStatus: true,
  });
  if (response.status === 404) return { id, deleted: false };
  response.throwForStatus();
  return { id, deleted: true };
}

/** A delivery: its body is the event, and its `id` (the event id) is what Zapier deduplicates on. */
export function receive(_z: ZObject, bundle: Bundle): PipelineEvent[] {
  return [bundle.cleanedRequest as PipelineEvent];
}

/** Recent events of the type, newest first, for the Zap editor's samples: `GET /v1/events?order=desc&type=…`. */
export function listRecent(eventType: string) {
  return async (z: ZObject, bundle: Bundle): Promise<PipelineEvent[]> => {
    const asked = bundle.meta?.limit;
    const limit = typeof asked === 'number' && asked > 0 ? Math.min(asked, MAX_LIMIT) : DEFAULT_SAMPLE_LIMIT;
    const response = await z.request({
      url: apiUrl(bundle, '/v1/events'),
      method: 'GET',
      params: { order: 'desc', type: eventType, limit: String(limit) },
    });
    return (response.data as { data: PipelineEvent[] }).data;
  };
}

/** Fields every event has, labelled for the Zap editor (the rest are shown by their paths). */
const eventFields = [
  { key: 'id', label: 'Event ID' },
  { key: 'type', label: 'Event Type' },
  { key: 'createdAt', label: 'Created At', type: 'datetime' as const },
  { key: 'storeId', label: 'Store ID' },
];

const subscriptionFields = [
  { key: 'data__subscription__id', label: 'Subscription ID' },
  { key: 'data__subscription__status', label: 'Subscription Status' },
  { key: 'data__subscription__customer__id', label: 'Customer ID' },
  { key: 'data__subscription__customer__email', label: 'Customer Email' },
  { key: 'data__subscription__plan', label: 'Plan' },
  { key: 'data__subscription__amount', label: 'Amount (minor units)', type: 'integer' as const },
  { key: 'data__subscription__currency', label: 'Currency' },
];

const chargeFields = [
  { key: 'data__charge__period', label: 'Charge Period' },
  { key: 'data__charge__attempt', label: 'Charge Attempt', type: 'integer' as const },
  { key: 'data__charge__amount', label: 'Charge Amount (minor units)', type: 'integer' as const },
  { key: 'data__charge__currency', label: 'Charge Currency' },
  { key: 'data__charge__at', label: 'Charged At', type: 'datetime' as const },
];

interface TriggerSpec {
  readonly key: string;
  readonly eventType: string;
  readonly noun: string;
  readonly label: string;
  readonly description: string;
  readonly sample: PipelineEvent;
  readonly outputFields: readonly { key: string; label: string; type?: 'datetime' | 'integer' }[];
}

function restHookTrigger(spec: TriggerSpec): Trigger {
  return {
    key: spec.key,
    noun: spec.noun,
    display: { label: spec.label, description: spec.description },
    operation: {
      type: 'hook',
      performSubscribe: subscribeTo(spec.eventType, spec.label),
      performUnsubscribe: unsubscribe,
      perform: receive,
      performList: listRecent(spec.eventType),
      sample: spec.sample,
      outputFields: [...spec.outputFields],
    },
  };
}

export const TRIGGER_SPECS: readonly TriggerSpec[] = [
  {
    key: 'new_transaction',
    eventType: 'transaction.created',
    noun: 'Transaction',
    label: 'New Transaction',
    description: 'Triggers when a storefront posts a new transaction (order) to the pipeline.',
    sample: transactionCreated,
    outputFields: [
      ...eventFields,
      { key: 'data__id', label: 'Transaction ID' },
      { key: 'data__customer__id', label: 'Customer ID' },
      { key: 'data__customer__email', label: 'Customer Email' },
      { key: 'data__currency', label: 'Currency' },
      { key: 'data__total', label: 'Total (minor units)', type: 'integer' },
      { key: 'data__createdAt', label: 'Transaction Created At', type: 'datetime' },
    ],
  },
  {
    key: 'subscription_charged',
    eventType: 'subscription.charged',
    noun: 'Charge',
    label: 'Subscription Charged',
    description: "Triggers when a subscription's recurring charge succeeds (a receipt).",
    sample: subscriptionCharged,
    outputFields: [
      ...eventFields,
      ...subscriptionFields,
      ...chargeFields,
      { key: 'data__charge__paymentIntentId', label: 'Payment Intent ID' },
    ],
  },
  {
    key: 'payment_failed',
    eventType: 'subscription.payment_failed',
    noun: 'Failed Payment',
    label: 'Subscription Payment Failed',
    description: "Triggers when a subscription's charge is declined (each dunning attempt).",
    sample: paymentFailed,
    outputFields: [
      ...eventFields,
      ...subscriptionFields,
      ...chargeFields,
      { key: 'data__charge__declineCode', label: 'Decline Code' },
      { key: 'data__charge__message', label: 'Decline Message' },
      { key: 'data__dunning__nextRetryAt', label: 'Next Retry At', type: 'datetime' },
    ],
  },
  {
    key: 'subscription_canceled',
    eventType: 'subscription.canceled',
    noun: 'Subscription',
    label: 'Subscription Canceled',
    description:
      'Triggers when a subscription is canceled: on request, after failed payments, or at its end.',
    sample: subscriptionCanceled,
    outputFields: [
      ...eventFields,
      ...subscriptionFields,
      { key: 'data__reason', label: 'Cancel Reason' },
      { key: 'data__canceledAt', label: 'Canceled At', type: 'datetime' },
    ],
  },
];

export const triggers: Record<string, Trigger> = Object.fromEntries(
  TRIGGER_SPECS.map((spec) => [spec.key, restHookTrigger(spec)]),
);
