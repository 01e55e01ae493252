import type { Route } from '../../lambdas/api/http/router';
import { apiOperations, buildOpenApiDocument } from '../../lambdas/api/openapi/document';
import { EVENT_TYPES } from '../../lambdas/events/domain/events';
import { compiledOpenApi, schemaValidator } from '../integration/support/openapi-validator';
import { callerFor } from './support/api-events';
import { webhookDependencies } from './support/in-memory-api';
import { silentLogger } from './support/logger';

// The route table as createApi registers it: captured from the router it is handed to.
const mockRouteTables: Route<unknown>[][] = [];
jest.mock('../../lambdas/api/http/router', () => {
  const actual = jest.requireActual('../../lambdas/api/http/router');
  return {
    ...actual,
    createRouter: (routes: Route<unknown>[]) => {
      mockRouteTables.push(routes);
      return actual.createRouter(routes);
    },
  };
});

// Imported after the mock is in place (jest hoists jest.mock above the imports anyway).
import { createApi } from '../../lambdas/api/create-api';
import type { ApiDependencies } from '../../lambdas/api/services';

type Json = Record<string, unknown>;

function registeredRoutes(): Route<unknown>[] {
  mockRouteTables.length = 0;
  createApi(webhookDependencies() as ApiDependencies, silentLogger);
  const [table] = mockRouteTables;
  if (!table) throw new Error('createApi built no router');
  return table;
}

const document = buildOpenApiDocument();
const paths = document.paths as Record<string, Record<string, Json>>;
const operations = Object.entries(paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })),
);

describe('the OpenAPI document', () => {
  it('has an operation for every route of the router table, and a route for every operation', () => {
    const routes = registeredRoutes()
      .filter((route) => !route.methodNotAllowed)
      .map((route) => `${route.method} ${route.path}`)
      .sort();
    const documented = operations.map(({ key }) => key).sort();
    expect({ missingFromDocument: routes.filter((route) => !documented.includes(route)) }).toEqual({
      missingFromDocument: [],
    });
    expect({ withoutRoute: documented.filter((operation) => !routes.includes(operation)) }).toEqual({
      withoutRoute: [],
    });
  });

  it('is OpenAPI 3.1 with the store and admin bearer schemes, and public routes say `security: []`', () => {
    expect(document.openapi).toBe('3.1.0');
    const schemes = (document.components as { securitySchemes: Record<string, Json> }).securitySchemes;
    expect(schemes).toEqual({
      storeKey: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      adminKey: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    });
    const securityOf = (key: string) =>
      operations.find((operation) => operation.key === key)?.operation.security;
    for (const key of [
      'GET /health',
      'GET /openapi.json',
      'GET /console',
      'GET /manage/{token}',
      'POST /manage/actions/cancel',
    ]) {
      expect([key, securityOf(key)]).toEqual([key, []]);
    }
    expect(securityOf('POST /v1/transactions')).toEqual([{ storeKey: [] }]);
    for (const { key, operation } of operations) {
      if (key.includes(' /v1/admin/')) expect([key, operation.security]).toEqual([key, [{ adminKey: [] }]]);
      else if (key.includes(' /v1/')) expect([key, operation.security]).toEqual([key, [{ storeKey: [] }]]);
    }
  });

  it('gives every operation an id, a summary, a tag, a documented 4xx and an example for each JSON body', () => {
    const problems: string[] = [];
    const ids = new Set<string>();
    for (const { key, operation } of operations) {
      if (typeof operation.operationId !== 'string' || ids.has(operation.operationId))
        problems.push(`${key}: operationId`);
      ids.add(operation.operationId as string);
      if (!operation.summary) problems.push(`${key}: summary`);
      if (!Array.isArray(operation.tags) || operation.tags.length === 0) problems.push(`${key}: tags`);
      const responses = operation.responses as Record<string, Json>;
      if (!Object.keys(responses).some((status) => status.startsWith('4'))) problems.push(`${key}: no 4xx`);
      const bodies: [string, Record<string, Json>][] = Object.entries(responses).map(([status, response]) => [
        status,
        (response.content ?? {}) as Record<string, Json>,
      ]);
      const requestBody = operation.requestBody as { content: Record<string, Json> } | undefined;
      if (requestBody) bodies.push(['request', requestBody.content]);
      for (const [where, content] of bodies) {
        for (const [mediaType, media] of Object.entries(content)) {
          if (
            media.example === undefined &&
            Object.keys((media.examples as Json | undefined) ?? {}).length === 0
          ) {
            problems.push(`${key} ${where} ${mediaType}: no example`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('has examples that validate against their own schemas', () => {
    const problems: string[] = [];
    const check = (where: string, media: Json) => {
      if (!media.schema) return;
      const validate = schemaValidator(media.schema as Json);
      const examples = [
        ...(media.example !== undefined ? [media.example] : []),
        ...Object.values((media.examples ?? {}) as Record<string, { value: unknown }>).map(
          (example) => example.value,
        ),
      ];
      for (const example of examples) {
        if (!validate(example))
          problems.push(`${where}: ${compiledOpenApi().ajv.errorsText(validate.errors)}`);
      }
    };
    const all = [
      ...operations,
      ...Object.entries(document.webhooks as Record<string, Record<string, Json>>).map(([type, item]) => ({
        key: `webhook ${type}`,
        operation: item.post as Json,
      })),
    ];
    for (const { key, operation } of all) {
      const requestBody = operation.requestBody as { content: Record<string, Json> } | undefined;
      for (const [mediaType, media] of Object.entries(requestBody?.content ?? {})) {
        // A form is a string on the wire; its example is given as its fields.
        if (mediaType !== 'application/x-www-form-urlencoded') check(`${key} request ${mediaType}`, media);
      }
      for (const [status, response] of Object.entries((operation.responses ?? {}) as Record<string, Json>)) {
        for (const [mediaType, media] of Object.entries((response.content ?? {}) as Record<string, Json>)) {
          check(`${key} ${status} ${mediaType}`, media);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents every webhook event type with the Standard Webhooks headers', () => {
    const webhooks = document.webhooks as Record<string, { post: Json }>;
    expect(Object.keys(webhooks).sort()).toEqual([...EVENT_TYPES].sort());
    for (const { post } of Object.values(webhooks)) {
      const headers = (post.parameters as Json[]).map((parameter) => parameter.name);
      expect(headers).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    }
  });

  it('documents the query parameters the routes validate, with their schemas', () => {
    const parameters = (key: string) =>
      (operations.find((operation) => operation.key === key)?.operation.parameters as Json[] | undefined) ??
      [];
    expect(parameters('GET /v1/webhooks/{id}/attempts').map((parameter) => parameter.name)).toEqual([
      'id',
      'limit',
      'status',
      'eventId',
      'cursor',
    ]);
    expect(parameters('GET /v1/events').find((parameter) => parameter.name === 'order')).toMatchObject({
      in: 'query',
      required: false,
      schema: { type: 'string', enum: ['asc', 'desc'] },
    });
  });

  it("is served at GET /openapi.json without a key, with the API's public URL as its server", async () => {
    const deps = {
      ...webhookDependencies(),
      manageLinks: { baseUrl: 'https://api.example.com', ttlMs: 60_000 },
    };
    const call = callerFor(createApi(deps as ApiDependencies, silentLogger), 'admin-key');
    const answer = await call('GET', '/openapi.json');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.body).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument('https://api.example.com'))));
    expect(answer.body.servers).toEqual([{ url: 'https://api.example.com', description: 'This API.' }]);
    // Kept after the first request: the same bytes again.
    expect((await call('GET', '/openapi.json')).body).toEqual(answer.body);
  });

  it('lists its operations once each', () => {
    const keys = apiOperations().map((operation) => `${operation.method} ${operation.path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
