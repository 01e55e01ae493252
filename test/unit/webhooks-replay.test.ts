import { ulid } from 'ulid';
import { replayMessage, runReplay } from '../../lambdas/webhooks/domain/replay';
import { silentLogger } from './support/logger';
import {
  eventFixture,
  FakeDeliveryQueue,
  InMemoryAttemptsRepository,
  InMemoryEventsRepository,
} from './support/webhook-fakes';

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
      trigger: 'replay',
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

describe('runReplay as a recover', () => {
  const recoverJob = { ...job, replayId: 'rcv_1', trigger: 'recover' as const };
  const success = (eventId: string, replayId?: string) => ({
    endpointId: 'ep_1',
    eventId,
    ...(replayId ? { replayId } : {}),
    attempt: 1,
    status: 'succeeded' as const,
    durationMs: 5,
    at: new Date(T0).toISOString(),
  });

  it('leaves out every event whose delivery to the endpoint succeeded, by whatever trigger', async () => {
    const { events, ids } = store();
    const attempts = new InMemoryAttemptsRepository();
    const queue = new FakeDeliveryQueue();
    // Minutes 10..239 are in the window: 20 delivered first time, one replayed, one failed, one to another endpoint.
    for (const id of ids.slice(10, 30)) await attempts.record(success(id));
    await attempts.record(success(ids[100] ?? '', 'rpl_0'));
    await attempts.record({ ...success(ids[101] ?? ''), status: 'failed', error: 'HTTP 500' });
    await attempts.record({ ...success(ids[102] ?? ''), endpointId: 'ep_2' });

    const sent = await runReplay(recoverJob, { events, queue, attempts });
    expect(sent).toBe(230 - 21);
    expect(queue.sent.map((m) => m.eventId)).toEqual(ids.slice(30, 240).filter((id) => id !== ids[100]));
    expect(queue.sent[0]).toMatchObject({ replayId: 'rcv_1', trigger: 'recover', attempt: 1 });
  });

  it('sends nothing for a delivery a recover made that succeeded, when recovering again', async () => {
    const { events, ids } = store();
    const attempts = new InMemoryAttemptsRepository();
    const queue = new FakeDeliveryQueue();
    await runReplay(recoverJob, { events, queue, attempts });
    for (const message of queue.sent) await attempts.record(success(message.eventId, message.replayId));
    const again = new FakeDeliveryQueue();
    expect(await runReplay({ ...recoverJob, replayId: 'rcv_2' }, { events, queue: again, attempts })).toBe(0);
    expect(again.sendCalls).toBe(0);
    expect(ids).toHaveLength(250);
  });

  it('refuses to run without the attempts', async () => {
    const { events } = store();
    await expect(runReplay(recoverJob, { events, queue: new FakeDeliveryQueue() })).rejects.toThrow(
      /attempts/,
    );
  });
});

describe('replayMessage', () => {
  it('forwards a single delivery (a resend or a test) as it is', async () => {
    const { events, ids } = store();
    const queue = new FakeDeliveryQueue();
    const delivery = {
      storeId: 'store_1',
      endpointId: 'ep_1',
      eventId: ids[3] ?? '',
      replayId: 'rsd_1',
      trigger: 'resend' as const,
      attempt: 1,
    };
    await replayMessage(JSON.stringify({ delivery }), { events, queue, logger: silentLogger });
    expect(queue.sent).toEqual([delivery]);
  });

  it('runs a recover job', async () => {
    const { events } = store();
    const queue = new FakeDeliveryQueue();
    const attempts = new InMemoryAttemptsRepository();
    await replayMessage(JSON.stringify({ ...job, trigger: 'recover' }), {
      events,
      queue,
      attempts,
      logger: silentLogger,
    });
    expect(queue.sent).toHaveLength(230);
  });

  it('throws on a body that is no job', async () => {
    const { events } = store();
    await expect(
      replayMessage(JSON.stringify({ delivery: { storeId: 'x' } }), {
        events,
        queue: new FakeDeliveryQueue(),
        logger: silentLogger,
      }),
    ).rejects.toThrow();
  });
});
