import fc from 'fast-check';
import { Authenticator } from '../../lambdas/api/authenticator';
import { createApi } from '../../lambdas/api/create-api';
import { hashApiKey } from '../../lambdas/stores/domain/api-keys';
import { apiEvent, callerFor } from './support/api-events';
import { webhookDependencies } from './support/in-memory-api';
import { InMemoryIdempotencyStore, InMemoryStoresRepository } from './support/in-memory-ports';
import { silentLogger } from './support/logger';

const ADMIN_KEY = 'admin-key-for-tests-0123456789';
const secrets = { adminApiKey: ADMIN_KEY };
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

function setup() {
  const stores = new InMemoryStoresRepository();
  const idempotency = new InMemoryIdempotencyStore();
  const api = createApi(
    webhookDependencies({ stores, idempotency, now: () => 1_700_000_000_000 }),
    silentLogger,
  );
  return { api, call: callerFor(api, secrets.adminApiKey), stores, idempotency };
}

const createStore = (body: unknown, headers: Record<string, string> = {}) =>
  ['POST', '/v1/admin/stores', { body: JSON.stringify(body), headers: { ...admin, ...headers } }] as const;

describe('HTTP API', () => {
  it('answers health without a key', async () => {
    const { call } = setup();
    expect(await call('GET', '/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  describe('POST /v1/admin/stores', () => {
    it('creates a store and shows its key once, storing only the digest', async () => {
      const { call, stores } = setup();
      const response = await call(...createStore({ id: 'acme', name: 'Acme' }));
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({
        id: 'acme',
        name: 'Acme',
        apiKey: expect.stringMatching(/^sk_store_/),
      });
      expect([...stores.keys.keys()]).toEqual([hashApiKey(response.body.apiKey)]);
      expect(JSON.stringify([...stores.stores.values()])).not.toContain(response.body.apiKey);
    });

    it('refuses a duplicate id with 409', async () => {
      const { call } = setup();
      await call(...createStore({ id: 'acme', name: 'Acme' }));
      const again = await call(...createStore({ id: 'acme', name: 'Other' }));
      expect(again.status).toBe(409);
      expect(again.headers['content-type']).toBe('application/problem+json');
    });

    it.each([
      ['no key', {}],
      ['a wrong key', { authorization: 'Bearer nope' }],
      ['another scheme', { authorization: `Basic ${ADMIN_KEY}` }],
    ])('answers 401 with %s', async (_label, headers) => {
      const { call } = setup();
      const response = await call('POST', '/v1/admin/stores', { body: '{"id":"a","name":"A"}', headers });
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(response.body).toMatchObject({ status: 401, title: 'Unauthorized', type: expect.any(String) });
    });

    it('does not accept a store key on an admin route', async () => {
      const { call } = setup();
      const { body } = await call(...createStore({ id: 'acme', name: 'Acme' }));
      const response = await call('POST', '/v1/admin/stores', {
        body: '{"id":"b","name":"B"}',
        headers: { authorization: `Bearer ${body.apiKey}` },
      });
      expect(response.status).toBe(401);
    });

    it('answers 400 naming each invalid field', async () => {
      const { call } = setup();
      const response = await call(...createStore({ id: 'Not Valid!', name: 42, extra: true }));
      expect(response.status).toBe(400);
      expect(response.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
        '(body)',
        'id',
        'name',
      ]);
    });

    it.each([
      ['malformed JSON', '{"id": '],
      ['an empty body', ''],
      ['a JSON array', '[]'],
      ['a JSON string', '"store"'],
    ])('answers 400 for %s', async (_label, body) => {
      const { call } = setup();
      const response = await call('POST', '/v1/admin/stores', { body, headers: admin });
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toBe('application/problem+json');
    });

    it('answers 413 for a body over 256 KiB, before parsing it', async () => {
      const { call } = setup();
      const body = JSON.stringify({ id: 'big', name: 'x'.repeat(256 * 1024) });
      const response = await call('POST', '/v1/admin/stores', { body, headers: admin });
      expect(response.status).toBe(413);
    });

    it('decodes base64 bodies', async () => {
      const { call } = setup();
      const response = await call('POST', '/v1/admin/stores', {
        body: JSON.stringify({ id: 'b64', name: 'B' }),
        headers: admin,
        base64: true,
      });
      expect(response.status).toBe(201);
    });

    it('answers 415 for a declared non-JSON body', async () => {
      const { call } = setup();
      const response = await call('POST', '/v1/admin/stores', {
        body: '<store/>',
        headers: { ...admin, 'content-type': 'application/xml' },
      });
      expect(response.status).toBe(415);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first response for the same key and body', async () => {
      const { call } = setup();
      const first = await call(...createStore({ id: 'acme', name: 'Acme' }, { 'idempotency-key': 'k1' }));
      const again = await call(...createStore({ name: 'Acme', id: 'acme' }, { 'idempotency-key': 'k1' }));
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(first.headers['idempotent-replayed']).toBeUndefined();
    });

    it('answers 422 for the same key with another body', async () => {
      const { call } = setup();
      await call(...createStore({ id: 'acme', name: 'Acme' }, { 'idempotency-key': 'k1' }));
      const other = await call(...createStore({ id: 'other', name: 'Other' }, { 'idempotency-key': 'k1' }));
      expect(other.status).toBe(422);
    });

    it('answers 409 while the first request with the key is in flight', async () => {
      const { api, stores } = setup();
      let release: () => void = () => {};
      const original = stores.create.bind(stores);
      stores.create = async (...args) => {
        await new Promise<void>((resolve) => (release = resolve));
        return original(...args);
      };
      const event = apiEvent(...createStore({ id: 'acme', name: 'Acme' }, { 'idempotency-key': 'k1' }));
      const first = api(event, secrets);
      await new Promise((resolve) => setImmediate(resolve));
      const second = await api(event, secrets);
      expect(second.statusCode).toBe(409);
      release();
      expect((await first).statusCode).toBe(201);
    });

    it('replays a stored 4xx answer, but not a validation failure', async () => {
      const { call } = setup();
      await call(...createStore({ id: 'acme', name: 'Acme' }));
      const conflict = await call(...createStore({ id: 'acme', name: 'Acme' }, { 'idempotency-key': 'dup' }));
      const replay = await call(...createStore({ id: 'acme', name: 'Acme' }, { 'idempotency-key': 'dup' }));
      expect([conflict.status, replay.status, replay.headers['idempotent-replayed']]).toEqual([
        409,
        409,
        'true',
      ]);

      const invalid = await call(...createStore({ id: '', name: 'X' }, { 'idempotency-key': 'fixme' }));
      const fixed = await call(...createStore({ id: 'fixed', name: 'X' }, { 'idempotency-key': 'fixme' }));
      expect([invalid.status, fixed.status]).toEqual([400, 201]);
    });

    it('lets a retry run after a server error', async () => {
      const { call, stores } = setup();
      const original = stores.create.bind(stores);
      stores.create = async () => {
        throw new Error('database unavailable');
      };
      const failed = await call(...createStore({ id: 'acme', name: 'Acme' }, { 'idempotency-key': 'k' }));
      expect(failed.status).toBe(500);
      expect(failed.body.detail).not.toContain('database unavailable');
      stores.create = original;
      const retried = await call(...createStore({ id: 'acme', name: 'Acme' }, { 'idempotency-key': 'k' }));
      expect(retried.status).toBe(201);
    });

    it('answers 503 with Retry-After when the store is throttled', async () => {
      const { call, stores } = setup();
      stores.create = async () => {
        throw Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
      };
      const response = await call(...createStore({ id: 'acme', name: 'Acme' }));
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
    });

    it('refuses keys that are too long or not printable', async () => {
      const { call } = setup();
      const long = await call(...createStore({ id: 'a', name: 'A' }, { 'idempotency-key': 'k'.repeat(256) }));
      const spaced = await call(...createStore({ id: 'a', name: 'A' }, { 'idempotency-key': 'has space' }));
      expect([long.status, spaced.status]).toEqual([400, 400]);
    });
  });

  describe('routing', () => {
    it('answers 404 for an unknown path and 405 with Allow for a known path', async () => {
      const { call } = setup();
      expect((await call('GET', '/v1/nothing')).status).toBe(404);
      const wrongMethod = await call('GET', '/v1/admin/stores', { headers: admin });
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.allow).toBe('POST');
    });
  });

  describe('store keys', () => {
    it('are looked up once, remembered for the cache TTL, then looked up again', async () => {
      const stores = new InMemoryStoresRepository();
      let clock = 0;
      const auth = new Authenticator(stores, { now: () => clock, cacheTtlMs: 60_000 });
      await stores.create({ id: 'acme', name: 'Acme', createdAt: '' }, hashApiKey('sk_store_known'));
      const request = {
        method: 'GET',
        path: '/',
        headers: { authorization: 'Bearer sk_store_known' },
        query: {},
        rawBody: '',
        requestId: 'r',
      };
      expect(await auth.store(request)).toBe('acme');
      expect(await auth.store(request)).toBe('acme');
      expect(stores.lookups).toBe(1);
      clock += 60_001;
      expect(await auth.store(request)).toBe('acme');
      expect(stores.lookups).toBe(2);
      await expect(
        auth.store({ ...request, headers: { authorization: 'Bearer wrong' } }),
      ).rejects.toMatchObject({
        status: 401,
      });
    });
  });

  it('never answers 5xx to any request a client can send', async () => {
    const { api } = setup();
    const method = fc.constantFrom('GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS');
    const path = fc.oneof(
      fc.constantFrom('/health', '/v1/admin/stores', '/v1/admin/stores/', '/v1/%E0%A4%A', '/'),
      fc.webPath(),
    );
    const body = fc.oneof(
      fc.string(),
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ id: fc.string(), name: fc.anything() }).map((v) => JSON.stringify(v)),
    );
    const headers = fc.record(
      {
        authorization: fc.oneof(fc.constant(`Bearer ${ADMIN_KEY}`), fc.string()),
        'idempotency-key': fc.string(),
        'content-type': fc.oneof(fc.constant('application/json'), fc.string()),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(method, path, body, headers, async (m, p, b, h) => {
        const result = await api(apiEvent(m, p, { body: b, headers: h }), secrets);
        expect(result.statusCode).toBeLessThan(500);
        expect(() => JSON.parse(result.body ?? '')).not.toThrow();
      }),
      { numRuns: 400 },
    );
  });
});
