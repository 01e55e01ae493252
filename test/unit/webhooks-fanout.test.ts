import { newEventId } from '../../lambdas/events/domain/events';
import { streamTableNamed } from '../../lambdas/webhooks/adapters/stream-records';
import {
  CachedEndpoints,
  deliveryMessagesFor,
  Fanout,
  fanOutBatch,
  fanoutWorkFor,
  streamTableOf,
} from '../../lambdas/webhooks/domain/fanout';
import type { DeliveryMessage } from '../../lambdas/webhooks/domain/messages';
import { FakeClock } from './support/clock';
import { silentLogger } from './support/logger';
import {
  endpointFixture,
  FakeDeliveryQueue,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
  Io,
} from './support/webhook-fakes';

const NOW = Date.parse('2024-06-01T12:00:00.000Z');
const tables = { transactions: 'Pipeline-TransactionsTable-ABC', events: 'Pipeline-EventsTable-DEF' };
const arn = (table: string) =>
  `arn:aws:dynamodb:eu-west-1:123456789012:table/${table}/stream/2024-06-01T00:00:00.000`;

const eventId = newEventId(NOW);
const transactionItem = {
  storeId: 'store_1',
  txnId: 'txn_1',
  eventId,
  fingerprint: 'abc',
  acceptedAt: '2024-06-01T12:00:00.000Z',
  transaction: { id: 'txn_1', amount: 1200, currency: 'EUR' },
};
const directItem = {
  storeId: 'store_1',
  eventId,
  type: 'subscription.charged',
  createdAt: '2024-06-01T12:00:00.000Z',
  data: { subscriptionId: 'sub_1' },
  origin: 'direct',
};

function setUp() {
  const io = new Io();
  const clock = new FakeClock(NOW);
  const events = new InMemoryEventsRepository(io);
  const endpoints = new InMemoryEndpointsRepository(io);
  const queue = new FakeDeliveryQueue();
  endpoints.seed(endpointFixture({ id: 'ep_all', events: ['*'] }));
  endpoints.seed(endpointFixture({ id: 'ep_txn', events: ['transaction.created'] }));
  endpoints.seed(
    endpointFixture({ id: 'ep_subs', events: ['subscription.charged', 'subscription.canceled'] }),
  );
  endpoints.seed(
    endpointFixture({ id: 'ep_off', events: ['*'], status: 'disabled', disabledReason: 'manual' }),
  );
  endpoints.seed(endpointFixture({ id: 'ep_other_store', storeId: 'store_2', events: ['*'] }));
  const fanout = new Fanout({
    events,
    endpoints: new CachedEndpoints(endpoints, { now: clock.now }),
    queue,
    retryScheduleMs: [2_000, 5_000],
    now: clock.now,
  });
  return { io, clock, events, endpoints, queue, fanout };
}

describe('streamTableOf', () => {
  it('tells the streams apart by the table in the ARN', () => {
    expect(streamTableOf(streamTableNamed(arn(tables.transactions), tables), directItem)).toBe(
      'transactions',
    );
    expect(streamTableOf(streamTableNamed(arn(tables.events), tables), transactionItem)).toBe('events');
  });

  it('falls back to the item’s shape for an ARN naming neither table', () => {
    expect(streamTableOf(streamTableNamed(undefined, tables), transactionItem)).toBe('transactions');
    expect(streamTableOf(streamTableNamed(arn('Other'), tables), directItem)).toBe('events');
  });
});

describe('fanoutWorkFor', () => {
  it('makes a transaction.created event of a transactions item, to be stored', () => {
    expect(fanoutWorkFor('transactions', transactionItem)).toEqual({
      kind: 'fan-out',
      store: true,
      event: {
        id: eventId,
        type: 'transaction.created',
        createdAt: transactionItem.acceptedAt,
        storeId: 'store_1',
        data: transactionItem.transaction,
      },
    });
  });

  it('fans out a direct event as it is, without storing it again', () => {
    expect(fanoutWorkFor('events', directItem)).toMatchObject({
      kind: 'fan-out',
      store: false,
      event: { id: eventId, type: 'subscription.charged', data: { subscriptionId: 'sub_1' } },
    });
  });

  it('skips events of origin transaction: the transactions stream fanned them out', () => {
    expect(fanoutWorkFor('events', { ...directItem, origin: 'transaction' })).toMatchObject({ kind: 'skip' });
  });

  it.each([
    ['transactions', { ...transactionItem, eventId: 'nope' }],
    ['transactions', { ...transactionItem, transaction: undefined }],
    ['events', { ...directItem, type: 'order.shipped' }],
    ['events', { ...directItem, origin: undefined }],
  ] as const)('refuses a malformed %s item (reported as a failure, never dropped)', (table, item) => {
    expect(() => fanoutWorkFor(table, item)).toThrow();
  });
});

describe('Fanout', () => {
  it('stores a transaction event and sends one first attempt per enabled endpoint of the store that wants it', async () => {
    const t = setUp();
    const sent = await t.fanout.run(fanoutWorkFor('transactions', transactionItem));

    expect(sent).toBe(2);
    expect(t.events.items.get(`store_1#${eventId}`)?.origin).toBe('transaction');
    expect(t.queue.sent).toEqual(
      ['ep_all', 'ep_txn'].map((endpointId) => ({
        storeId: 'store_1',
        endpointId,
        eventId,
        attempt: 1,
        notBefore: NOW + 2_000,
        // Small events travel in the message, so the delivery needs no read to send them.
        event: t.events.items.get(`store_1#${eventId}`)?.event,
      })),
    );
    expect(t.queue.sendCalls).toBe(1);
  });

  it('leaves events over 64 KiB out of the message (the delivery reads them)', () => {
    const big = {
      ...transactionItem,
      transaction: { ...transactionItem.transaction, note: 'x'.repeat(70 * 1024) },
    };
    const work = fanoutWorkFor('transactions', big);
    if (work.kind === 'skip') throw new Error('expected work');
    const [message] = deliveryMessagesFor(
      work.event,
      [endpointFixture({ storeId: 'store_1', events: ['*'] })],
      0,
      NOW,
    );
    expect(message?.event).toBeUndefined();
  });

  it('fans out a direct event to the endpoints filtering for its type and `*`, without a write', async () => {
    const t = setUp();
    await t.fanout.run(fanoutWorkFor('events', directItem));
    expect(t.queue.sent.map((m) => m.endpointId).sort()).toEqual(['ep_all', 'ep_subs']);
    expect(t.io.writes).toBe(0);
  });

  it('sends nothing for a skipped record or a store without endpoints', async () => {
    const t = setUp();
    expect(await t.fanout.run({ kind: 'skip', reason: 'x' })).toBe(0);
    expect(await t.fanout.run(fanoutWorkFor('events', { ...directItem, storeId: 'store_9' }))).toBe(0);
    expect(t.queue.sendCalls).toBe(0);
  });

  it('is safe to repeat (a retried stream record): the event is stored once, the messages sent again', async () => {
    const t = setUp();
    const work = fanoutWorkFor('transactions', transactionItem);
    await t.fanout.run(work);
    await t.fanout.run(work);
    expect(t.events.items.size).toBe(1);
    // The copies are the same messages: delivery's lease, not a mark, keeps them from sending twice.
    expect(t.queue.sent.slice(2)).toEqual(t.queue.sent.slice(0, 2));
  });
});

describe('fanOutBatch', () => {
  const record = (sequenceNumber: string, newImage?: Record<string, unknown>, eventName = 'INSERT') => ({
    sequenceNumber,
    eventName,
    table: 'transactions' as const,
    ...(newImage ? { newImage } : {}),
  });
  const transaction = (txnId: string) => ({ ...transactionItem, txnId, eventId: newEventId(NOW) });

  function batchSetUp(failFor?: string) {
    const t = setUp();
    const queue: FakeDeliveryQueue = Object.assign(new FakeDeliveryQueue(), {
      async send(this: FakeDeliveryQueue, messages: readonly DeliveryMessage[]) {
        if (messages.some((m) => m.eventId === failFor)) throw new Error('SQS refused the batch');
        return FakeDeliveryQueue.prototype.send.call(this, messages);
      },
    });
    const errors: unknown[] = [];
    const deps = {
      events: t.events,
      endpoints: t.endpoints,
      queue,
      retryScheduleMs: [0],
      now: t.clock.now,
      logger: { ...silentLogger, error: (_: string, extra: unknown) => errors.push(extra) },
    };
    return { ...t, queue, deps, errors };
  }

  it('reports each record that failed by its sequence number (the stream retries from the lowest)', async () => {
    const failing = transaction('txn_2');
    const t = batchSetUp(failing.eventId);
    const good = transaction('txn_1');
    const response = await fanOutBatch(t.deps, [
      record('100', good),
      record('200', { ...transaction('txn_9'), eventId: 'garbage' }),
      record('300', failing),
      record('400', transaction('txn_3')),
    ]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }, { itemIdentifier: '300' }] });
    expect(new Set(t.queue.sent.map((m) => m.eventId)).size).toBe(2);
    expect(t.errors).toHaveLength(2);
  });

  it('skips what is not an insertion, and fails a record without its new image', async () => {
    const t = batchSetUp();
    const response = await fanOutBatch(t.deps, [
      record('100', transaction('txn_1'), 'MODIFY'),
      record('200', undefined, 'REMOVE'),
      record('300'),
    ]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '300' }] });
    expect(t.queue.sent).toEqual([]);
  });

  it('reads a store’s endpoints once per batch, and afresh for the next batch', async () => {
    const t = batchSetUp();
    await fanOutBatch(t.deps, [record('1', transaction('a')), record('2', transaction('b'))]);
    expect(t.io.reads).toBe(1);
    // An endpoint registered between two batches receives the next one's events.
    t.endpoints.seed(endpointFixture({ id: 'ep_new', events: ['*'] }));
    await fanOutBatch(t.deps, [record('3', transaction('c'))]);
    expect(t.io.reads).toBe(2);
    expect(t.queue.sent.filter((m) => m.endpointId === 'ep_new')).toHaveLength(1);
  });
});

describe('CachedEndpoints', () => {
  it('reads a store’s endpoints once per TTL, sharing concurrent reads', async () => {
    const io = new Io();
    const clock = new FakeClock(NOW);
    const repository = new InMemoryEndpointsRepository(io);
    repository.seed(endpointFixture());
    const cache = new CachedEndpoints(repository, { ttlMs: 3_000, now: clock.now });

    await Promise.all([cache.list('store_1'), cache.list('store_1'), cache.list('store_1')]);
    clock.advance(2_999);
    await cache.list('store_1');
    expect(io.reads).toBe(1);
    clock.advance(1);
    await cache.list('store_1');
    expect(io.reads).toBe(2);
  });

  it('does not keep a failed read', async () => {
    let calls = 0;
    const cache = new CachedEndpoints({
      list: async () => {
        calls += 1;
        if (calls === 1) throw new Error('throttled');
        return [];
      },
      get: async () => undefined,
    });
    await expect(cache.list('store_1')).rejects.toThrow('throttled');
    await expect(cache.list('store_1')).resolves.toEqual([]);
  });

  it('remembers what this environment changed', async () => {
    const repository = new InMemoryEndpointsRepository();
    repository.seed(endpointFixture());
    const cache = new CachedEndpoints(repository);
    const endpoint = await cache.get('store_1', 'ep_1');
    if (!endpoint) throw new Error('missing');
    cache.remember({ ...endpoint, status: 'disabled', disabledReason: 'gone' });
    expect(await cache.get('store_1', 'ep_1')).toMatchObject({ status: 'disabled' });
  });
});
