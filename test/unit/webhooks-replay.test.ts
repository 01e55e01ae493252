import { ulid } from 'ulid';
import { runReplay } from '../../lambdas/webhooks/domain/replay';
import { eventFixture, FakeDeliveryQueue, InMemoryEventsRepository } from './support/webhook-fakes';

const HOUR = 3_600_000;
// Not newEventId: its monotonic factory never goes back in time, and every test builds the same past store.
const eventIdAt = (time: number) => `evt_${ulid(time)}`;
const T0 = Date.parse('2024-06-01T00:00:00.000Z');

function store() {
  const events = new InMemoryEventsRepository();
  const ids: string[] = [];
  // 250 events one minute apart from T0, alternating two types; and one of another store.
  for (let i = 0; i < 250; i += 1) {
    const id = eventIdAt(T0 + i * 60_000);
    ids.push(id);
    events.seed(eventFixture(id, { type: i % 2 === 0 ? 'transaction.created' : 'subscription.charged' }));
  }
  events.seed(eventFixture(eventIdAt(T0 + 5 * 60_000), { storeId: 'store_2' }));
  return { events, ids };
}

const job = {
  storeId: 'store_1',
  endpointId: 'ep_1',
  replayId: 'rpl_1',
  since: T0 + 10 * 60_000,
  until: T0 + 4 * HOUR,
};

describe('runReplay', () => {
  it('pages through the window and sends one first attempt per event, marked with the replay', async () => {
    const { events, ids } = store();
    const queue = new FakeDeliveryQueue();
    const sent = await runReplay(job, { events, queue });

    // Minutes 10..239 (the window's end is exclusive): 230 events, over three pages.
    expect(sent).toBe(230);
    expect(queue.sent.map((m) => m.eventId)).toEqual(ids.slice(10, 240));
    expect(queue.sendCalls).toBe(3);
    expect(queue.sent[0]).toEqual({
      storeId: 'store_1',
      endpointId: 'ep_1',
      eventId: ids[10],
      replayId: 'rpl_1',
      attempt: 1,
      event: expect.objectContaining({ id: ids[10] }),
    });
  });

  it('keeps to the job’s types', async () => {
    const { events } = store();
    const queue = new FakeDeliveryQueue();
    await runReplay({ ...job, types: ['subscription.charged'] }, { events, queue });
    expect(queue.sent).toHaveLength(115);
  });

  it('is safe to repeat: a redelivered job sends the same messages again (delivery’s lease stops the copies)', async () => {
    const { events } = store();
    const queue = new FakeDeliveryQueue();
    await runReplay(job, { events, queue });
    const first = [...queue.sent];
    await runReplay(job, { events, queue });
    expect(queue.sent.slice(first.length)).toEqual(first);
  });

  it('sends nothing for an empty window', async () => {
    const { events } = store();
    const queue = new FakeDeliveryQueue();
    expect(await runReplay({ ...job, since: T0 + 10 * HOUR, until: T0 + 11 * HOUR }, { events, queue })).toBe(
      0,
    );
    expect(queue.sendCalls).toBe(0);
  });
});
