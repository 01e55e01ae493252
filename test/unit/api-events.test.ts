import type { EventType } from '../../lambdas/events/domain/events';
import { acme, other, webhookApi } from './support/in-memory-api';
import { eventIdAt } from './support/webhook-fakes';

async function withEvents(count: number, type: (i: number) => EventType = () => 'transaction.created') {
  const setup = await webhookApi();
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const at = Date.parse('2024-05-31T00:00:00Z') + i * 60_000;
    const id = eventIdAt(at);
    ids.push(id);
    await setup.deps.events.put(
      { id, type: type(i), createdAt: new Date(at).toISOString(), storeId: 'acme', data: { n: i } },
      'transaction',
    );
  }
  return { ...setup, ids };
}

const list = (query = '', headers: Record<string, string> = acme) =>
  ['GET', '/v1/events', { headers, query }] as const;

describe('GET /v1/events', () => {
  it('lists the store’s events oldest first, 50 by default, with a cursor passed back as since', async () => {
    const { call, ids } = await withEvents(60);
    const first = await call(...list());
    expect(first.status).toBe(200);
    expect(first.body.data.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 50));
    expect(first.body.data[0]).toEqual({
      id: ids[0],
      type: 'transaction.created',
      createdAt: '2024-05-31T00:00:00.000Z',
      storeId: 'acme',
      data: { n: 0 },
    });
    expect(first.body.next).toBe(ids[49]);
    const second = await call(...list(`since=${first.body.next}`));
    expect(second.body.data.map((e: { id: string }) => e.id)).toEqual(ids.slice(50));
    expect(second.body.next).toBeUndefined();
  });

  it('accepts a lower-case event id as the cursor', async () => {
    const { call, ids } = await withEvents(3);
    const response = await call(...list(`since=evt_${ids[0]?.slice(4).toLowerCase()}`));
    expect(response.body.data.map((e: { id: string }) => e.id)).toEqual(ids.slice(1));
  });

  it('starts at an ISO time, filters by type and honours limit', async () => {
    const { call, ids } = await withEvents(10, (i) => (i % 2 ? 'datafeed.ready' : 'transaction.created'));
    const since = await call(...list('since=2024-05-31T00:05:00Z'));
    expect(since.body.data.map((e: { id: string }) => e.id)).toEqual(ids.slice(5));
    const typed = await call(...list('type=datafeed.ready&limit=2'));
    expect(typed.body.data.map((e: { id: string }) => e.id)).toEqual([ids[1], ids[3]]);
    expect(typed.body.next).toBe(ids[3]);
  });

  it('shows another store nothing of this one', async () => {
    const { call } = await withEvents(3);
    expect((await call(...list('', other))).body).toEqual({ data: [] });
  });

  it.each([
    ['since', 'since=yesterday'],
    ['since', 'since=evt_nope'],
    ['type', 'type=order.created'],
    ['limit', 'limit=0'],
    ['limit', 'limit=101'],
    ['limit', 'limit=abc'],
  ])('answers 400 naming %s for %s', async (field, query) => {
    const { call } = await withEvents(1);
    const response = await call(...list(query));
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
  });

  it('answers 401 without a store key', async () => {
    const { call } = await withEvents(1);
    expect((await call(...list('', {}))).status).toBe(401);
  });
});
