import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID } from '../aws-clients';
import { listen } from './listen';
import type { LocalFunction } from './local-function';

/** API Gateway's payload limit for an HTTP API. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** API Gateway's maximum integration timeout for an HTTP API. */
const INTEGRATION_TIMEOUT_MS = 30_000;

export interface HttpRoute {
  /** `$default`, or `METHOD /path` with `{param}` and a final `{proxy+}`, method `ANY` for any. */
  readonly routeKey: string;
  readonly function: LocalFunction;
}

export interface HttpGateway {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  /** Routes requests from now on; until then every request gets 503. */
  setRoutes(apiId: string, routes: readonly HttpRoute[]): void;
  stop(): Promise<void>;
}

/**
 * An API Gateway HTTP API (payload format 2.0) in front of local functions: each request becomes the event
 * API Gateway would send, and the function's result becomes the response by API Gateway's rules. It listens
 * before the routes are known, so that its URL can resolve references to the API in function environments.
 */
export async function listenHttpGateway(options: { host: string; port: number }): Promise<HttpGateway> {
  let apiId = 'local';
  let routes: CompiledRoute[] | undefined;
  const server = http.createServer((request, response) => {
    if (!routes) return send(response, 503, { message: 'Service Unavailable' });
    void handleRequest(request, response, apiId, routes);
  });
  server.keepAliveTimeout = 5000;
  await listen(server, {
    port: options.port,
    host: options.host,
    describe: (error) =>
      error.code === 'EADDRINUSE'
        ? new Error(
            `The HTTP API cannot listen on ${options.host}:${options.port}: the port is in use. Choose another (PORT).`,
          )
        : error,
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    setRoutes: (id, newRoutes) => {
      apiId = id;
      routes = newRoutes.map(compileRoute);
    },
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface CompiledRoute extends HttpRoute {
  readonly method: string;
  readonly segments: readonly string[];
}

function compileRoute(route: HttpRoute): CompiledRoute {
  if (route.routeKey === '$default') return { ...route, method: 'ANY', segments: [] };
  const [method = '', path = '/'] = route.routeKey.split(' ');
  return { ...route, method: method.toUpperCase(), segments: path.split('/').filter(Boolean) };
}

/**
 * API Gateway's route selection: the most specific match wins (literal segments before `{param}`, those
 * before a greedy `{proxy+}`, a method before ANY), and `$default` catches the rest.
 */
function selectRoute(routes: readonly CompiledRoute[], method: string, path: string) {
  const requestSegments = path.split('/').filter(Boolean);
  let best: { route: CompiledRoute; score: number; pathParameters: Record<string, string> } | undefined;
  for (const route of routes) {
    if (route.routeKey === '$default') continue;
    if (route.method !== 'ANY' && route.method !== method) continue;
    const pathParameters: Record<string, string> = {};
    let score = route.method === 'ANY' ? 0 : 1;
    let matched = true;
    for (let index = 0; index < route.segments.length && matched; index += 1) {
      const segment = route.segments[index] ?? '';
      const greedy = /^\{(.+)\+\}$/.exec(segment);
      const parameter = /^\{(.+)\}$/.exec(segment);
      if (greedy?.[1]) {
        if (index >= requestSegments.length) matched = false;
        else pathParameters[greedy[1]] = decodeURIComponent(requestSegments.slice(index).join('/'));
        score -= 1000;
        break;
      }
      const requested = requestSegments[index];
      if (requested === undefined) matched = false;
      else if (parameter?.[1]) {
        pathParameters[parameter[1]] = decodeURIComponent(requested);
        score += 10;
      } else if (segment === requested) score += 100;
      else matched = false;
    }
    const greedyRoute = route.segments.some((segment) => segment.endsWith('+}'));
    if (!greedyRoute && route.segments.length !== requestSegments.length) matched = false;
    if (matched && (!best || score > best.score)) best = { route, score, pathParameters };
  }
  if (best) return best;
  const fallback = routes.find((route) => route.routeKey === '$default');
  return fallback ? { route: fallback, score: 0, pathParameters: {} } : undefined;
}

async function handleRequest(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  apiId: string,
  routes: readonly CompiledRoute[],
): Promise<void> {
  const requestId = randomUUID();
  response.setHeader('apigw-requestid', requestId);
  const declaredLength = Number(request.headers['content-length'] ?? 0);
  const body = declaredLength > MAX_REQUEST_BYTES ? undefined : await readBody(request, MAX_REQUEST_BYTES);
  if (body === undefined) {
    response.setHeader('connection', 'close');
    send(response, 413, { message: 'Request Entity Too Large' });
    request.resume();
    return;
  }
  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = (request.method ?? 'GET').toUpperCase();
  const selected = selectRoute(routes, method, url.pathname);
  if (!selected) return send(response, 404, { message: 'Not Found' });
  const event = toEvent(request, body, { apiId, requestId, routeKey: selected.route.routeKey, url, method });
  if (Object.keys(selected.pathParameters).length > 0) event.pathParameters = selected.pathParameters;

  let result: unknown;
  let timer: NodeJS.Timeout | undefined;
  try {
    const integrationTimeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), INTEGRATION_TIMEOUT_MS);
    });
    result = await Promise.race([selected.route.function.invoke(event), integrationTimeout]);
  } catch {
    // A function error or timeout: API Gateway shows the client nothing of it.
    return send(response, 500, { message: 'Internal Server Error' });
  } finally {
    clearTimeout(timer);
  }
  if (result === 'timeout') return send(response, 503, { message: 'Service Unavailable' });
  writeResult(response, result, method === 'HEAD');
}

function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        resolve(undefined);
      } else chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
  });
}

const TEXT_CONTENT_TYPE =
  /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|problem\+json|[\w.+-]+\+(json|xml)))/i;

function toEvent(
  request: http.IncomingMessage,
  body: Buffer,
  context: { apiId: string; requestId: string; routeKey: string; url: URL; method: string },
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  const raw = request.rawHeaders;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = (raw[index] ?? '').toLowerCase();
    const value = raw[index + 1] ?? '';
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  // Payload 2.0 moves cookies out of the headers into their own list.
  const cookies = headers.cookie?.split(/;\s*/).filter(Boolean);
  delete headers.cookie;
  const rawQueryString = context.url.search.replace(/^\?/, '');
  const queryStringParameters: Record<string, string> = {};
  for (const [name, value] of context.url.searchParams) {
    queryStringParameters[name] =
      name in queryStringParameters ? `${queryStringParameters[name]},${value}` : value;
  }
  const host = headers.host ?? 'localhost';
  const now = new Date();
  const isText = TEXT_CONTENT_TYPE.test(headers['content-type'] ?? '');
  return {
    version: '2.0',
    routeKey: context.routeKey,
    rawPath: context.url.pathname,
    rawQueryString,
    ...(cookies && cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: context.apiId,
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: context.method,
        path: context.url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: (request.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: context.requestId,
      routeKey: context.routeKey,
      stage: '$default',
      time: formatRequestTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

/** API Gateway's result rules for payload 2.0: a result without `statusCode` is a 200 JSON body. */
function writeResult(response: http.ServerResponse, result: unknown, isHead: boolean): void {
  const structured =
    result !== null && typeof result === 'object' && 'statusCode' in result
      ? (result as APIGatewayProxyStructuredResultV2 & { multiValueHeaders?: Record<string, unknown[]> })
      : undefined;
  if (!structured) {
    const body = typeof result === 'string' ? result : JSON.stringify(result);
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    response.end(isHead ? undefined : body);
    return;
  }
  if (!Number.isInteger(structured.statusCode)) {
    send(response, 500, { message: 'Internal Server Error' });
    return;
  }
  for (const [name, value] of Object.entries(structured.headers ?? {}))
    response.setHeader(name, String(value));
  for (const [name, values] of Object.entries(structured.multiValueHeaders ?? {})) {
    response.setHeader(name, values.map(String));
  }
  if (structured.cookies && structured.cookies.length > 0)
    response.setHeader('set-cookie', structured.cookies);
  const body = Buffer.from(structured.body ?? '', structured.isBase64Encoded ? 'base64' : 'utf8');
  response.setHeader('content-length', body.length);
  response.statusCode = structured.statusCode ?? 200;
  response.end(isHead ? undefined : body);
}

function send(response: http.ServerResponse, statusCode: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(statusCode, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** `12/Mar/2020:19:03:58 +0000`, as in `requestContext.time`. */
function formatRequestTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}
