import { problems } from '../../http/problem';
import { attemptsQuery } from '../../routes/webhook-attempts';
import { recoverBody, testBody } from '../../routes/webhook-refeeds';
import { createBody, customHeaders, patchBody, replayBody } from '../../routes/webhooks';
import {
  input,
  json,
  jsonBody,
  type OperationSpec,
  out,
  overrideInputSchema,
  type ParamSpec,
} from '../builder';
import {
  idempotencyProblems,
  jsonBodyProblems,
  notFound,
  problem,
  problemAnswer,
  queryProblems,
  storeKey,
} from '../problem';
import {
  attemptListSchema,
  createdEndpointSchema,
  endpointListSchema,
  endpointSchema,
  endpointWithStatsSchema,
  eventAcceptedSchema,
  exampleAttempts,
  exampleEndpoint,
  exampleEndpointView,
  exampleEndpointWithStats,
  recoveryAcceptedSchema,
  replayAcceptedSchema,
  rotatedSecretSchema,
} from '../responses';

// Custom headers are checked by a transform (webhooks/domain/endpoint-headers.ts): this is what it takes.
overrideInputSchema(customHeaders, {
  type: 'object',
  maxProperties: 20,
  additionalProperties: { type: 'string', maxLength: 2048 },
  description:
    'Up to 20 headers sent with every delivery. Names are HTTP tokens, not `webhook-*`, `content-*`, `host`, `user-agent`, `connection`, `transfer-encoding` or another framing name; values are printable ASCII without leading or trailing blanks, at most 2048 characters, 8192 in all; a masked value (`****`) is refused.',
});

const endpointId: ParamSpec = {
  name: 'id',
  description: 'The endpoint id (`ep_…`); another store’s, or anything else, is 404.',
  schema: { type: 'string' },
  example: exampleEndpoint.id,
};

const TAGS = ['Webhook endpoints'];
const endpointNotFound = () => notFound(`No webhook endpoint "${exampleEndpoint.id}" in this store.`);
const refused = () =>
  problemAnswer(
    'The endpoint is disabled: enable it (PATCH status "enabled") first; or the key is in flight',
    [problems.conflict('The endpoint is disabled (failing): enable it (PATCH status "enabled") first.')],
  );

/** The endpoint registry, its attempt log, and what sends again: replay, recover, resend, test. */
export function webhookEndpointOperations(): OperationSpec[] {
  const create = {
    url: 'https://hooks.example.com/commerce',
    events: ['transaction.created', 'subscription.charged'],
    description: 'Order sync',
    rateLimit: 50,
    headers: { authorization: 'Bearer sk_live_4f9a2c7e1b3d' },
  };
  const secret = exampleEndpoint.secrets[0]?.secret ?? '';
  return [
    {
      method: 'post',
      path: '/v1/webhooks',
      operationId: 'createWebhookEndpoint',
      summary: 'Register a webhook endpoint',
      description:
        'The REST-hooks subscribe. The signing secret is in this answer only. A URL that is not http(s), or (when private targets are not allowed, as in AWS) one that resolves to a loopback, private, link-local, CGNAT, metadata or unspecified address: 422.',
      tags: TAGS,
      security: 'store',
      idempotencyKey: 'Makes a retry safe.',
      body: jsonBody(input('CreateWebhookEndpointRequest', createBody), create),
      answers: [
        json(
          201,
          'The endpoint, with its signing secret (shown once)',
          out('CreatedWebhookEndpoint', createdEndpointSchema),
          { ...exampleEndpointView(), secret },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        ...jsonBodyProblems(createBody, { url: create.url, events: ['order.shipped'] }),
        ...idempotencyProblems(),
        problemAnswer('The URL may not receive webhooks (`errors` names `url`)', [
          problem(
            422,
            'Webhook URL refused',
            'http://169.254.169.254/ resolves to a link-local address.',
            'webhook-url-refused',
            {
              errors: [
                { field: 'url', message: 'http://169.254.169.254/ resolves to a link-local address.' },
              ],
            },
          ),
        ]),
      ],
    },
    {
      method: 'get',
      path: '/v1/webhooks',
      operationId: 'listWebhookEndpoints',
      summary: "List the store's webhook endpoints",
      tags: TAGS,
      security: 'store',
      answers: [
        json(200, 'The endpoints, with their stats', out('WebhookEndpointList', endpointListSchema), {
          data: [exampleEndpointWithStats()],
        }),
        ...storeKey(),
      ],
    },
    {
      method: 'get',
      path: '/v1/webhooks/{id}',
      operationId: 'getWebhookEndpoint',
      summary: 'Get a webhook endpoint',
      tags: TAGS,
      security: 'store',
      pathParams: [endpointId],
      answers: [
        json(
          200,
          'The endpoint, with its stats',
          out('WebhookEndpointWithStats', endpointWithStatsSchema),
          exampleEndpointWithStats(),
        ),
        ...storeKey(),
        endpointNotFound(),
      ],
    },
    {
      method: 'patch',
      path: '/v1/webhooks/{id}',
      operationId: 'updateWebhookEndpoint',
      summary: 'Change a webhook endpoint',
      description:
        '`status: "disabled"` sets `disabledReason: "manual"`; `status: "enabled"` clears it and the failing state. `rateLimit: null` removes the limit; `headers` replaces the whole set (`{}` or null removes it).',
      tags: TAGS,
      security: 'store',
      pathParams: [endpointId],
      body: jsonBody(input('UpdateWebhookEndpointRequest', patchBody), {
        status: 'disabled',
        rateLimit: null,
      }),
      answers: [
        json(200, 'The endpoint as changed (without stats)', out('WebhookEndpoint', endpointSchema), {
          ...exampleEndpointView(),
          status: 'disabled',
          disabledReason: 'manual',
        }),
        ...storeKey(),
        ...jsonBodyProblems(patchBody, {}),
        endpointNotFound(),
        problemAnswer('The new URL may not receive webhooks', [
          problem(
            422,
            'Webhook URL refused',
            'Only http and https URLs can receive webhooks.',
            'webhook-url-refused',
            {
              errors: [{ field: 'url', message: 'Only http and https URLs can receive webhooks.' }],
            },
          ),
        ]),
      ],
    },
    {
      method: 'delete',
      path: '/v1/webhooks/{id}',
      operationId: 'deleteWebhookEndpoint',
      summary: 'Delete a webhook endpoint',
      description: 'The REST-hooks unsubscribe.',
      tags: TAGS,
      security: 'store',
      pathParams: [endpointId],
      answers: [{ status: 204, description: 'Deleted' }, ...storeKey(), endpointNotFound()],
    },
    {
      method: 'post',
      path: '/v1/webhooks/{id}/rotate-secret',
      operationId: 'rotateWebhookSecret',
      summary: "Rotate an endpoint's signing secret",
      description:
        'The old secret still signs, beside the new one, for 24 hours. Takes no body (whatever is sent is ignored).',
      tags: TAGS,
      security: 'store',
      pathParams: [endpointId],
      idempotencyKey: 'Makes a retry safe: a replay shows the same new secret.',
      answers: [
        json(
          200,
          'The new secret (shown once)',
          out('RotatedSecret', rotatedSecretSchema),
          { secret: 'whsec_3Kq1n2VbQyXo8d0s7Rr3b4Tt5Uu6Vv7W' },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        endpointNotFound(),
        ...idempotencyProblems(),
      ],
    },
    {
      method: 'get',
      path: '/v1/webhooks/{id}/attempts',
      operationId: 'listWebhookAttempts',
      summary: "An endpoint's delivery attempts, newest first",
      tags: TAGS,
      security: 'store',
      pathParams: [endpointId],
      query: {
        schema: attemptsQuery,
        descriptions: {
          limit: '1 to 100; default 20.',
          status: '`succeeded` or `failed`.',
          eventId: "One event's attempts (`evt_…`, either case).",
          cursor: "The previous page's `next`, with the same `status` and `eventId`.",
        },
        examples: { limit: '20', status: 'failed' },
      },
      answers: [
        json(
          200,
          'A page of attempts; `next` while more may follow',
          out('WebhookAttemptList', attemptListSchema),
          {
            data: exampleAttempts(),
            next: 'eyJ2IjoxLCJhZnRlciI6ImV2dF8wMUpFWEFNUExFMDAwMDAwMDAwMDAwMDBBQiMwIzAwMSJ9',
          },
        ),
        ...storeKey(),
        queryProblems(attemptsQuery, { limit: '500' }),
        endpointNotFound(),
      ],
    },
    {
      method: 'post',
      path: '/v1/webhooks/{id}/replay',
      operationId: 'replayWebhookEvents',
      summary: 'Deliver every event of a window again (a refeed)',
      description:
        '`since` < `until` ≤ now (default now), at most 30 days. Replayed deliveries keep their `webhook-id` and are sent even if delivered before (`trigger: "replay"`).',
      tags: TAGS,
      security: 'store',
      pathParams: [endpointId],
      idempotencyKey: 'Makes a retry safe.',
      body: jsonBody(input('ReplayRequest', replayBody), {
        since: '2026-12-06T00:00:00Z',
        until: '2026-12-07T00:00:00Z',
        events: ['transaction.created'],
      }),
      answers: [
        json(
          202,
          'The refeed is queued; `count` events will be sent',
          out('ReplayAccepted', replayAcceptedSchema),
          { replayId: 'rpl_01JEXAMPLE0000000000000000', count: 1204 },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        ...jsonBodyProblems(replayBody, { since: 'yesterday' }),
        endpointNotFound(),
        ...idempotencyProblems(),
      ],
    },
    {
      method: 'post',
      path: '/v1/webhooks/{id}/recover',
      operationId: 'recoverWebhookEvents',
      summary: 'Deliver again what was not delivered in a window',
      description:
        'Only the events of the window (and of the types the endpoint subscribes to, since its creation) without a successful delivery to this endpoint (`trigger: "recover"`). A disabled endpoint: 409.',
      tags: TAGS,
      security: 'store',
      pathParams: [endpointId],
      idempotencyKey: 'Makes a retry safe.',
      body: jsonBody(input('RecoverRequest', recoverBody), { since: '2026-12-06T00:00:00Z' }),
      answers: [
        json(
          202,
          'The recovery is queued; `count` events will be sent (0 sends nothing)',
          out('RecoveryAccepted', recoveryAcceptedSchema),
          { recoveryId: 'rcv_01JEXAMPLE0000000000000000', count: 17 },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        ...jsonBodyProblems(recoverBody, { since: '2026-12-06', until: 5 }),
        endpointNotFound(),
        refused(),
        ...idempotencyProblems(),
      ],
    },
    {
      method: 'post',
      path: '/v1/webhooks/{id}/events/{eventId}/resend',
      operationId: 'resendWebhookEvent',
      summary: 'Deliver one event again to this endpoint',
      description:
        'The same `webhook-id`, whatever its earlier outcome, as a delivery of its own (`trigger: "resend"`). Takes no body.',
      tags: TAGS,
      security: 'store',
      pathParams: [
        endpointId,
        {
          name: 'eventId',
          description: 'An event of the store (`evt_…`); another store’s, a `webhook.test` or none: 404.',
          schema: { type: 'string' },
          example: 'evt_01JEXAMPLE00000000000000AB',
        },
      ],
      idempotencyKey: 'Makes a retry safe.',
      answers: [
        json(
          202,
          'The delivery is queued',
          out('EventAccepted', eventAcceptedSchema),
          { eventId: 'evt_01JEXAMPLE00000000000000AB' },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        endpointNotFound(),
        notFound('No event "evt_01JEXAMPLE00000000000000AB" in this store.'),
        refused(),
        problemAnswer('The endpoint does not subscribe to the event’s type', [
          problem(
            422,
            'Event type not subscribed',
            'The endpoint does not subscribe to subscription.created events.',
            'event-type-not-subscribed',
            { errors: [{ field: 'eventId', message: 'is a subscription.created event' }] },
          ),
        ]),
        ...idempotencyProblems(),
      ],
    },
    {
      method: 'post',
      path: '/v1/webhooks/{id}/test',
      operationId: 'testWebhookEndpoint',
      summary: 'Send a signed webhook.test event to this endpoint',
      description:
        'Only to this endpoint, whatever its `events`, with retries and attempt log like any other (`trigger: "test"`); not listed in `GET /v1/events`. The body is `{}` or empty.',
      tags: TAGS,
      security: 'store',
      pathParams: [endpointId],
      idempotencyKey: 'Makes a retry safe.',
      body: jsonBody(input('TestWebhookRequest', testBody), {}, { required: false }),
      answers: [
        json(
          202,
          'The test event is queued',
          out('EventAccepted', eventAcceptedSchema),
          { eventId: 'evt_01JEXAMPLE00000000000000EF' },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        ...jsonBodyProblems(testBody, { ping: true }),
        endpointNotFound(),
        refused(),
        ...idempotencyProblems(),
      ],
    },
  ];
}
