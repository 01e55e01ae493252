import fc from 'fast-check';
import { EVENT_TYPES } from '../../lambdas/events/domain/events';
import { encodeAttemptsCursor } from '../../lambdas/webhooks/domain/attempt-log';
import { apiEvent } from './support/api-events';
import { ADMIN_KEY, STORE_KEY, webhookApi } from './support/in-memory-api';

/**
 * Whatever a client sends to any route, the answer is never a 5xx and always a JSON (or empty) body: client
 * mistakes are 4xx. Bodies mix pure noise with near-valid documents, whose fields get random values, so the
 * validation and the domain code behind it are reached too.
 */
describe('API under random requests', () => {
  it('never answers 5xx on any route', async () => {
    const { api, call, deps } = await webhookApi();
    const created = await call('POST', '/v1/webhooks', {
      body: JSON.stringify({ url: 'https://hooks.example.com/', events: ['*'] }),
      headers: { authorization: `Bearer ${STORE_KEY}` },
    });
    const realId: string = created.body.id;
    // A stored event of the store, and one of another store (resend).
    const eventOf = (storeId: string, id: string) =>
      deps.events.put(
        { id, type: 'transaction.created', createdAt: '2024-06-01T00:00:00.000Z', storeId, data: {} },
        'transaction',
      );
    await eventOf('acme', 'evt_01HZ9TQFGR6G4TRDPVDHGNXX62');
    await eventOf('other', 'evt_01HZ9TQFGR6G4TRDPVDHGNXX63');
    for (const [attempt, status] of [
      [1, 'failed'],
      [2, 'succeeded'],
    ] as const) {
      await deps.attempts.record({
        endpointId: realId,
        eventId: 'evt_01HZ9TQFGR6G4TRDPVDHGNXX62',
        attempt,
        status,
        responseBody: '\u0000<script>',
        durationMs: 1,
        at: '2024-06-01T00:00:00.000Z',
      });
    }
    const eventId = fc.oneof(
      fc.constantFrom(
        'evt_01HZ9TQFGR6G4TRDPVDHGNXX62',
        'evt_01HZ9TQFGR6G4TRDPVDHGNXX63',
        'evt_8ZZZZZZZZZZZZZZZZZZZZZZZZZ',
      ),
      fc.string({ minLength: 1 }).map(encodeURIComponent),
    );

    const id = fc.oneof(
      fc.constant(realId),
      fc.constant('ep_01J00000000000000000000000'),
      fc.string({ minLength: 1 }).map(encodeURIComponent),
      fc.string({ minLength: 1000, maxLength: 3000 }).map(encodeURIComponent),
      fc.constantFrom('%E0%A4%A', '..', '%2F'),
    );
    const path = fc.oneof(
      fc.constantFrom('/v1/transactions', '/v1/webhooks', '/v1/events', '/v1/transactions/', '/v1/webhooks/'),
      id.map((i) => `/v1/webhooks/${i}`),
      id.map((i) => `/v1/webhooks/${i}/rotate-secret`),
      id.map((i) => `/v1/webhooks/${i}/attempts`),
      eventId.map((e) => `/v1/events/${e}`),
      id.map((i) => `/v1/webhooks/${i}/replay`),
      id.map((i) => `/v1/webhooks/${i}/recover`),
      id.map((i) => `/v1/webhooks/${i}/test`),
      fc.tuple(id, eventId).map(([i, e]) => `/v1/webhooks/${i}/events/${e}/resend`),
      fc.constantFrom('/v1/subscriptions', '/v1/admin/subscription-runs', '/v1/subscriptions/sub_fuzz'),
      id.map((i) => `/v1/subscriptions/${i}`),
      fc
        .oneof(id, fc.constantFrom('2026-11-22', '2026-02-30', '9999-99-99'))
        .map((i) => `/v1/admin/subscription-runs/${i}`),
      fc
        .oneof(id, fc.constantFrom('2026-11-22', '2026-13-01'))
        .map((i) => `/v1/datafeeds/subscriptions/${i}`),
      fc.webPath(),
    );
    const method = fc.constantFrom('GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS');
    const time = fc
      .date({ min: new Date(-1e14), max: new Date(1e14), noInvalidDate: true })
      .map((d) => d.toISOString());
    const queryValue = fc.oneof(
      fc.string(),
      time,
      fc.integer().map(String),
      fc.constantFrom(...EVENT_TYPES, 'evt_01J00000000000000000000000', 'evt_8ZZZZZZZZZZZZZZZZZZZZZZZZZ'),
      // The attempts log's and the events' parameters: filters, orders and cursors, real and forged.
      fc.constantFrom('succeeded', 'failed', 'sending', 'asc', 'desc'),
      fc
        .constantFrom('evt_01HZ9TQFGR6G4TRDPVDHGNXX62', 'evt_8ZZZZZZZZZZZZZZZZZZZZZZZZZ')
        .map((e) => encodeAttemptsCursor(`${e}#0#ok`)),
      fc.json().map((j) => Buffer.from(j).toString('base64url')),
      fc.string().map((text) => encodeAttemptsCursor(text)),
    );
    const query = fc
      .record(
        {
          since: queryValue,
          type: queryValue,
          limit: queryValue,
          status: queryValue,
          eventId: queryValue,
          cursor: queryValue,
          order: queryValue,
          other: fc.string(),
        },
        { requiredKeys: [] },
      )
      .map((q) => new URLSearchParams(q).toString());
    const anyValue = fc.oneof(fc.anything(), time, fc.integer(), fc.string());
    const nearTransaction = fc.record(
      {
        id: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,128}$/), fc.string()),
        customer: fc.oneof(fc.record({ email: fc.oneof(fc.emailAddress(), fc.string()) }), anyValue),
        currency: fc.oneof(fc.constantFrom('EUR', 'USD'), fc.string()),
        total: fc.oneof(fc.integer(), fc.double(), anyValue),
        items: fc.oneof(
          fc.array(
            fc.record({
              sku: fc.string(),
              name: fc.string(),
              quantity: fc.integer(),
              unitPrice: fc.integer(),
            }),
            { maxLength: 3 },
          ),
          anyValue,
        ),
        createdAt: fc.oneof(time, anyValue),
        metadata: fc.oneof(fc.dictionary(fc.string(), fc.string()), anyValue),
      },
      { requiredKeys: [] },
    );
    const nearWebhook = fc.record(
      {
        url: fc.oneof(
          fc.webUrl(),
          fc.constantFrom('http://[::ffff:127.0.0.1]/', 'http://2130706433/'),
          anyValue,
        ),
        events: fc.oneof(fc.subarray([...EVENT_TYPES, '*']), fc.array(fc.string())),
        status: fc.oneof(fc.constantFrom('enabled', 'disabled'), anyValue),
        description: anyValue,
        rateLimit: fc.oneof(fc.integer({ min: -5, max: 1005 }), fc.double(), fc.constant(null), anyValue),
        headers: fc.oneof(
          fc.dictionary(
            fc.oneof(
              fc.constantFrom('Authorization', 'X-Shop', 'webhook-id', 'Host', 'content-type', '__proto__'),
              fc.string(),
            ),
            fc.oneof(fc.constantFrom('Bearer zap_0123456789abcdef', 'a\r\nb', ''), fc.string()),
            { maxKeys: 25 },
          ),
          fc.constant(null),
          anyValue,
        ),
        since: fc.oneof(time, anyValue),
        until: fc.oneof(time, anyValue),
      },
      { requiredKeys: [] },
    );
    const nearSubscription = fc.record(
      {
        id: fc.oneof(fc.constant('sub_fuzz'), fc.string()),
        customer: fc.oneof(
          fc.record({ id: fc.string(), email: fc.oneof(fc.emailAddress(), fc.string()) }),
          anyValue,
        ),
        plan: fc.oneof(fc.string(), anyValue),
        amount: fc.oneof(fc.integer(), fc.double(), anyValue),
        currency: fc.oneof(fc.constantFrom('USD', 'JPY', 'usd', 'XYZ'), anyValue),
        interval: fc.oneof(fc.constantFrom('day', 'week', 'month', 'year', 'fortnight'), anyValue),
        intervalCount: fc.oneof(fc.integer(), anyValue),
        paymentMethod: fc.oneof(fc.constantFrom('pm_card_visa', ''), anyValue),
        startAt: fc.oneof(time, anyValue),
        asOf: fc.oneof(time, anyValue),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      nearSubscription.map((v) => JSON.stringify(v)),
      fc.string(),
      fc.json(),
      nearTransaction.map((v) => JSON.stringify(v)),
      nearWebhook.map((v) => JSON.stringify(v)),
    );
    const headers = fc.record(
      {
        authorization: fc.oneof(
          fc.constant(`Bearer ${STORE_KEY}`),
          fc.constant(`Bearer ${ADMIN_KEY}`),
          fc.string(),
        ),
        'idempotency-key': fc.oneof(fc.string(), fc.constant('fuzz-key')),
        'content-type': fc.oneof(fc.constant('application/json'), fc.string()),
      },
      { requiredKeys: [] },
    );

    await fc.assert(
      fc.asyncProperty(method, path, query, body, headers, async (m, p, q, b, h) => {
        const result = await api(apiEvent(m, p, { body: b, headers: h, query: q }), {
          adminApiKey: ADMIN_KEY,
        });
        expect(result.statusCode).toBeLessThan(500);
        const xml = result.headers?.['content-type']?.toString().startsWith('application/xml');
        if (result.body && !xml) expect(() => JSON.parse(result.body ?? '')).not.toThrow();
      }),
      { numRuns: 1500 },
    );
  });
});
