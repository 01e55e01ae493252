import { signingSecrets } from '../../lambdas/webhooks/domain/endpoints';
import { ADMIN_KEY, acme, json, other, webhookApi } from './support/in-memory-api';
import { eventIdAt } from './support/webhook-fakes';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function withEndpoint(options: Parameters<typeof webhookApi>[0] = {}) {
  const setup = await webhookApi(options);
  const created = await setup.call(
    'POST',
    '/v1/webhooks',
    json({ url: 'https://hooks.example.com/zap', events: ['transaction.created'], description: 'Zapier' }),
  );
  expect(created.status).toBe(201);
  return { ...setup, endpoint: created.body as { id: string; secret: string } };
}

const fields = (body: { errors: { field: string }[] }) => body.errors.map((e) => e.field);

describe('webhook endpoints', () => {
  describe('POST /v1/webhooks', () => {
    it('creates an enabled endpoint and shows its secret only here', async () => {
      const { call, endpoint, deps } = await withEndpoint();
      expect(endpoint).toEqual({
        id: expect.stringMatching(/^ep_[0-9A-Z]{26}$/),
        url: 'https://hooks.example.com/zap',
        events: ['transaction.created'],
        description: 'Zapier',
        status: 'enabled',
        secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
        createdAt: '2024-06-01T12:00:00.000Z',
        updatedAt: '2024-06-01T12:00:00.000Z',
      });
      expect(deps.endpoints.items.get(`acme#${endpoint.id}`)?.secrets).toEqual([{ secret: endpoint.secret }]);
      const listed = await call('GET', '/v1/webhooks', { headers: acme });
      const fetched = await call('GET', `/v1/webhooks/${endpoint.id}`, { headers: acme });
      expect(JSON.stringify([listed.body, fetched.body])).not.toContain('whsec_');
    });

    it('keeps "*" alone and drops duplicate types', async () => {
      const { call } = await webhookApi();
      const all = await call(
        'POST',
        '/v1/webhooks',
        json({ url: 'https://hooks.example.com/', events: ['*', 'datafeed.ready'] }),
      );
      const dup = await call(
        'POST',
        '/v1/webhooks',
        json({ url: 'https://hooks.example.com/', events: ['datafeed.ready', 'datafeed.ready'] }),
      );
      expect([all.body.events, dup.body.events]).toEqual([['*'], ['datafeed.ready']]);
    });

    it('replays the 201 (and the same secret) for a repeated Idempotency-Key', async () => {
      const { call, deps } = await webhookApi();
      const request = [
        'POST',
        '/v1/webhooks',
        json(
          { url: 'https://hooks.example.com/', events: ['*'] },
          { ...acme, 'idempotency-key': 'create-1' },
        ),
      ] as const;
      const first = await call(...request);
      const again = await call(...request);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(deps.endpoints.items.size).toBe(1);
    });

    it.each([
      ['the metadata service', 'http://169.254.169.254/latest/meta-data/'],
      ['IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/'],
      ['decimal loopback', 'http://2130706433/'],
      ['hex loopback', 'http://0x7f000001/'],
      ['localhost', 'http://localhost:8080/'],
      ['a private network', 'http://10.1.2.3/'],
      ['CGNAT', 'http://100.64.0.1/'],
      ['the unspecified address', 'http://0.0.0.0/'],
      ['a name resolving privately', 'https://internal.example.com/'],
      ['a name with one private address', 'https://rebind.example.com/'],
      ['a name that does not resolve', 'https://nowhere.example.com/'],
      ['another scheme', 'ftp://hooks.example.com/'],
      ['credentials in the URL', 'https://user:pass@hooks.example.com/'],
      ['no URL at all', 'hooks.example.com'],
    ])('answers 422 for %s and stores nothing', async (_label, url) => {
      const { call, deps } = await webhookApi();
      const response = await call('POST', '/v1/webhooks', json({ url, events: ['*'] }));
      expect(response.status).toBe(422);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.body).toMatchObject({ status: 422, errors: [{ field: 'url' }] });
      expect(deps.endpoints.items.size).toBe(0);
    });

    it('requires https when the policy says so (AWS), and allows private targets when allowed (local)', async () => {
      const aws = await webhookApi({ requireHttps: true });
      const plain = await aws.call(
        'POST',
        '/v1/webhooks',
        json({ url: 'http://hooks.example.com/', events: ['*'] }),
      );
      expect(plain.status).toBe(422);
      expect(plain.body.detail).toMatch(/https/);
      const local = await webhookApi({ allowPrivate: true });
      const loopback = await local.call(
        'POST',
        '/v1/webhooks',
        json({ url: 'http://127.0.0.1:9000/', events: ['*'] }),
      );
      expect(loopback.status).toBe(201);
    });

    it.each([
      ['events.0', { url: 'https://hooks.example.com/', events: ['order.created'] }],
      ['events', { url: 'https://hooks.example.com/', events: [] }],
      ['events', { url: 'https://hooks.example.com/' }],
      ['url', { url: 42, events: ['*'] }],
      ['description', { url: 'https://hooks.example.com/', events: ['*'], description: 'x'.repeat(501) }],
      ['(body)', { url: 'https://hooks.example.com/', events: ['*'], secret: 'mine' }],
    ])('answers 400 naming %s', async (field, body) => {
      const { call } = await webhookApi();
      const response = await call('POST', '/v1/webhooks', json(body));
      expect(response.status).toBe(400);
      expect(fields(response.body)).toContain(field);
    });
  });

  describe('store isolation and auth', () => {
    const routes = (id: string) =>
      [
        ['GET', `/v1/webhooks/${id}`, undefined],
        ['PATCH', `/v1/webhooks/${id}`, { status: 'disabled' }],
        ['DELETE', `/v1/webhooks/${id}`, undefined],
        ['POST', `/v1/webhooks/${id}/rotate-secret`, undefined],
        ['GET', `/v1/webhooks/${id}/attempts`, undefined],
        ['POST', `/v1/webhooks/${id}/replay`, { since: '2024-06-01T00:00:00Z' }],
      ] as const;

    it('answers 404 for another store’s endpoint on every route, and changes nothing', async () => {
      const { call, endpoint, deps } = await withEndpoint();
      const before = JSON.stringify([...deps.endpoints.items.values()]);
      for (const [method, path, body] of routes(endpoint.id)) {
        const response = await call(method, path, { headers: other, body: body && JSON.stringify(body) });
        expect([method, path, response.status]).toEqual([method, path, 404]);
      }
      expect(JSON.stringify([...deps.endpoints.items.values()])).toBe(before);
      expect(deps.replays.jobs).toHaveLength(0);
      expect((await call('GET', '/v1/webhooks', { headers: other })).body).toEqual({ data: [] });
    });

    it('answers 404 for unknown and malformed ids', async () => {
      const { call } = await webhookApi();
      for (const id of ['ep_01J00000000000000000000000', 'nope', '%E0%A4%A', 'x'.repeat(2000)]) {
        for (const [method, path, body] of routes(id)) {
          const response = await call(method, path, { headers: acme, body: body && JSON.stringify(body) });
          expect([method, path.slice(0, 40), response.status]).toEqual([method, path.slice(0, 40), 404]);
        }
      }
    });

    it('answers 401 without a store key on every route', async () => {
      const { call, endpoint } = await withEndpoint();
      const all = [
        ...routes(endpoint.id),
        ['GET', '/v1/webhooks', undefined],
        ['POST', '/v1/webhooks', { url: 'https://hooks.example.com/', events: ['*'] }],
      ] as const;
      for (const headers of [{}, { authorization: `Bearer ${ADMIN_KEY}` }] as Record<string, string>[]) {
        for (const [method, path, body] of all) {
          const response = await call(method, path, { headers, body: body && JSON.stringify(body) });
          expect([method, path, response.status]).toEqual([method, path, 401]);
        }
      }
    });
  });

  describe('GET, PATCH and DELETE /v1/webhooks/{id}', () => {
    it('gets and lists the endpoint', async () => {
      const { call, endpoint } = await withEndpoint();
      const { secret: _secret, ...rest } = endpoint;
      const shown = { ...rest, stats: { since: '2024-05-31T13:00:00.000Z', succeeded: 0, failed: 0 } };
      expect((await call('GET', `/v1/webhooks/${endpoint.id}`, { headers: acme })).body).toEqual(shown);
      expect((await call('GET', '/v1/webhooks', { headers: acme })).body).toEqual({ data: [shown] });
    });

    it('disables manually, and enabling clears the reason and the failing state', async () => {
      const { call, endpoint, deps, clock } = await withEndpoint();
      await deps.endpoints.recordFailure('acme', endpoint.id, '2024-05-30T00:00:00.000Z');
      clock.now += HOUR;
      const disabled = await call('PATCH', `/v1/webhooks/${endpoint.id}`, json({ status: 'disabled' }));
      expect(disabled.body).toMatchObject({
        status: 'disabled',
        disabledReason: 'manual',
        updatedAt: '2024-06-01T13:00:00.000Z',
      });
      const enabled = await call('PATCH', `/v1/webhooks/${endpoint.id}`, json({ status: 'enabled' }));
      expect(enabled.status).toBe(200);
      expect(enabled.body.status).toBe('enabled');
      expect(enabled.body.disabledReason).toBeUndefined();
      const stored = deps.endpoints.items.get(`acme#${endpoint.id}`);
      expect(stored?.failingSince).toBeUndefined();
      expect(stored?.secrets).toEqual([{ secret: endpoint.secret }]);
    });

    it('changes url, events and description, checking a new url again', async () => {
      const { call, endpoint } = await withEndpoint();
      const changed = await call(
        'PATCH',
        `/v1/webhooks/${endpoint.id}`,
        json({ url: 'https://other.example.com/x', events: ['*'], description: 'new' }),
      );
      expect(changed.body).toMatchObject({
        url: 'https://other.example.com/x',
        events: ['*'],
        description: 'new',
      });
      const hostile = await call(
        'PATCH',
        `/v1/webhooks/${endpoint.id}`,
        json({ url: 'http://169.254.169.254/' }),
      );
      expect(hostile.status).toBe(422);
      expect((await call('GET', `/v1/webhooks/${endpoint.id}`, { headers: acme })).body.url).toBe(
        'https://other.example.com/x',
      );
    });

    it.each([
      ['(body)', {}],
      ['status', { status: 'paused' }],
      ['events.0', { events: ['nope'] }],
      ['(body)', { secrets: [] }],
    ])('answers 400 naming %s', async (field, body) => {
      const { call, endpoint } = await withEndpoint();
      const response = await call('PATCH', `/v1/webhooks/${endpoint.id}`, json(body));
      expect(response.status).toBe(400);
      expect(fields(response.body)).toContain(field);
    });

    it('deletes with 204, then 404', async () => {
      const { call, endpoint } = await withEndpoint();
      const deleted = await call('DELETE', `/v1/webhooks/${endpoint.id}`, { headers: acme });
      expect([deleted.status, deleted.body]).toEqual([204, undefined]);
      expect((await call('DELETE', `/v1/webhooks/${endpoint.id}`, { headers: acme })).status).toBe(404);
      expect((await call('GET', `/v1/webhooks/${endpoint.id}`, { headers: acme })).status).toBe(404);
    });
  });

  describe('POST /v1/webhooks/{id}/rotate-secret', () => {
    it('signs with both secrets for 24 h, then with the new one only', async () => {
      const { call, endpoint, deps, clock } = await withEndpoint();
      const rotated = await call('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { headers: acme });
      expect(rotated.status).toBe(200);
      expect(rotated.body).toEqual({ secret: expect.stringMatching(/^whsec_/) });
      expect(rotated.body.secret).not.toBe(endpoint.secret);
      const stored = () => {
        const found = deps.endpoints.items.get(`acme#${endpoint.id}`);
        if (!found) throw new Error('endpoint missing');
        return found;
      };
      expect(stored().secrets).toEqual([
        { secret: rotated.body.secret },
        { secret: endpoint.secret, expiresAt: '2024-06-02T12:00:00.000Z' },
      ]);
      expect(signingSecrets(stored(), clock.now + DAY - 1)).toEqual([rotated.body.secret, endpoint.secret]);
      expect(signingSecrets(stored(), clock.now + DAY)).toEqual([rotated.body.secret]);
    });

    it('keeps an earlier rotated secret until its own expiry and drops expired ones', async () => {
      const { call, endpoint, deps, clock } = await withEndpoint();
      const second = await call('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { headers: acme });
      clock.now += 12 * HOUR;
      const third = await call('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { headers: acme });
      expect(deps.endpoints.items.get(`acme#${endpoint.id}`)?.secrets).toEqual([
        { secret: third.body.secret },
        { secret: second.body.secret, expiresAt: '2024-06-03T00:00:00.000Z' },
        { secret: endpoint.secret, expiresAt: '2024-06-02T12:00:00.000Z' },
      ]);
      clock.now += DAY;
      const fourth = await call('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { headers: acme });
      expect(deps.endpoints.items.get(`acme#${endpoint.id}`)?.secrets).toEqual([
        { secret: fourth.body.secret },
        { secret: third.body.secret, expiresAt: '2024-06-04T00:00:00.000Z' },
      ]);
    });

    it('replays the same secret for a repeated Idempotency-Key', async () => {
      const { call, endpoint, deps } = await withEndpoint();
      const headers = { ...acme, 'idempotency-key': 'rotate-1' };
      const first = await call('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { headers });
      const again = await call('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { headers });
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(deps.endpoints.items.get(`acme#${endpoint.id}`)?.secrets).toHaveLength(2);
    });
  });

  describe('GET /v1/webhooks/{id}/attempts', () => {
    it('lists attempts newest first, without the endpoint id, up to the limit', async () => {
      const { call, endpoint, deps } = await withEndpoint();
      const first = eventIdAt(Date.parse('2024-06-01T10:00:00Z'));
      const second = eventIdAt(Date.parse('2024-06-01T11:00:00Z'));
      const attempt = (eventId: string, n: number, status: 'succeeded' | 'failed') => ({
        endpointId: endpoint.id,
        eventId,
        attempt: n,
        status,
        durationMs: 10,
        at: '2024-06-01T11:00:00.000Z',
        ...(status === 'failed' ? { responseStatus: 500, error: 'HTTP 500' } : { responseStatus: 200 }),
      });
      await deps.attempts.record(attempt(first, 1, 'failed'));
      await deps.attempts.record(attempt(first, 2, 'succeeded'));
      await deps.attempts.record(attempt(second, 1, 'succeeded'));
      const all = await call('GET', `/v1/webhooks/${endpoint.id}/attempts`, { headers: acme });
      expect(all.status).toBe(200);
      expect(all.body.data.map((a: { eventId: string; attempt: number }) => [a.eventId, a.attempt])).toEqual([
        [second, 1],
        [first, 2],
        [first, 1],
      ]);
      expect(all.body.data[2]).toEqual({
        eventId: first,
        attempt: 1,
        status: 'failed',
        trigger: 'scheduled',
        responseStatus: 500,
        error: 'HTTP 500',
        durationMs: 10,
        at: '2024-06-01T11:00:00.000Z',
      });
      const limited = await call('GET', `/v1/webhooks/${endpoint.id}/attempts`, {
        headers: acme,
        query: 'limit=1',
      });
      expect(limited.body.data).toHaveLength(1);
    });

    it.each(['0', '101', '-1', '1.5', 'ten', ''])('answers 400 naming limit for limit=%s', async (limit) => {
      const { call, endpoint } = await withEndpoint();
      const response = await call('GET', `/v1/webhooks/${endpoint.id}/attempts`, {
        headers: acme,
        query: `limit=${limit}`,
      });
      expect(response.status).toBe(400);
      expect(fields(response.body)).toEqual(['limit']);
    });
  });

  describe('POST /v1/webhooks/{id}/replay', () => {
    async function withEvents() {
      const setup = await withEndpoint();
      const at = (iso: string) => Date.parse(iso);
      const put = (iso: string, type: 'transaction.created' | 'datafeed.ready') =>
        setup.deps.events.put(
          { id: eventIdAt(at(iso)), type, createdAt: iso, storeId: 'acme', data: {} },
          'transaction',
        );
      await put('2024-05-20T00:00:00.000Z', 'transaction.created');
      await put('2024-05-31T00:00:00.000Z', 'transaction.created');
      await put('2024-05-31T06:00:00.000Z', 'datafeed.ready');
      await put('2024-06-01T11:00:00.000Z', 'transaction.created');
      await setup.deps.events.put(
        {
          id: eventIdAt(at('2024-05-31T01:00:00Z')),
          type: 'transaction.created',
          createdAt: '',
          storeId: 'other',
          data: {},
        },
        'transaction',
      );
      return setup;
    }

    it('counts the window’s events and sends one replay job', async () => {
      const { call, endpoint, deps } = await withEvents();
      const response = await call(
        'POST',
        `/v1/webhooks/${endpoint.id}/replay`,
        json({ since: '2024-05-31T00:00:00Z', until: '2024-06-01T00:00:00Z' }),
      );
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ replayId: expect.stringMatching(/^rpl_[0-9A-Z]{26}$/), count: 2 });
      expect(deps.replays.jobs).toEqual([
        {
          storeId: 'acme',
          endpointId: endpoint.id,
          replayId: response.body.replayId,
          since: Date.parse('2024-05-31T00:00:00Z'),
          until: Date.parse('2024-06-01T00:00:00Z'),
        },
      ]);
    });

    it('filters by type, and until defaults to now', async () => {
      const { call, endpoint, deps } = await withEvents();
      const response = await call(
        'POST',
        `/v1/webhooks/${endpoint.id}/replay`,
        json({ since: '2024-05-30T00:00:00Z', events: ['transaction.created'] }),
      );
      expect(response.body.count).toBe(2);
      expect(deps.replays.jobs[0]).toMatchObject({
        until: Date.parse('2024-06-01T12:00:00Z'),
        types: ['transaction.created'],
      });
    });

    it('counts past a page of events', async () => {
      const { call, endpoint, deps } = await withEndpoint();
      for (let i = 0; i < 250; i += 1) {
        const at = Date.parse('2024-05-31T00:00:00Z') + i * 1000;
        await deps.events.put(
          { id: eventIdAt(at), type: 'transaction.created', createdAt: '', storeId: 'acme', data: {} },
          'transaction',
        );
      }
      const response = await call(
        'POST',
        `/v1/webhooks/${endpoint.id}/replay`,
        json({ since: '2024-05-30T00:00:00Z' }),
      );
      expect(response.body.count).toBe(250);
    });

    it.each([
      ['until', { since: '2024-05-31T00:00:00Z', until: '2024-05-30T00:00:00Z' }],
      ['until', { since: '2024-05-31T00:00:00Z', until: '2024-05-31T00:00:00Z' }],
      ['since', { since: '2024-04-01T00:00:00Z', until: '2024-05-31T00:00:00Z' }],
      ['since', { since: '2024-04-01T00:00:00Z' }],
      ['since', { since: '2024-06-02T00:00:00Z' }],
      ['until', { since: '2024-05-31T00:00:00Z', until: '2024-06-02T00:00:00Z' }],
      ['since', { since: 'last week' }],
      ['since', {}],
      ['events.0', { since: '2024-05-31T00:00:00Z', events: ['*'] }],
      ['events', { since: '2024-05-31T00:00:00Z', events: [] }],
    ])('answers 400 naming %s for an inverted, too large or malformed window', async (field, body) => {
      const { call, endpoint, deps } = await withEndpoint();
      const response = await call('POST', `/v1/webhooks/${endpoint.id}/replay`, json(body));
      expect(response.status).toBe(400);
      expect(fields(response.body)).toContain(field);
      expect(deps.replays.jobs).toHaveLength(0);
    });

    it('accepts a window of exactly 30 days', async () => {
      const { call, endpoint } = await withEndpoint();
      const response = await call(
        'POST',
        `/v1/webhooks/${endpoint.id}/replay`,
        json({ since: '2024-05-01T00:00:00Z', until: '2024-05-31T00:00:00Z' }),
      );
      expect(response.status).toBe(202);
    });

    it('replays the first 202 for a repeated Idempotency-Key, sending one job', async () => {
      const { call, endpoint, deps } = await withEvents();
      const request = [
        'POST',
        `/v1/webhooks/${endpoint.id}/replay`,
        json({ since: '2024-05-31T00:00:00Z' }, { ...acme, 'idempotency-key': 'refeed-1' }),
      ] as const;
      const first = await call(...request);
      const again = await call(...request);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(deps.replays.jobs).toHaveLength(1);
    });
  });
});
