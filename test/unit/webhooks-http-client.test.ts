import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MAX_RESPONSE_BODY_BYTES,
  WebhookHttpClient,
} from '../../lambdas/webhooks/adapters/webhook-http-client';
import type { HostResolver } from '../../lambdas/webhooks/domain/target';

/** A real receiver on 127.0.0.1 (port 0): the only network these tests use. */
async function receiver(handle: (request: IncomingMessage, body: string, response: ServerResponse) => void) {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handle(request, Buffer.concat(chunks).toString('utf8'), response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const noDns: HostResolver = {
  resolve: async () => {
    throw new Error('unexpected DNS lookup');
  },
};
const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': '1717243200', 'webhook-signature': 'v1,abc' };
const clients: WebhookHttpClient[] = [];
function client(options: Partial<ConstructorParameters<typeof WebhookHttpClient>[0]> = {}) {
  const made = new WebhookHttpClient({
    timeoutMs: 2_000,
    allowPrivateTargets: true,
    requireHttps: false,
    resolver: noDns,
    ...options,
  });
  clients.push(made);
  return made;
}
const servers: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function serve(handle: Parameters<typeof receiver>[0]) {
  const server = await receiver(handle);
  servers.push(server);
  return server;
}

describe('WebhookHttpClient', () => {
  it('POSTs the body with the JSON, user-agent and Standard Webhooks headers', async () => {
    let seen: { method?: string; headers?: http.IncomingHttpHeaders; body?: string } = {};
    const server = await serve((request, body, response) => {
      seen = { method: request.method, headers: request.headers, body };
      response.writeHead(204).end();
    });
    const result = await client().post(server.url, '{"id":"evt_1"}', headers);

    expect(result).toMatchObject({ status: 204 });
    expect(result.error).toBeUndefined();
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('{"id":"evt_1"}');
    expect(seen.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'commerce-pipeline-webhooks/1',
      ...headers,
    });
  });

  it('reports a 500 with its reason and the start of the body', async () => {
    const server = await serve((_request, _body, response) => response.writeHead(500).end('database down'));
    expect(await client().post(server.url, '{}', headers)).toMatchObject({
      status: 500,
      error: 'HTTP 500',
      responseBody: 'database down',
    });
  });

  it('passes Retry-After on', async () => {
    const server = await serve((_request, _body, response) =>
      response.writeHead(429, { 'retry-after': '30' }).end(),
    );
    expect(await client().post(server.url, '{}', headers)).toMatchObject({ status: 429, retryAfter: '30' });
  });

  it('does not follow a redirect', async () => {
    let hits = 0;
    const server = await serve((_request, _body, response) => {
      hits += 1;
      response.writeHead(301, { location: '/elsewhere' }).end();
    });
    expect(await client().post(server.url, '{}', headers)).toMatchObject({
      status: 301,
      error: 'redirect not followed (HTTP 301)',
    });
    expect(hits).toBe(1);
  });

  it('gives up at the timeout on a receiver that never answers', async () => {
    const server = await serve(() => {});
    const started = Date.now();
    const result = await client({ timeoutMs: 300 }).post(server.url, '{}', headers);
    expect(result).toEqual({ durationMs: expect.any(Number), error: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
  });

  it('reports a refused connection', async () => {
    const server = await serve(() => {});
    const { url } = server;
    await server.close();
    servers.splice(0);
    expect(await client().post(url, '{}', headers)).toMatchObject({ error: 'connection refused' });
  });

  it('reaches a receiver by name (the local stack’s http://localhost:<port>)', async () => {
    const server = await serve((_request, _body, response) => response.writeHead(200).end());
    const result = await client().post(`http://localhost:${server.port}/hook`, '{}', headers);
    expect(result).toMatchObject({ status: 200 });
  });

  it('reads at most 4 KiB of the response body', async () => {
    const server = await serve((_request, _body, response) => {
      response.writeHead(400);
      response.end('x'.repeat(1_000_000));
    });
    const result = await client().post(server.url, '{}', headers);
    expect(result).toMatchObject({ status: 400, error: 'HTTP 400' });
    expect(result.responseBody).toHaveLength(MAX_RESPONSE_BODY_BYTES);
  });

  describe('with private targets refused', () => {
    it('refuses a loopback address without connecting', async () => {
      let hits = 0;
      const server = await serve((_request, _body, response) => {
        hits += 1;
        response.end();
      });
      const result = await client({ allowPrivateTargets: false }).post(server.url, '{}', headers);
      expect(result).toEqual({ durationMs: expect.any(Number), error: 'non-public address' });
      expect(hits).toBe(0);
    });

    it('refuses a name that now resolves to a private address (checked again at every attempt)', async () => {
      const server = await serve((_request, _body, response) => response.end());
      const resolver: HostResolver = { resolve: async () => ['127.0.0.1'] };
      const result = await client({ allowPrivateTargets: false, resolver }).post(
        `http://hooks.example.com:${server.port}/hook`,
        '{}',
        headers,
      );
      expect(result).toMatchObject({ error: 'non-public address' });
    });

    it('requires https when told to', async () => {
      const result = await client({ allowPrivateTargets: false, requireHttps: true }).post(
        'http://hooks.example.com/hook',
        '{}',
        headers,
      );
      expect(result).toMatchObject({ error: 'https required' });
    });
  });
});
