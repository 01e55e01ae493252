import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** Builds an API Gateway HTTP API (payload v2) event as API Gateway would deliver it. */
export function apiEvent(
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; query?: string; base64?: boolean } = {},
): APIGatewayProxyEventV2 {
  const body = options.body;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: options.query ?? '',
    headers: { 'content-type': 'application/json', ...options.headers },
    queryStringParameters: options.query
      ? Object.fromEntries(new URLSearchParams(options.query).entries())
      : undefined,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'jest' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    body: body === undefined ? undefined : options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: Boolean(options.base64),
  };
}

/** Calls an API built by createApi as API Gateway would, and decodes its answer: `{status, headers, body}`. */
export function callerFor(
  api: (
    event: APIGatewayProxyEventV2,
    secrets: { adminApiKey: string },
  ) => Promise<APIGatewayProxyStructuredResultV2>,
  adminApiKey: string,
) {
  return async (...args: Parameters<typeof apiEvent>) => {
    const result = await api(apiEvent(...args), { adminApiKey });
    const text = typeof result.body === 'string' ? result.body : '';
    return {
      status: result.statusCode ?? 0,
      headers: (result.headers ?? {}) as Record<string, string>,
      // XML (the datafeed) stays text; everything else the API answers is JSON.
      body: text ? (text.startsWith('<?xml') ? text : JSON.parse(text)) : undefined,
    };
  };
}
