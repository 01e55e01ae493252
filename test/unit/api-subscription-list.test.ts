import { encodeSubscriptionsCursor } from '../../lambdas/billing/domain/subscription-list';
import { ADMIN_KEY, acme, json, other, webhookApi } from './support/in-memory-api';
import type { InMemorySubscriptions } from './support/in-memory-billing';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const body = {
  customer: { id: 'cus_1', email: 'c@example.com' },
  plan: 'coffee',
  amount: 1500,
  currency: 'EUR',
  interval: 'month',
  paymentMethod: 'pm_card_visa',
};

/** The API with `count` subscriptions of acme created a second apart (ids in creation order, not sk order). */
async function withSubscriptions(count: number) {
  const api = await webhookApi();
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    // Client-chosen ids whose key order is not their creation order.
    const id = `sub_${String((index * 7) % count).padStart(3, '0')}_${index}`;
    const created = await api.call('POST', '/v1/subscriptions', json({ ...body, id }));
    expect(created.status).toBe(201);
    ids.push(id);
    api.clock.now += 1_000;
  }
  return { ...api, newestFirst: [...ids].reverse() };
}

const idsOf = (answer: { body: { data: { id: string }[] } }) => answer.body.data.map((item) => item.id);

describe('GET /v1/subscriptions', () => {
  it("lists the store's subscriptions newest first, each as GET /{id} shows it without charges", async () => {
    const { call, newestFirst } = await withSubscriptions(3);
    const answer = await call('GET', '/v1/subscriptions', { headers: acme });
    expect(answer.status).toBe(200);
    expect(idsOf(answer)).toEqual(newestFirst);
    expect(answer.body).not.toHaveProperty('next');
    const one = await call('GET', `/v1/subscriptions/${newestFirst[0]}`, { headers: acme });
    const { charges, ...withoutCharges } = one.body;
    expect(charges).toEqual([]);
    expect(answer.body.data[0]).toEqual(withoutCharges);
    expect(answer.body.data[0]).not.toHaveProperty('charges');
  });

  it('orders subscriptions created in the same millisecond by id, as the index does', async () => {
    const { call } = await webhookApi();
    for (const id of ['sub_b', 'sub_c', 'sub_a'])
      await call('POST', '/v1/subscriptions', json({ ...body, id }));
    expect(idsOf(await call('GET', '/v1/subscriptions', { headers: acme }))).toEqual([
      'sub_a',
      'sub_b',
      'sub_c',
    ]);
  });

  it('pages 20 at a time by default, and `next` leads through every subscription once', async () => {
    const { call, newestFirst } = await withSubscriptions(45);
    const seen: string[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const answer = await call('GET', '/v1/subscriptions', {
        headers: acme,
        ...(cursor ? { query: `cursor=${cursor}` } : {}),
      });
      expect(answer.status).toBe(200);
      sizes.push(answer.body.data.length);
      seen.push(...idsOf(answer));
      cursor = answer.body.next;
    } while (cursor);
    expect(sizes).toEqual([20, 20, 5]);
    expect(seen).toEqual(newestFirst);
  });

  it.each([1, 7, 100])('takes limit=%i', async (limit) => {
    const { call, newestFirst } = await withSubscriptions(8);
    const answer = await call('GET', '/v1/subscriptions', { headers: acme, query: `limit=${limit}` });
    expect(idsOf(answer)).toEqual(newestFirst.slice(0, limit));
    expect(answer.body.next !== undefined).toBe(limit < 8);
  });

  it('filters by status, and a page filtered short still leads to every match once', async () => {
    const { call, deps, newestFirst } = await withSubscriptions(12);
    // Every third one canceled.
    const canceled = newestFirst.filter((_, index) => index % 3 === 0);
    for (const id of canceled)
      expect((await call('DELETE', `/v1/subscriptions/${id}`, { headers: acme })).status).toBe(200);
    // The store examines at most 4 subscriptions per page, as the adapter bounds its index reads.
    (deps.billing.subscriptions as InMemorySubscriptions).listScanBound = 4;

    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    do {
      const answer = await call('GET', '/v1/subscriptions', {
        headers: acme,
        query: `status=canceled&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      });
      expect(answer.status).toBe(200);
      expect(answer.body.data.every((item: { status: string }) => item.status === 'canceled')).toBe(true);
      sizes.push(answer.body.data.length);
      seen.push(...idsOf(answer));
      cursor = answer.body.next;
    } while (cursor);
    expect(seen).toEqual(canceled);
    // Short pages with a `next`: fewer than the limit is not the end.
    expect(sizes.some((size) => size < 3)).toBe(true);
    // A full limit, but the bound reached first: the matches among the 4 examined, and a `next`.
    const active = await call('GET', '/v1/subscriptions', {
      headers: acme,
      query: 'status=active&limit=100',
    });
    expect(idsOf(active)).toEqual(newestFirst.slice(0, 4).filter((id) => !canceled.includes(id)));
    expect(active.body.next).toBeDefined();
  });

  it("never shows another store's subscriptions, nor leads to them with a cursor", async () => {
    const { call, newestFirst } = await withSubscriptions(3);
    const theirs = await call('GET', '/v1/subscriptions', { headers: other });
    expect(theirs.status).toBe(200);
    expect(theirs.body).toEqual({ data: [] });
    // A cursor from acme's list, used by the other store: a position only, still only its own data.
    const page = await call('GET', '/v1/subscriptions', { headers: acme, query: 'limit=1' });
    const across = await call('GET', '/v1/subscriptions', {
      headers: other,
      query: `cursor=${page.body.next}`,
    });
    expect(across.body).toEqual({ data: [] });
    expect(newestFirst).toHaveLength(3);
  });

  it.each([
    ['an unknown status', 'status=expired', 'status'],
    ['a status in another case', 'status=ACTIVE', 'status'],
    ['limit=0', 'limit=0', 'limit'],
    ['limit=101', 'limit=101', 'limit'],
    ['a negative limit', 'limit=-1', 'limit'],
    ['a fractional limit', 'limit=2.5', 'limit'],
    ['a limit that is not a number', 'limit=ten', 'limit'],
    ['an empty limit', 'limit=', 'limit'],
    ['a garbled cursor', 'cursor=%25%25%25', 'cursor'],
    ['a cursor that is not base64url JSON', 'cursor=bm90IGpzb24', 'cursor'],
    [
      'a cursor of another version',
      `cursor=${b64({ v: 2, c: '2024-06-01T12:00:00.000Z', i: 'sub_1' })}`,
      'cursor',
    ],
    ['a cursor with a bad time', `cursor=${b64({ v: 1, c: 'yesterday', i: 'sub_1' })}`, 'cursor'],
    [
      'a cursor with a bad id',
      `cursor=${b64({ v: 1, c: '2024-06-01T12:00:00.000Z', i: 'sub 1' })}`,
      'cursor',
    ],
    [
      'a cursor with an extra field',
      `cursor=${b64({ v: 1, c: '2024-06-01T12:00:00.000Z', i: 'sub_1', s: 'acme' })}`,
      'cursor',
    ],
    ['a cursor that is an array', `cursor=${b64([1, 2])}`, 'cursor'],
    ['a very long cursor', `cursor=${'A'.repeat(5000)}`, 'cursor'],
  ])('answers 400 naming the parameter for %s', async (_what, query, field) => {
    const { call } = await withSubscriptions(2);
    const answer = await call('GET', '/v1/subscriptions', { headers: acme, query });
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body.errors.map((error: { field: string }) => error.field)).toEqual([field]);
  });

  it('answers 400 for a cursor with a character changed, and a re-encoded one names a position only', async () => {
    const { call, newestFirst } = await withSubscriptions(3);
    const page = await call('GET', '/v1/subscriptions', { headers: acme, query: 'limit=1' });
    expect(page.body.next).toBe(
      encodeSubscriptionsCursor({
        createdAt: '2024-06-01T12:00:02.000Z',
        subscriptionId: newestFirst[0] as string,
      }),
    );
    // `eyJ` is `{"`: changed, the cursor is no longer JSON.
    const changed = `X${page.body.next.slice(1)}`;
    const refused = await call('GET', '/v1/subscriptions', { headers: acme, query: `cursor=${changed}` });
    expect(refused.status).toBe(400);
    // A client that forges a position gets the store's own subscriptions older than it, and nothing else.
    const forged = encodeSubscriptionsCursor({
      createdAt: '2024-06-01T12:00:01.500Z',
      subscriptionId: 'zzz',
    });
    const answer = await call('GET', '/v1/subscriptions', { headers: acme, query: `cursor=${forged}` });
    expect(answer.status).toBe(200);
    expect(idsOf(answer)).toEqual(newestFirst.slice(1));
  });

  it.each([
    ['the admin key', admin],
    ['no key', {}],
    ['a wrong key', { authorization: 'Bearer sk_store_nope' }],
  ])('refuses %s with 401', async (_what, headers) => {
    const { call } = await withSubscriptions(1);
    const answer = await call('GET', '/v1/subscriptions', { headers });
    expect(answer.status).toBe(401);
    expect(answer.body).not.toHaveProperty('data');
  });

  it('answers 503 problem+json with Retry-After while the index is built, never a partial list', async () => {
    const { call, deps } = await withSubscriptions(2);
    const subscriptions = deps.billing.subscriptions as InMemorySubscriptions;
    for (const status of ['CREATING', 'BACKFILLING'] as const) {
      subscriptions.createdIndexStatus = status;
      const answer = await call('GET', '/v1/subscriptions', { headers: acme });
      expect(answer.status).toBe(503);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
      expect(answer.body).toMatchObject({
        status: 503,
        type: 'urn:commerce-pipeline:problem:index-not-ready',
      });
      expect(answer.body).not.toHaveProperty('data');
    }
    // Reads by id do not need the index.
    const [first] = [...subscriptions.items.values()];
    expect((await call('GET', `/v1/subscriptions/${first?.subscriptionId}`, { headers: acme })).status).toBe(
      200,
    );
    subscriptions.createdIndexStatus = 'ACTIVE';
    expect((await call('GET', '/v1/subscriptions', { headers: acme })).status).toBe(200);
  });
});

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
