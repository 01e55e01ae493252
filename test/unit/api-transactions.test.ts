import { ADMIN_KEY, acme, json, other, webhookApi } from './support/in-memory-api';

const transaction = {
  id: 'order-1001',
  customer: { id: 'cus_1', email: 'ada@example.com' },
  currency: 'EUR',
  total: 2599,
  items: [{ sku: 'MUG-1', name: 'Mug', quantity: 2, unitPrice: 1299 }],
};

const post = (body: unknown, headers: Record<string, string> = acme) =>
  ['POST', '/v1/transactions', json(body, headers)] as const;

describe('POST /v1/transactions', () => {
  it('accepts with 202 after one write that carries the record the fanout reads', async () => {
    const { call, deps, accepted } = await webhookApi();
    const response = await call(...post(transaction));
    expect(response.status).toBe(202);
    expect(response.body).toEqual({
      id: 'order-1001',
      status: 'accepted',
      eventId: expect.stringMatching(/^evt_/),
    });
    expect(deps.transactions.writes).toBe(1);
    expect([...deps.transactions.items.values()]).toEqual([
      {
        storeId: 'acme',
        txnId: 'order-1001',
        eventId: response.body.eventId,
        fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
        acceptedAt: '2024-06-01T12:00:00.000Z',
        // createdAt defaults to when it was accepted
        transaction: { ...transaction, createdAt: '2024-06-01T12:00:00.000Z' },
      },
    ]);
    expect(accepted).toEqual(['acme']);
    // The default-key path needs no idempotency record of its own.
    expect(deps.idempotency.records.size).toBe(0);
  });

  it('keeps the storefront createdAt and metadata', async () => {
    const { call, deps } = await webhookApi();
    const body = { ...transaction, createdAt: '2024-05-31T10:00:00+02:00', metadata: { channel: 'web' } };
    expect((await call(...post(body))).status).toBe(202);
    expect([...deps.transactions.items.values()][0]?.transaction).toEqual(body);
  });

  it('replays the first 202 for the same id and body, in any key order, without counting it again', async () => {
    const { call, accepted } = await webhookApi();
    const first = await call(...post(transaction));
    const reordered = {
      items: transaction.items,
      total: 2599,
      currency: 'EUR',
      customer: transaction.customer,
      id: 'order-1001',
    };
    const again = await call(...post(reordered));
    const withKey = await call(...post(transaction, { ...acme, 'idempotency-key': 'order-1001' }));
    for (const replay of [again, withKey]) {
      expect(replay.status).toBe(202);
      expect(replay.body).toEqual(first.body);
      expect(replay.headers['idempotent-replayed']).toBe('true');
    }
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(accepted).toHaveLength(1);
  });

  it('answers 422 for the same id with a changed body, and keeps the first', async () => {
    const { call, deps } = await webhookApi();
    await call(...post(transaction));
    const changed = await call(...post({ ...transaction, total: 1 }));
    expect(changed.status).toBe(422);
    expect(changed.headers['content-type']).toBe('application/problem+json');
    expect(changed.body.type).toMatch(/idempotency-key-reused$/);
    expect([...deps.transactions.items.values()][0]?.transaction.total).toBe(2599);
  });

  it('keeps transaction ids apart per store', async () => {
    const { call } = await webhookApi();
    const mine = await call(...post(transaction));
    const theirs = await call(...post({ ...transaction, total: 5 }, other));
    expect([mine.status, theirs.status]).toEqual([202, 202]);
    expect(theirs.body.eventId).not.toBe(mine.body.eventId);
  });

  describe('with an explicit Idempotency-Key other than the id', () => {
    const keyed = (key: string) => ({ ...acme, 'idempotency-key': key });

    it('replays through the generic store', async () => {
      const { call, deps } = await webhookApi();
      const first = await call(...post(transaction, keyed('k-1')));
      const again = await call(...post(transaction, keyed('k-1')));
      expect([first.status, again.status]).toEqual([202, 202]);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(deps.transactions.writes).toBe(1);
    });

    it('answers 422 for the key reused with another body', async () => {
      const { call } = await webhookApi();
      await call(...post(transaction, keyed('k-1')));
      expect((await call(...post({ ...transaction, id: 'order-2' }, keyed('k-1')))).status).toBe(422);
    });

    it('answers a new key for an accepted id with the same 202, or 422 if the body changed', async () => {
      const { call } = await webhookApi();
      const first = await call(...post(transaction));
      const same = await call(...post(transaction, keyed('k-2')));
      expect(same.status).toBe(202);
      expect(same.body).toEqual(first.body);
      const changed = await call(...post({ ...transaction, currency: 'USD' }, keyed('k-3')));
      expect(changed.status).toBe(422);
    });
  });

  it.each([
    ['no key', {}],
    ['a wrong key', { authorization: 'Bearer sk_store_nope' }],
    ['the admin key', { authorization: `Bearer ${ADMIN_KEY}` }],
  ])('answers 401 with %s', async (_label, headers) => {
    const { call, deps } = await webhookApi();
    const response = await call('POST', '/v1/transactions', { body: JSON.stringify(transaction), headers });
    expect(response.status).toBe(401);
    expect(deps.transactions.writes).toBe(0);
  });

  it.each([
    ['id', { id: 'has space' }],
    ['id', { id: 'x'.repeat(129) }],
    ['id', { id: '' }],
    ['customer.email', { customer: { email: 'not-an-email' } }],
    ['customer', { customer: undefined }],
    ['currency', { currency: 'EUX' }],
    ['currency', { currency: 'EURO' }],
    ['total', { total: 12.5 }],
    ['total', { total: -1 }],
    ['total', { total: '100' }],
    ['items', { items: [] }],
    ['items', { items: Array.from({ length: 501 }, () => transaction.items[0]) }],
    ['items.0.quantity', { items: [{ ...transaction.items[0], quantity: 0 }] }],
    ['items.0.quantity', { items: [{ ...transaction.items[0], quantity: 1.5 }] }],
    ['items.0.unitPrice', { items: [{ ...transaction.items[0], unitPrice: -5 }] }],
    ['items.0.sku', { items: [{ ...transaction.items[0], sku: undefined }] }],
    ['createdAt', { createdAt: 'yesterday' }],
    ['metadata.a', { metadata: { a: 1 } }],
    ['metadata', { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }],
    ['(body)', { surprise: true }],
  ])('answers 400 naming %s', async (field, change) => {
    const { call, deps } = await webhookApi();
    const response = await call(...post({ ...transaction, ...change }));
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(deps.transactions.writes).toBe(0);
  });

  it('answers 400 for malformed JSON and 413 for an oversize body', async () => {
    const { call } = await webhookApi();
    expect((await call('POST', '/v1/transactions', { body: '{"id":', headers: acme })).status).toBe(400);
    const big = { ...transaction, metadata: { note: 'x'.repeat(300 * 1024) } };
    expect((await call(...post(big))).status).toBe(413);
  });

  it('answers 503 with Retry-After, not 500, when the table is throttled', async () => {
    const { call, deps } = await webhookApi();
    deps.transactions.accept = async () => {
      throw Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
    };
    const response = await call(...post(transaction));
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
  });
});
