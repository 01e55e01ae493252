import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ApiRequest } from './http/api-types';
import { HttpProblem, problems } from './http/problem';
import { createRouter } from './http/router';
import { serializeResponse } from './responses';
import type { RouteContext } from './route-context';
import { adminStoreRoutes } from './routes/admin-stores';
import { consoleRoutes } from './routes/console';
import { eventRoutes } from './routes/events';
import { healthRoutes } from './routes/health';
import { managePageRoutes } from './routes/manage-page';
import { openApiRoutes } from './routes/openapi';
import { queueRoutes } from './routes/queues';
import { reconciliationRoutes } from './routes/reconciliations';
import { runHistoryRoutes } from './routes/run-history';
import { subscriptionListRoutes } from './routes/subscription-list';
import { subscriptionRunRoutes } from './routes/subscription-runs';
import { subscriptionRoutes } from './routes/subscriptions';
import { transactionRoutes } from './routes/transactions';
import { webhookRefeedRoutes } from './routes/webhook-refeeds';
import { webhookRoutes } from './routes/webhooks';
import { type ApiDependencies, createServices, type RequestSecrets } from './services';

/** The logger the API needs; Powertools' Logger satisfies it. */
export interface ApiLogger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/**
 * Errors of a dependency that is throttled, overloaded or not answering in time (after the SDK's own retries): the
 * request is shed with 503 and Retry-After at once, rather than held until the client times out.
 */
const SHED_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalServerError',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/**
 * The HTTP API as a function of an API Gateway (payload v2) event. Every answer that is not a success is a
 * problem+json document; client mistakes are 4xx, and nothing unexpected escapes as anything but a logged 500.
 */
export function createApi(deps: ApiDependencies, logger: ApiLogger) {
  const services = createServices(deps);
  const route = createRouter<RouteContext>([
    ...healthRoutes(),
    ...openApiRoutes(services),
    ...consoleRoutes(),
    ...adminStoreRoutes(services),
    ...transactionRoutes(services),
    ...webhookRoutes(services),
    ...webhookRefeedRoutes(services),
    ...eventRoutes(services),
    ...subscriptionRoutes(services),
    ...managePageRoutes(services),
    ...subscriptionRunRoutes(services),
    ...reconciliationRoutes(services),
    ...subscriptionListRoutes(services),
    ...runHistoryRoutes(services),
    ...queueRoutes(services),
  ]);

  return async (
    event: APIGatewayProxyEventV2,
    secrets: RequestSecrets,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const request = toApiRequest(event);
    try {
      return toResult(serializeResponse(await route(request, { secrets })));
    } catch (error) {
      return toResult(serializeResponse(problemResponse(errorToProblem(error, request, logger))));
    }
  };
}

function errorToProblem(error: unknown, request: ApiRequest, logger: ApiLogger): HttpProblem {
  if (error instanceof HttpProblem) return error;
  const name = (error as { name?: string } | undefined)?.name ?? '';
  if (SHED_ERRORS.has(name)) {
    logger.warn('dependency throttled', { error: name, path: request.path });
    return new HttpProblem(503, 'Service busy', 'The service is busy; nothing was accepted. Retry shortly.', {
      slug: 'service-busy',
      headers: { 'retry-after': '1' },
    });
  }
  logger.error('unhandled error', { error, method: request.method, path: request.path });
  return problems.internal(request.requestId);
}

function problemResponse(problem: HttpProblem) {
  return {
    status: problem.status,
    body: problem.toDocument(),
    headers: { ...problem.headers, 'content-type': 'application/problem+json' },
  };
}

function toApiRequest(event: APIGatewayProxyEventV2): ApiRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined) query[name] = value;
  }
  const body = event.body ?? '';
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path: withoutStage(event.rawPath, event.requestContext.stage),
    headers,
    query,
    rawBody: event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body,
    requestId: event.requestContext.requestId,
  };
}

/**
 * The route's path without the stage's base path: behind a named API Gateway stage (not `$default`) the raw path
 * starts with `/<stage>`, which the routes do not name.
 */
export function withoutStage(rawPath: string, stage: string | undefined): string {
  if (!stage || stage === '$default') return rawPath;
  const prefix = `/${stage}`;
  if (rawPath === prefix) return '/';
  return rawPath.startsWith(`${prefix}/`) ? rawPath.slice(prefix.length) : rawPath;
}

function toResult(response: {
  status: number;
  headers: Record<string, string>;
  body: string;
}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: response.status,
    headers: response.headers,
    body: response.body,
    isBase64Encoded: false,
  };
}
