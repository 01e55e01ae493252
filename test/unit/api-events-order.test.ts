import fc from 'fast-check';
import { DynamoEventsRepository } from '../../lambdas/events/adapters/dynamo-events-repository';
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

const get = (query: string, headers: Record<string, string> = acme) =>
  ['GET', '/v1/events', { headers, query }] as const;
const idsOf = (body: { data: { id: string }[] }) => body.data.map((e) => e.id);

describe('GET /v1/events?order=desc', () => {
  it('lists newest first, and next (passed back as cursor) pages on in both orders', async () => {
    const { call, ids } = await withEvents(7);
    const newest = [...ids].reverse();
    const first = await call(...get('order=desc&limit=3'));
    expect(first.status).toBe(200);
    expect(idsOf(first.body)).toEqual(newest.slice(0, 3));
    const second = await call(...get(`order=desc&limit=3&cursor=${first.body.next}`));
    expect(idsOf(second.body)).toEqual(newest.slice(3, 6));
    const third = await call(...get(`order=desc&limit=3&cursor=${second.body.next}`));
    expect(idsOf(third.body)).toEqual(newest.slice(6));
    expect(third.body.next).toBeUndefined();

    const asc = await call(...get('order=asc&limit=4'));
    expect(idsOf(asc.body)).toEqual(ids.slice(0, 4));
    const ascNext = await call(...get(`limit=4&cursor=${asc.body.next}`));
    expect(idsOf(ascNext.body)).toEqual(ids.slice(4));
  });

  it('keeps since as the lower bound and type as the filter, newest first', async () => {
    const { call, ids } = await withEvents(10, (i) => (i % 2 ? 'datafeed.ready' : 'transaction.created'));
    const answer = await call(...get('order=desc&type=datafeed.ready&since=2024-05-31T00:04:00Z'));
    expect(idsOf(answer.body)).toEqual([ids[9], ids[7], ids[5]]);
  });

  it('pages through any store newest first: every event exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 1, max: 6 }),
        async (count, limit) => {
          const { call, ids } = await withEvents(count);
          const seen: string[] = [];
          let cursor: string | undefined;
          do {
            const page = await call(...get(`order=desc&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`));
            seen.push(...idsOf(page.body));
            cursor = page.body.next;
          } while (cursor);
          expect(seen).toEqual([...ids].reverse());
        },
      ),
      { numRuns: 40 },
    );
  });

  it.each(['order=DESC', 'order=newest', 'order=', 'cursor=nope', 'cursor=2024-05-31T00:00:00Z'])(
    'answers 400 for %s',
    async (query) => {
      const { call } = await withEvents(1);
      const answer = await call(...get(query));
      expect(answer.status).toBe(400);
      expect(answer.body.errors[0].field).toMatch(/^(order|cursor)$/);
    },
  );
});

describe('GET /v1/events/{id}', () => {
  it('answers one event as delivered; a lower-case id finds it', async () => {
    const { call, ids } = await withEvents(2);
    const answer = await call('GET', `/v1/events/${ids[1]}`, { headers: acme });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      id: ids[1],
      type: 'transaction.created',
      createdAt: '2024-05-31T00:01:00.000Z',
      storeId: 'acme',
      data: { n: 1 },
    });
    const lower = await call('GET', `/v1/events/evt_${ids[1]?.slice(4).toLowerCase()}`, { headers: acme });
    expect(lower.body.id).toBe(ids[1]);
  });

  it('is 404 for another store’s event, an unknown one and a non-id; 401 without a key', async () => {
    const { call, ids } = await withEvents(1);
    expect((await call('GET', `/v1/events/${ids[0]}`, { headers: other })).status).toBe(404);
    expect((await call('GET', `/v1/events/${eventIdAt(Date.now())}`, { headers: acme })).status).toBe(404);
    expect((await call('GET', '/v1/events/nope', { headers: acme })).status).toBe(404);
    expect((await call('GET', `/v1/events/${ids[0]}`, { headers: {} })).status).toBe(401);
  });
});

describe('DynamoEventsRepository newest first', () => {
  function recording(answers: unknown[]) {
    const sent: Record<string, unknown>[] = [];
    const client = {
      send: async (command: { input: Record<string, unknown> }) => {
        sent.push(command.input);
        return answers.shift() ?? {};
      },
    };
    return { repository: new DynamoEventsRepository({ client: client as never, tableName: 'Events' }), sent };
  }

  it('reads backwards before the cursor and after since, skipping the bounds themselves', async () => {
    const item = (eventId: string) => ({
      storeId: 'acme',
      eventId,
      type: 'transaction.created',
      createdAt: '',
      data: {},
    });
    const { repository, sent } = recording([{ Items: [item('evt_C'), item('evt_B'), item('evt_A')] }]);
    const page = await repository.list('acme', {
      order: 'desc',
      afterId: 'evt_A',
      beforeId: 'evt_C',
      limit: 5,
    });
    expect(page.events.map((e) => e.id)).toEqual(['evt_B']);
    expect(sent[0]).toMatchObject({
      KeyConditionExpression: 'storeId = :storeId AND #eventId BETWEEN :after AND :before',
      ExpressionAttributeValues: { ':storeId': 'acme', ':after': 'evt_A', ':before': 'evt_C' },
      ScanIndexForward: false,
    });
  });

  it('reads nothing for an empty range, and only an upper bound without since', async () => {
    const { repository, sent } = recording([{ Items: [] }]);
    expect(
      await repository.list('acme', { order: 'desc', afterId: 'evt_C', beforeId: 'evt_A', limit: 5 }),
    ).toEqual({
      events: [],
    });
    expect(sent).toHaveLength(0);
    await repository.list('acme', { order: 'desc', beforeId: 'evt_C', limit: 5 });
    expect(sent[0]).toMatchObject({ KeyConditionExpression: 'storeId = :storeId AND #eventId < :before' });
  });
});
