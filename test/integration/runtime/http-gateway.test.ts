import { request } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { httpTemplate } from '../../fixtures/stacks';
import { startTestStack, type TestStack } from '../support/test-stack';

// Emulator round trips, visibility timeouts and retries: more than jest's default 5 s per test or hook.
jest.setTimeout(30_000);

describe('HTTP API gateway (payload format 2.0)', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack(httpTemplate());
  });
  afterAll(() => stack.stop());

  it('turns a request into an API Gateway v2 event', async () => {
    // Act
    const response = await fetch(`${stack.apiUrl}/echo/a%20b?x=1&y=2&x=3`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Custom': 'yes', Cookie: 'c1=v1; c2=v2' },
      body: JSON.stringify({ hello: 'world' }),
    });
    const event = (await response.json()) as APIGatewayProxyEventV2;

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('apigw-requestid')).toBe(event.requestContext.requestId);
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/echo/a%20b',
      rawQueryString: 'x=1&y=2&x=3',
      cookies: ['c1=v1', 'c2=v2'],
      queryStringParameters: { x: '1,3', y: '2' },
      body: '{"hello":"world"}',
      isBase64Encoded: false,
      requestContext: {
        accountId: '000000000000',
        stage: '$default',
        routeKey: '$default',
        http: { method: 'POST', path: '/echo/a%20b', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' },
      },
    });
    expect(event.headers).toMatchObject({ 'content-type': 'application/json', 'x-custom': 'yes' });
    expect(event.headers.cookie).toBeUndefined();
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(5000);
    expect(event.requestContext.time).toMatch(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('selects a matching route over $default and passes its path parameters', async () => {
    const event = (await (await fetch(`${stack.apiUrl}/items/42`)).json()) as APIGatewayProxyEventV2;

    expect(event.routeKey).toBe('GET /items/{id}');
    expect(event.pathParameters).toEqual({ id: '42' });
    expect(event.body).toBeUndefined();
  });

  it('base64-encodes a binary request body', async () => {
    const event = (await (
      await fetch(`${stack.apiUrl}/echo`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array([0, 1, 2, 255]),
      })
    ).json()) as APIGatewayProxyEventV2;

    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('maps results by API Gateway rules: plain string, object without statusCode, binary with cookies', async () => {
    const text = await fetch(`${stack.apiUrl}/text`);
    const object = await fetch(`${stack.apiUrl}/object`);
    const binary = await fetch(`${stack.apiUrl}/binary`);

    expect([text.status, text.headers.get('content-type'), await text.text()]).toEqual([
      200,
      'application/json',
      'plain text',
    ]);
    expect([object.status, await object.json()]).toEqual([200, { hello: 'world' }]);
    expect(binary.status).toBe(201);
    expect(binary.headers.get('x-fixture')).toBe('yes');
    expect(binary.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(Buffer.from(await binary.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('answers 500 like API Gateway when the function throws or times out', async () => {
    const thrown = await fetch(`${stack.apiUrl}/throw`);
    const timedOut = await fetch(`${stack.apiUrl}/slow`);

    expect([thrown.status, await thrown.json()]).toEqual([500, { message: 'Internal Server Error' }]);
    expect([timedOut.status, await timedOut.json()]).toEqual([500, { message: 'Internal Server Error' }]);
    expect(stack.logs.some((line) => line.includes('Task timed out'))).toBe(true);
  });

  it('refuses a body over 10 MB with 413 without invoking the function', async () => {
    const invocationsBefore = stack.logs.length;
    const status = await new Promise<number>((resolve, reject) => {
      const outgoing = request(`${stack.apiUrl}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': 10 * 1024 * 1024 + 1 },
      });
      outgoing.on('response', (response) => resolve(response.statusCode ?? 0));
      outgoing.on('error', reject);
      outgoing.end();
    });
    const streamed = await fetch(`${stack.apiUrl}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(10 * 1024 * 1024 + 1),
    }).catch(() => undefined);

    expect(status).toBe(413);
    expect(streamed?.status ?? 413).toBe(413);
    expect(stack.logs.length).toBe(invocationsBefore);
  });

  it('gives the function its own environment: resolved template variables, endpoints, no parent variables', async () => {
    process.env.PARENT_ONLY_VARIABLE = 'leak';
    const { functionName, remainingTimeMs, env } = (await (await fetch(`${stack.apiUrl}/env`)).json()) as {
      functionName: string;
      remainingTimeMs: number;
      env: Record<string, string>;
    };

    expect(functionName).toBe(stack.ref('Echo'));
    expect(remainingTimeMs).toBeGreaterThan(0);
    expect(remainingTimeMs).toBeLessThanOrEqual(1000);
    expect(env).toMatchObject({
      OBSERVATIONS_TABLE_NAME: stack.ref('Observations'),
      AWS_LAMBDA_FUNCTION_NAME: functionName,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_DYNAMODB: stack.endpoints.dynamodb,
      AWS_ENDPOINT_URL_SQS: stack.endpoints.sqs,
      AWS_ENDPOINT_URL_S3: stack.endpoints.s3,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    });
    expect(env.PARENT_ONLY_VARIABLE).toBeUndefined();
    expect(env.PIPELINE_LOCAL_SECRETS).toBeUndefined();
  });
});
