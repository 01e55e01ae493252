import { type Json, type OperationSpec, operationObject, SchemaCollector, SECURITY_SCHEMES } from './builder';
import { consoleOperations } from './paths/console';
import { coreOperations } from './paths/core';
import { eventOperations } from './paths/events';
import { managePageOperations } from './paths/manage-pages';
import { queueOperations } from './paths/queues';
import { runOperations } from './paths/runs';
import { subscriptionOperations } from './paths/subscriptions';
import { webhookEndpointOperations } from './paths/webhook-endpoints';
import { defineEventSchemas, webhooksObject } from './webhooks';

/**
 * `GET /openapi.json` (docs/api.md section 3): the OpenAPI 3.1 document of the API, built from the zod schemas the
 * routes validate requests with (paths/*.ts import them from the routes and the domain), the response schemas of
 * responses.ts, and the webhook payloads of webhooks.ts. Built once per execution environment.
 */

/** Every operation of the document, in the order it lists them. */
export function apiOperations(): OperationSpec[] {
  return [
    ...coreOperations(),
    ...webhookEndpointOperations(),
    ...eventOperations(),
    ...subscriptionOperations(),
    ...managePageOperations(),
    ...runOperations(),
    ...queueOperations(),
    ...consoleOperations(),
  ];
}

const TAGS = [
  { name: 'Documents', description: 'What the API says about itself.' },
  { name: 'Stores', description: 'Stores and their API keys (admin).' },
  {
    name: 'Transactions',
    description: 'What storefronts post; each becomes a `transaction.created` webhook.',
  },
  {
    name: 'Webhook endpoints',
    description: "A store's endpoints, their attempts, and what sends events again.",
  },
  { name: 'Events', description: "The store's events, as delivered." },
  { name: 'Subscriptions', description: 'Recurring charges, charged exactly once per period.' },
  { name: 'Manage page', description: "The customer's page, opened from the signed manage link (HTML)." },
  { name: 'Subscription runs', description: 'The daily runs that charge what is due (admin).' },
  { name: 'Datafeeds', description: "Each completed run's XML datafeed for the store." },
  { name: 'Reconciliations', description: 'Each run checked against the gateway (admin).' },
  { name: 'Queues', description: 'The work queues and their dead letters (admin).' },
  { name: 'Console', description: 'The web console served by the API.' },
  { name: 'Webhook events', description: 'What an endpoint receives (Standard Webhooks).' },
];

const HEADERS: Record<string, Json> = {
  'Idempotent-Replayed': {
    description:
      '`true` when the answer replays the first answer of the same Idempotency-Key (or transaction `id`).',
    schema: { type: 'string', enum: ['true'] },
  },
  'Retry-After': {
    description: 'Seconds to wait before asking again.',
    schema: { type: 'string', pattern: '^\\d+$' },
  },
  'WWW-Authenticate': {
    description: 'The scheme to authenticate with.',
    schema: { type: 'string' },
  },
  Allow: { description: 'The methods the path takes.', schema: { type: 'string' } },
  'Content-Security-Policy': {
    description: 'What the page may load: nothing from another origin.',
    schema: { type: 'string' },
  },
  'Cache-Control': {
    description: 'Whether and how long the answer may be cached.',
    schema: { type: 'string' },
  },
  ETag: { description: "The console assets' version.", schema: { type: 'string' } },
};

const PARAMETERS: Record<string, Json> = {
  IdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'The same key with the same body replays the first answer (`Idempotent-Replayed: true`); with another body 422; while the first request is in flight 409. Scoped per store (and apart for the admin), kept 24 hours. A request that fails validation (400) is not recorded.',
    schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
    example: '9f1c0a52-7d1e-4d9b-a3b4-1f1c2d3e4f50',
  },
};

/** Builds the document. `serverUrl`: the API's public URL, when known. */
export function buildOpenApiDocument(serverUrl?: string): Json {
  const schemas = new SchemaCollector();
  defineEventSchemas(schemas);
  const paths: Record<string, Record<string, Json>> = {};
  for (const spec of apiOperations()) {
    const path = paths[spec.path] ?? {};
    paths[spec.path] = path;
    if (path[spec.method]) throw new Error(`Two operations for ${spec.method.toUpperCase()} ${spec.path}.`);
    path[spec.method] = operationObject(spec, schemas);
  }
  const webhooks = webhooksObject(schemas);
  const document: Json = {
    openapi: '3.1.0',
    info: {
      title: 'commerce-pipeline API',
      version: '1',
      summary: 'Signed webhooks, exactly-once subscription charges, dunning, emails and datafeeds.',
      description: [
        'The HTTP API of commerce-pipeline (docs/api.md section 3) and the webhooks it sends (section 4).',
        '',
        '- Auth: `Authorization: Bearer <key>`. A store key sees only its own store; `/v1/admin/*` takes the admin key.',
        '- Errors are RFC 9457 `application/problem+json`. An unknown path is 404, a known path with another method 405 with `Allow` (HTML under `/manage`).',
        '- Currencies are ISO 4217 codes in either case, answered in upper case; amounts are integers in minor units.',
        '- Every POST takes an `Idempotency-Key`.',
      ].join('\n'),
      license: { name: 'UNLICENSED', identifier: 'LicenseRef-UNLICENSED' },
    },
    servers: [
      serverUrl
        ? { url: serverUrl, description: 'This API.' }
        : { url: 'http://127.0.0.1:3000', description: 'The local stack (`npm start`).' },
    ],
    tags: TAGS,
    paths,
    webhooks,
    components: {
      schemas: schemas.components(),
      parameters: PARAMETERS,
      headers: HEADERS,
      securitySchemes: {
        [SECURITY_SCHEMES.store]: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A store key (`sk_store_…`), from `POST /v1/admin/stores`: the store sees only its own data.',
        },
        [SECURITY_SCHEMES.admin]: {
          type: 'http',
          scheme: 'bearer',
          description: 'The admin key (ADMIN_API_KEY; in AWS, the AdminApiKeySecret), for `/v1/admin/*`.',
        },
      },
    },
  };
  return withoutUnusedComponents(document);
}

/** Drops the shared headers and parameters no operation refers to. */
function withoutUnusedComponents(document: Json): Json {
  const text = JSON.stringify({ paths: document.paths, webhooks: document.webhooks });
  const components = document.components as Record<string, Record<string, Json>>;
  for (const kind of ['headers', 'parameters'] as const) {
    const all = components[kind] ?? {};
    components[kind] = Object.fromEntries(
      Object.entries(all).filter(([name]) => text.includes(`"#/components/${kind}/${name}"`)),
    );
  }
  return document;
}
