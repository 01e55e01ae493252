import * as z from 'zod';
import { runView } from '../../billing/domain/runs/view';
import { INTERVALS } from '../../billing/domain/schedule';
import { newSubscription, subscriptionView } from '../../billing/domain/subscription';
import { EVENT_TYPES } from '../../events/domain/events';
import { publicAttempt } from '../../webhooks/domain/attempt-log';
import { type Endpoint, publicEndpoint } from '../../webhooks/domain/endpoints';
import { DELIVERY_TRIGGERS } from '../../webhooks/domain/messages';

/**
 * What the routes answer, in zod, for the document only: each schema follows the view function that makes the
 * answer (publicEndpoint, publicAttempt, subscriptionView, runView, the reconciliation report, …), and every
 * example is made by that very function where there is one. The integration tests check every answer they get
 * against these (test/integration/support/openapi-validator.ts), so a field added to a view without its schema
 * fails a test.
 */

const time = (description?: string) =>
  z.iso.datetime({ offset: true }).meta(description ? { description } : {});
const runId = () => z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const count = () => z.int().min(0);
const eventTypeOrAll = z.enum([...EVENT_TYPES, '*']);

// --- Stores, transactions, health --------------------------------------------------------------------------------

export const healthSchema = z.strictObject({ status: z.literal('ok') });

export const createdStoreSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  apiKey: z.string().meta({ description: 'The store key (`sk_store_…`): shown once, stored as a digest.' }),
  createdAt: time(),
});

export const acceptedTransactionSchema = z.strictObject({
  id: z.string(),
  status: z.literal('accepted'),
  eventId: z.string().meta({ description: 'The `transaction.created` event that will be delivered.' }),
});

// --- Webhook endpoints ------------------------------------------------------------------------------------------

export const endpointStatsSchema = z
  .strictObject({
    since: time('Start of the window: the start of the UTC hour 23 hours before the current one.'),
    succeeded: count(),
    failed: count(),
    lastSucceededAt: time().optional(),
    failingSince: time('When the current run of failures began; absent while healthy.').optional(),
  })
  .meta({ description: 'Attempts over the last 24 hours (they lag by up to about 10 s).' });

const endpointFields = {
  id: z.string().regex(/^ep_[0-9A-Z]{26}$/),
  url: z.string(),
  events: z.array(eventTypeOrAll),
  description: z.string().optional(),
  status: z.enum(['enabled', 'disabled']),
  disabledReason: z.enum(['gone', 'failing', 'manual']).optional(),
  rateLimit: z.int().min(1).max(1000).optional(),
  headers: z
    .record(z.string(), z.string())
    .optional()
    .meta({ description: 'Custom headers; `authorization` values are masked (`Bearer ****cdef`).' }),
  createdAt: time(),
  updatedAt: time(),
};

export const endpointSchema = z
  .strictObject(endpointFields)
  .meta({ description: 'A webhook endpoint as PATCH answers it: never its secret.' });
export const endpointWithStatsSchema = z
  .strictObject({ ...endpointFields, stats: endpointStatsSchema })
  .meta({ description: 'A webhook endpoint with its stats of the last 24 hours: never its secret.' });
export const createdEndpointSchema = z
  .strictObject({
    ...endpointFields,
    secret: z
      .string()
      .regex(/^whsec_/)
      .meta({ description: 'The signing secret, shown only here.' }),
  })
  .meta({ description: 'The endpoint just registered, with its signing secret (shown once).' });
export const endpointListSchema = z.strictObject({ data: z.array(endpointWithStatsSchema) });
export const rotatedSecretSchema = z.strictObject({ secret: z.string().regex(/^whsec_/) });

export const attemptSchema = z.strictObject({
  eventId: z.string(),
  replayId: z
    .string()
    .optional()
    .meta({ description: 'Set on the attempts of a replay, recover or resend.' }),
  attempt: z.int().min(1),
  status: z.enum(['succeeded', 'failed']),
  trigger: z.enum(DELIVERY_TRIGGERS),
  responseStatus: z.int().optional(),
  responseBody: z.string().optional().meta({
    description:
      "The start of the receiver's answer as text: 4 KiB of a failure's, 512 bytes of a success's.",
  }),
  durationMs: z.number().min(0),
  error: z
    .string()
    .optional()
    .meta({ description: 'Why it failed: `timeout`, `connection refused`, `HTTP 500`, …' }),
  at: time('When the attempt started.'),
});
export const attemptListSchema = z.strictObject({
  data: z.array(attemptSchema),
  next: z.string().optional().meta({ description: 'Pass back as `cursor` for the next page.' }),
});

export const replayAcceptedSchema = z.strictObject({ replayId: z.string(), count: count() });
export const recoveryAcceptedSchema = z.strictObject({ recoveryId: z.string(), count: count() });
export const eventAcceptedSchema = z.strictObject({ eventId: z.string() });

// --- Subscriptions ----------------------------------------------------------------------------------------------

export const customerSchema = z.strictObject({ id: z.string(), email: z.string() });

export const chargeViewSchema = z.strictObject({
  period: runId().meta({ description: 'The UTC date the charge fell due.' }),
  attempt: z
    .int()
    .min(0)
    .meta({ description: "The period's latest attempt: 0, then 1.. for dunning retries." }),
  status: z.enum(['succeeded', 'failed', 'pending', 'processing']),
  amount: z.int(),
  currency: z.string(),
  paymentIntentId: z.string().optional(),
  declineCode: z.string().optional(),
  attempts: z.int().min(1).meta({ description: 'How many attempts the period took.' }),
  at: time(),
});

const subscriptionFields = {
  id: z.string(),
  status: z.enum(['active', 'paused', 'past_due', 'canceled', 'unpaid']),
  customer: customerSchema,
  plan: z.string(),
  amount: z.int().min(1),
  currency: z.string().regex(/^[A-Z]{3}$/),
  interval: z.enum(INTERVALS),
  intervalCount: z.int().min(1),
  paymentMethod: z.string(),
  startAt: time('The first charge time; every charge time derives from it.'),
  nextChargeAt: time().nullable().meta({
    description: 'Null when it is charged no more (canceled, unpaid, ended, paused without resumesAt).',
  }),
  endAt: time().optional(),
  pause: z.strictObject({ resumesAt: time().optional() }).optional(),
  dunning: z
    .strictObject({
      attempt: z.int().min(1),
      nextRetryAt: time(),
      since: time().optional(),
      declineCode: z.string().optional(),
      waitingForPaymentMethod: z.literal(true).optional(),
    })
    .optional(),
  createdAt: time(),
  canceledAt: time().optional(),
  cancelReason: z.enum(['requested', 'dunning', 'ended']).optional(),
};

export const subscriptionSchema = z
  .strictObject({ ...subscriptionFields, charges: z.array(chargeViewSchema) })
  .meta({ description: 'A subscription with one `charges` entry per period (its latest attempt).' });
export const subscriptionListItemSchema = z
  .strictObject(subscriptionFields)
  .meta({ description: 'A subscription as the list shows it: without its charges.' });
export const subscriptionListSchema = z.strictObject({
  data: z.array(subscriptionListItemSchema),
  next: z.string().optional().meta({ description: 'Pass back as `cursor` for the next page.' }),
});
export const manageLinkSchema = z.strictObject({
  url: z.string().meta({ description: '`<API URL>/manage/<token>`: the token is the only credential.' }),
  expiresAt: time(),
});

// --- Runs, datafeeds, reconciliations, queues -------------------------------------------------------------------

const runFields = {
  runId: runId(),
  status: z.enum(['running', 'completed']),
  asOf: time(),
  total: count(),
  succeeded: count(),
  failed: count(),
  pending: count(),
  processing: count(),
  startedAt: time(),
  updatedAt: time(),
  completedAt: time().optional(),
  deadlineAt: time(),
  ratePerMinute: z.number().min(0),
  etaSeconds: z.int().min(0).nullable().meta({ description: 'Null while nothing moves.' }),
};
export const runSchema = z.strictObject(runFields);
export const runDetailSchema = z.strictObject({
  ...runFields,
  progress: z.array(z.strictObject({ at: time(), answered: count() })).meta({
    description:
      "The run's charges answered against time, from (startedAt, 0) to its present count: what the console's chart draws. A few hundred points at most, sparser as the run gets older.",
  }),
});
export const triggeredRunSchema = z.strictObject({
  ...runFields,
  outcome: z.enum(['started', 'joined', 'resumed', 'completed']),
});
export const runListSchema = z.strictObject({ data: z.array(runSchema) });

export const datafeedRunsSchema = z.strictObject({
  data: z.array(
    z.strictObject({
      runId: runId(),
      status: z.enum(['running', 'completed']),
      completedAt: time().optional(),
    }),
  ),
});

const chargeRefFields = {
  storeId: z.string(),
  subscriptionId: z.string(),
  period: z.string(),
  attempt: z.int().min(0),
};
export const reconciliationSchema = z.strictObject({
  date: runId(),
  status: z.enum(['running', 'completed']),
  requestedAt: time(),
  gatewayPaymentIntents: count(),
  recordedCharges: count(),
  matched: count(),
  duplicates: z.array(
    z.strictObject({
      ...chargeRefFields,
      paymentIntentIds: z.array(z.string()),
      recordedPaymentIntentId: z.string().optional(),
    }),
  ),
  orphans: z.array(
    z.strictObject({
      paymentIntentId: z.string(),
      storeId: z.string().optional(),
      subscriptionId: z.string().optional(),
      period: z.string().optional(),
      attempt: z.int().min(0).optional(),
      amount: z.int(),
      currency: z.string(),
      status: z.string(),
      reason: z.enum(['incomplete-metadata', 'no-record', 'other-payment-intent', 'not-recorded-as-paid']),
      recordedStatus: z.string().optional(),
      recordedPaymentIntentId: z.string().optional(),
    }),
  ),
  missing: z.array(
    z.strictObject({
      ...chargeRefFields,
      paymentIntentId: z.string(),
      recordedStatus: z.string(),
      gatewayStatus: z.string().optional(),
    }),
  ),
  otherRuns: count(),
  inFlight: count(),
  counts: z.strictObject({ duplicates: count(), orphans: count(), missing: count() }),
  truncated: z.boolean().optional(),
  window: z.strictObject({ from: time(), to: time() }).optional(),
  completedAt: time().optional(),
});
export const reconciliationRequestedSchema = z.strictObject({
  date: runId(),
  status: z.literal('running'),
  requestedAt: time(),
});
export const reconciliationListSchema = z.strictObject({ data: z.array(reconciliationSchema) });

export const queueSchema = z.strictObject({
  name: z.string(),
  visible: count(),
  inFlight: count(),
  delayed: count(),
  oldestAgeSeconds: count().optional(),
  deadLetters: count(),
  deadLetterOldestAgeSeconds: count().optional(),
});
export const queueListSchema = z.strictObject({ data: z.array(queueSchema) });
export const redriveSchema = z.strictObject({ moved: count(), remaining: count() });

// --- Examples, made by the view functions -----------------------------------------------------------------------

export const EXAMPLE_TIME = '2026-12-07T05:40:00.000Z';
const now = Date.parse(EXAMPLE_TIME);

export const exampleEndpoint: Endpoint = {
  id: 'ep_01JEXAMPLE0000000000000000',
  storeId: 'acme',
  url: 'https://hooks.example.com/commerce',
  events: ['transaction.created', 'subscription.charged'],
  description: 'Order sync',
  status: 'enabled',
  secrets: [{ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
  rateLimit: 50,
  headers: { authorization: 'Bearer sk_live_4f9a2c7e1b3d' },
  createdAt: '2026-12-01T09:30:00.000Z',
  updatedAt: '2026-12-01T09:30:00.000Z',
};

export const exampleStats = {
  since: '2026-12-06T06:00:00.000Z',
  succeeded: 412,
  failed: 3,
  lastSucceededAt: '2026-12-07T05:39:12.204Z',
};

export function exampleEndpointView() {
  return publicEndpoint(exampleEndpoint);
}

export function exampleEndpointWithStats() {
  return { ...publicEndpoint(exampleEndpoint), stats: exampleStats };
}

export function exampleAttempts() {
  return [
    publicAttempt({
      endpointId: exampleEndpoint.id,
      eventId: 'evt_01JEXAMPLE00000000000000AB',
      attempt: 2,
      status: 'succeeded',
      trigger: 'scheduled',
      responseStatus: 200,
      responseBody: 'ok',
      durationMs: 84,
      at: '2026-12-07T05:39:12.204Z',
    }),
    publicAttempt({
      endpointId: exampleEndpoint.id,
      eventId: 'evt_01JEXAMPLE00000000000000AB',
      attempt: 1,
      status: 'failed',
      trigger: 'scheduled',
      responseStatus: 500,
      responseBody: '{"error":"database unavailable"}',
      durationMs: 132,
      error: 'HTTP 500',
      at: '2026-12-07T05:39:07.101Z',
    }),
  ];
}

export function exampleSubscription(overrides: { id?: string } = {}) {
  const subscription = newSubscription({
    storeId: 'acme',
    subscriptionId: overrides.id ?? 'sub_ana',
    body: {
      customer: { id: 'cus_ana', email: 'ana@example.com' },
      plan: 'coffee',
      amount: 1999,
      currency: 'USD',
      interval: 'month',
      paymentMethod: 'pm_card_visa',
      startAt: EXAMPLE_TIME,
    },
    fingerprint: 'example',
    now: now - 3_600_000,
    createdEventId: 'evt_01JEXAMPLE00000000000000CD',
  });
  return subscriptionView(subscription);
}

export const exampleCharge = {
  period: '2026-12-07',
  attempt: 0,
  status: 'succeeded' as const,
  amount: 1999,
  currency: 'USD',
  paymentIntentId: 'pi_ed2b2d86e0d23cc854091587',
  attempts: 1,
  at: '2026-12-07T05:47:45.595Z',
};

/** The example run with its progress log, as `GET /v1/admin/subscription-runs/{runId}` answers it. */
export function exampleRunDetail() {
  return {
    ...exampleRun(),
    progress: [
      { at: '2026-12-07T00:05:01.120Z', answered: 0 },
      { at: '2026-12-07T00:10:00.000Z', answered: 23_900 },
      { at: '2026-12-07T00:15:00.000Z', answered: 48_000 },
      { at: '2026-12-07T00:20:00.000Z', answered: 72_470 },
    ],
  };
}

export function exampleRun() {
  return runView(
    {
      runId: '2026-12-07',
      asOf: '2026-12-07T00:05:00.000Z',
      status: 'running',
      startedAt: '2026-12-07T00:05:01.120Z',
      updatedAt: '2026-12-07T00:20:00.000Z',
      deadlineAt: '2026-12-07T06:00:00.000Z',
      cursor: { shard: 16 },
      enumerated: true,
      total: 120_000,
      succeeded: 71_250,
      failed: 1_180,
      processing: 40,
      samples: [
        { at: Date.parse('2026-12-07T00:15:00.000Z'), done: 48_000 },
        { at: Date.parse('2026-12-07T00:20:00.000Z'), done: 72_470 },
      ],
      claimed: 120_000,
      triggers: 1,
    },
    Date.parse('2026-12-07T00:20:00.000Z'),
  );
}

export function exampleCompletedRun() {
  return runView(
    {
      runId: '2026-12-06',
      asOf: '2026-12-06T00:05:00.000Z',
      status: 'completed',
      startedAt: '2026-12-06T00:05:01.040Z',
      updatedAt: '2026-12-06T00:41:12.000Z',
      completedAt: '2026-12-06T00:41:12.000Z',
      deadlineAt: '2026-12-06T06:00:00.000Z',
      cursor: { shard: 16 },
      enumerated: true,
      total: 118_400,
      succeeded: 117_102,
      failed: 1_298,
      processing: 0,
      samples: [],
      claimed: 118_400,
      triggers: 2,
    },
    Date.parse('2026-12-07T00:20:00.000Z'),
  );
}

export const exampleReconciliation = {
  date: '2026-12-06',
  status: 'completed' as const,
  requestedAt: '2026-12-06T01:41:12.000Z',
  gatewayPaymentIntents: 117_102,
  recordedCharges: 117_102,
  matched: 117_102,
  duplicates: [],
  orphans: [],
  missing: [],
  otherRuns: 12,
  inFlight: 0,
  counts: { duplicates: 0, orphans: 0, missing: 0 },
  window: { from: '2026-12-06T00:00:01.040Z', to: '2026-12-06T01:41:12.000Z' },
  completedAt: '2026-12-06T01:41:40.318Z',
};

export const exampleQueues = [
  {
    name: 'deliveries',
    visible: 12,
    inFlight: 4,
    delayed: 30,
    oldestAgeSeconds: 3,
    deadLetters: 2,
    deadLetterOldestAgeSeconds: 5400,
  },
  { name: 'charges', visible: 0, inFlight: 0, delayed: 0, deadLetters: 0 },
];
