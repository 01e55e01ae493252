import * as z from 'zod';
import { INTERVALS } from '../../billing/domain/schedule';
import type { EventType } from '../../events/domain/events';
import type { Answer, Json, SchemaCollector } from './builder';
import { out } from './builder';
import { EXAMPLE_TIME } from './responses';

/**
 * The webhook payloads (docs/api.md section 4): the envelope `{id, type, createdAt, storeId, data}` and each type's
 * `data`, as the code that emits them builds it (webhooks/domain/fanout.ts for `transaction.created`,
 * billing/domain/subscription-events.ts and outbox-effects.ts for the subscription events, runs/finish.ts for
 * `datafeed.ready`, webhooks/domain/disabled-notice.ts, and the test route). `GET /v1/events` answers the same
 * envelopes, so the same schemas describe both.
 */

const time = () => z.iso.datetime({ offset: true });
const period = () => z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

export const transactionSchema = z.strictObject({
  id: z.string(),
  customer: z.strictObject({ id: z.string().optional(), email: z.string() }),
  currency: z.string().regex(/^[A-Z]{3}$/),
  total: z.int().min(0),
  items: z.array(
    z.strictObject({
      sku: z.string(),
      name: z.string(),
      quantity: z.int().min(1),
      unitPrice: z.int().min(0),
    }),
  ),
  createdAt: time().meta({ description: "The storefront's `createdAt`, or when the pipeline accepted it." }),
  metadata: z.record(z.string(), z.string()).optional(),
});

export const subscriptionSummarySchema = z
  .strictObject({
    id: z.string(),
    customer: z.strictObject({ id: z.string(), email: z.string() }),
    plan: z.string(),
    amount: z.int(),
    currency: z.string().regex(/^[A-Z]{3}$/),
    interval: z.enum(INTERVALS),
    intervalCount: z.int().min(1),
    status: z.enum(['active', 'paused', 'past_due', 'canceled', 'unpaid']),
    nextChargeAt: time().optional(),
    endAt: time().optional(),
    pause: z.strictObject({ resumesAt: time().optional() }).optional(),
  })
  .meta({ description: 'The subscription as the event saw it.' });

const chargeSummaryFields = {
  period: period(),
  attempt: z.int().min(0),
  amount: z.int(),
  currency: z.string(),
  runId: period(),
  at: time(),
};

const dunningSchema = z.strictObject({
  attempt: z.int().min(1),
  nextRetryAt: time(),
  since: time().optional(),
  declineCode: z.string().optional(),
  waitingForPaymentMethod: z.boolean().optional(),
});

const subscriptionData = z.strictObject({ subscription: subscriptionSummarySchema });
const changedData = z.strictObject({
  subscription: subscriptionSummarySchema,
  changed: z
    .array(z.enum(['status', 'amount', 'plan', 'paymentMethod', 'endAt', 'pause', 'nextChargeAt']))
    .meta({ description: 'The fields the change set.' }),
});
const paidChargeData = z.strictObject({
  subscription: subscriptionSummarySchema,
  charge: z.strictObject({ ...chargeSummaryFields, paymentIntentId: z.string() }),
});

/** Each event type's `data`. */
export const EVENT_DATA = {
  'transaction.created': transactionSchema,
  'subscription.created': subscriptionData,
  'subscription.updated': changedData,
  'subscription.paused': changedData,
  'subscription.resumed': changedData,
  'subscription.charged': paidChargeData,
  'subscription.payment_processing': paidChargeData,
  'subscription.payment_failed': z.strictObject({
    subscription: subscriptionSummarySchema,
    charge: z.strictObject({
      ...chargeSummaryFields,
      declineCode: z.string().optional(),
      message: z.string(),
    }),
    dunning: dunningSchema.nullable().meta({ description: 'The next retry; null after the last one.' }),
    finalAction: z.enum(['cancel', 'unpaid']).optional(),
  }),
  'subscription.canceled': z.strictObject({
    subscription: subscriptionSummarySchema,
    reason: z.enum(['requested', 'payment_failed', 'ended']),
    canceledAt: time(),
  }),
  'datafeed.ready': z.strictObject({
    runId: period(),
    url: z.string().meta({ description: 'The datafeed, relative to the API URL.' }),
    contentType: z.literal('application/xml'),
    completedAt: time(),
  }),
  'webhook_endpoint.disabled': z.strictObject({
    endpointId: z.string(),
    url: z.string(),
    reason: z.enum(['gone', 'failing']),
  }),
  'webhook.test': z.strictObject({ endpointId: z.string() }),
} as const satisfies Record<EventType, z.ZodType>;

/** A component name per type: `transaction.created` → `TransactionCreatedEvent`. */
export function eventSchemaName(type: EventType): string {
  return `${type
    .split(/[._]/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('')}Event`;
}

function envelope<T extends EventType>(type: T) {
  return z
    .strictObject({
      id: z
        .string()
        .regex(/^evt_[0-9A-Z]{26}$/)
        .meta({ description: 'The `webhook-id` header carries it too.' }),
      type: z.literal(type),
      createdAt: time(),
      storeId: z.string(),
      data: EVENT_DATA[type],
    })
    .meta({ description: `A \`${type}\` event.` });
}

export const EVENT_SCHEMAS = Object.fromEntries(
  (Object.keys(EVENT_DATA) as EventType[]).map((type) => [type, envelope(type)]),
) as { [T in EventType]: ReturnType<typeof envelope<T>> };

const [first, ...rest] = Object.values(EVENT_SCHEMAS);
/** Any event, as `GET /v1/events` lists it (every type but `webhook.test`, which is never stored). */
export const eventSchema = z
  .discriminatedUnion('type', [first as (typeof EVENT_SCHEMAS)['transaction.created'], ...rest])
  .meta({ description: 'An event, as delivered: `{id, type, createdAt, storeId, data}`.' });

/** Registers the event schemas, so that the events routes and the webhooks refer to them by name. */
export function defineEventSchemas(schemas: SchemaCollector): void {
  schemas.define('SubscriptionSummary', subscriptionSummarySchema, 'output');
  schemas.define('Transaction', transactionSchema, 'output');
  for (const [type, schema] of Object.entries(EVENT_SCHEMAS)) {
    schemas.define(eventSchemaName(type as EventType), schema, 'output');
  }
  schemas.define('Event', eventSchema, 'output');
}

// --- Examples ---------------------------------------------------------------------------------------------------

const subscriptionExample = {
  id: 'sub_ana',
  customer: { id: 'cus_ana', email: 'ana@example.com' },
  plan: 'coffee',
  amount: 1999,
  currency: 'USD',
  interval: 'month',
  intervalCount: 1,
  status: 'active',
  nextChargeAt: '2027-01-07T05:40:00.000Z',
};
const chargeExample = {
  period: '2026-12-07',
  attempt: 0,
  amount: 1999,
  currency: 'USD',
  runId: '2026-12-07',
  at: '2026-12-07T05:47:45.595Z',
};

/** One `data` per type; each is checked against its schema by the document's unit test. */
export const EVENT_DATA_EXAMPLES: Readonly<Record<EventType, unknown>> = {
  'transaction.created': {
    id: 'order-1001',
    customer: { id: 'cus_1', email: 'ana@example.com' },
    currency: 'USD',
    total: 2500,
    items: [{ sku: 'MUG', name: 'Mug', quantity: 1, unitPrice: 2500 }],
    createdAt: EXAMPLE_TIME,
    metadata: { channel: 'web' },
  },
  'subscription.created': {
    subscription: { ...subscriptionExample, nextChargeAt: EXAMPLE_TIME },
  },
  'subscription.updated': {
    subscription: { ...subscriptionExample, amount: 2499 },
    changed: ['amount'],
  },
  'subscription.paused': {
    subscription: {
      ...subscriptionExample,
      status: 'paused',
      nextChargeAt: '2027-03-07T05:40:00.000Z',
      pause: { resumesAt: '2027-03-01T00:00:00.000Z' },
    },
    changed: ['status', 'pause', 'nextChargeAt'],
  },
  'subscription.resumed': {
    subscription: subscriptionExample,
    changed: ['status', 'pause', 'nextChargeAt'],
  },
  'subscription.charged': {
    subscription: subscriptionExample,
    charge: { ...chargeExample, paymentIntentId: 'pi_ed2b2d86e0d23cc854091587' },
  },
  'subscription.payment_processing': {
    subscription: { ...subscriptionExample, nextChargeAt: undefined },
    charge: { ...chargeExample, paymentIntentId: 'pi_3c1d2e4f5a6b7c8d9e0f1a2b' },
  },
  'subscription.payment_failed': {
    subscription: { ...subscriptionExample, status: 'past_due', nextChargeAt: EXAMPLE_TIME },
    charge: {
      ...chargeExample,
      declineCode: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
    },
    dunning: {
      attempt: 1,
      nextRetryAt: '2026-12-08T05:47:45.595Z',
      since: '2026-12-07T05:47:45.595Z',
      declineCode: 'insufficient_funds',
    },
  },
  'subscription.canceled': {
    subscription: { ...subscriptionExample, status: 'canceled', nextChargeAt: undefined },
    reason: 'requested',
    canceledAt: '2026-12-07T06:02:11.000Z',
  },
  'datafeed.ready': {
    runId: '2026-12-07',
    url: '/v1/datafeeds/subscriptions/2026-12-07',
    contentType: 'application/xml',
    completedAt: '2026-12-07T05:47:50.373Z',
  },
  'webhook_endpoint.disabled': {
    endpointId: 'ep_01JEXAMPLE0000000000000000',
    url: 'https://hooks.example.com/commerce',
    reason: 'gone',
  },
  'webhook.test': { endpointId: 'ep_01JEXAMPLE0000000000000000' },
};

export function exampleEvent(type: EventType, id = 'evt_01JEXAMPLE00000000000000AB') {
  return {
    id,
    type,
    createdAt: EXAMPLE_TIME,
    storeId: 'acme',
    data: JSON.parse(JSON.stringify(EVENT_DATA_EXAMPLES[type])),
  };
}

// --- The `webhooks` object --------------------------------------------------------------------------------------

const EVENT_DESCRIPTIONS: Record<EventType, string> = {
  'transaction.created': 'A transaction was accepted by `POST /v1/transactions`; `data` is the transaction.',
  'subscription.created': 'A subscription was created.',
  'subscription.updated':
    "A subscription changed (PATCH, the manage page, or a run: dunning's final action `unpaid` after a hard decline's wait); `changed` names the fields.",
  'subscription.paused': 'A subscription was paused.',
  'subscription.resumed': 'A subscription resumed (`pause: null`, or its `resumesAt` passed).',
  'subscription.charged': 'A charge succeeded: a receipt.',
  'subscription.payment_processing':
    'The gateway took the payment and settles it later (a bank debit); `subscription.charged` or `subscription.payment_failed` follows.',
  'subscription.payment_failed':
    'A charge attempt failed (each dunning step); `dunning` is the next retry, null after the last one.',
  'subscription.canceled':
    "A subscription was canceled: on request, by dunning's final action (`payment_failed`), or at its `endAt` (`ended`).",
  'datafeed.ready': "A completed run's datafeed for the store is ready.",
  'webhook_endpoint.disabled':
    'Another endpoint of the store was disabled as `gone` (a 410) or `failing` (only failures for WEBHOOK_DISABLE_AFTER).',
  'webhook.test':
    'Sent by `POST /v1/webhooks/{id}/test`, only to that endpoint; no endpoint subscribes to it.',
};

const DELIVERY_HEADERS: Json[] = [
  {
    name: 'webhook-id',
    in: 'header',
    required: true,
    description: 'The event id: the same on every retry, replay, recover and resend. Dedupe on it.',
    schema: { type: 'string' },
    example: 'evt_01JEXAMPLE00000000000000AB',
  },
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: true,
    description: 'Unix seconds when this attempt was signed.',
    schema: { type: 'string', pattern: '^\\d+$' },
    example: '1796622000',
  },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description:
      'Standard Webhooks: `v1,<base64 HMAC-SHA256 of "id.timestamp.body" keyed by the secret\'s decoded bytes>`, several space-separated during a rotation.',
    schema: { type: 'string' },
    example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
  },
];

const RECEIVER_ANSWERS: Answer[] = [
  {
    status: 200,
    description: 'Any 2xx within WEBHOOK_TIMEOUT_MS is success (the body is kept in the attempt log).',
  },
  {
    status: 410,
    description: 'Gone: the endpoint is disabled (`disabledReason: "gone"`) and its retries stop.',
  },
  {
    status: 429,
    description:
      'Too many requests: retried after `Retry-After` (1 s to 1 h), else on WEBHOOK_RETRY_SCHEDULE.',
  },
  {
    status: 503,
    description: 'Unavailable: retried after `Retry-After` (1 s to 1 h), else on WEBHOOK_RETRY_SCHEDULE.',
  },
];

/** OpenAPI 3.1 `webhooks`: one POST per event type, as delivered to an endpoint. */
export function webhooksObject(schemas: SchemaCollector): Json {
  return Object.fromEntries(
    (Object.keys(EVENT_DATA) as EventType[]).map((type) => {
      const name = eventSchemaName(type);
      return [
        type,
        {
          post: {
            operationId: `webhook${name}`,
            summary: type,
            description: `${EVENT_DESCRIPTIONS[type]} Signed as Standard Webhooks; any other answer, a 3xx or a timeout is retried on WEBHOOK_RETRY_SCHEDULE.`,
            tags: ['Webhook events'],
            security: [],
            parameters: DELIVERY_HEADERS,
            requestBody: {
              required: true,
              content: {
                'application/json': {
                  schema: schemas.use(out(name, EVENT_SCHEMAS[type])),
                  example: exampleEvent(type),
                },
              },
            },
            responses: Object.fromEntries(
              RECEIVER_ANSWERS.map((answer) => [
                answer.status === 200 ? '2XX' : String(answer.status),
                { description: answer.description },
              ]),
            ),
          },
        },
      ];
    }),
  );
}
