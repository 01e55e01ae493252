import fc from 'fast-check';
import { newEventId } from '../../lambdas/events/domain/events';
import { Delivery, type DeliveryDependencies } from '../../lambdas/webhooks/domain/delivery';
import type { AttemptResult } from '../../lambdas/webhooks/domain/delivery-policy';
import {
  EndpointPace,
  type EndpointSchedule,
  LATE_TOLERANCE_MS,
  MAX_SLEEP_MS,
  type RateSlot,
  SLOT_LEAD_MS,
  slotIntervalMs,
} from '../../lambdas/webhooks/domain/endpoint-pace';
import type { Endpoint } from '../../lambdas/webhooks/domain/endpoints';
import { CachedEndpoints } from '../../lambdas/webhooks/domain/fanout';
import type { DeliveryMessage } from '../../lambdas/webhooks/domain/messages';
import { FakeClock } from './support/clock';
import {
  endpointFixture,
  eventFixture,
  FakeDeliveryQueue,
  InMemoryAttemptsRepository,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
  Io,
  RecordingMetrics,
  ScriptedSender,
} from './support/webhook-fakes';

/** The per-endpoint rate limit (domain/endpoint-pace.ts, docs/rate-limiter.md "The endpoint limit"). */

const START = Date.parse('2024-06-01T12:00:00.000Z');
const never = () => new Promise<never>(() => {});

/** The shared schedule as one value per endpoint, as the DynamoDB item holds it; counts its writes. */
class InMemorySchedule implements EndpointSchedule {
  readonly nextAt = new Map<string, number>();
  writes = 0;
  failing = false;
  async reserve(endpointId: string, now: number, intervalMs: number): Promise<number> {
    if (this.failing) throw new Error('ProvisionedThroughputExceededException');
    this.writes += 1;
    const sendAt = Math.max(now, this.nextAt.get(endpointId) ?? Number.NEGATIVE_INFINITY);
    this.nextAt.set(endpointId, sendAt + intervalMs);
    return sendAt;
  }
}

/** The most sends in any half-open second [t, t + 1000). */
function maxPerSecond(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last += 1) {
    while ((sorted[last] as number) - (sorted[first] as number) >= 1000) first += 1;
    max = Math.max(max, last - first + 1);
  }
  return max;
}

describe('EndpointPace', () => {
  it('never lets more than rateLimit deliveries a second through, whatever the backlog, the environments and the lateness', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 150 }),
        fc.integer({ min: 1, max: 4 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 1_000 })),
        async (rateLimit, arrivals, environments, randomness) => {
          const clock = new FakeClock(START);
          const schedule = new InMemorySchedule();
          const paces = Array.from(
            { length: environments },
            () => new EndpointPace(schedule, { now: clock.now, sleep: never }),
          );
          const draws = randomness[Symbol.iterator]();
          const draw = () => draws.next().value as number;
          // Discrete events: a message arriving (carrying a slot or not) at a time.
          const pending: { at: number; slot?: RateSlot }[] = arrivals.map((a) => ({ at: START + a }));
          const sent: number[] = [];
          let steps = 0;
          while (pending.length > 0) {
            steps += 1;
            if (steps > 100_000) throw new Error('the simulation does not end');
            pending.sort((a, b) => a.at - b.at);
            const next = pending.shift() as { at: number; slot?: RateSlot };
            clock.time = Math.max(clock.time, next.at);
            const pace = paces[draw() % environments] as EndpointPace;
            const decision = await pace.decide('ep_1', rateLimit, next.slot);
            if (decision.kind === 'unavailable') throw decision.error;
            if (decision.kind === 'send') {
              // The consumer sleeps until the slot, and is sometimes late: over the tolerance it gives the slot up.
              const late = draw() % 60;
              if (late > LATE_TOLERANCE_MS) pending.push({ at: decision.sendAt + late });
              else sent.push(Math.max(clock.time, decision.sendAt) + late);
              expect(decision.sendAt - clock.time).toBeLessThanOrEqual(MAX_SLEEP_MS);
            } else {
              // Back in the queue: due SLOT_LEAD_MS early, then SQS's whole seconds and a poll's lag (sometimes long).
              const lag = draw() < 950 ? draw() % 1_400 : 1_600 + draw();
              pending.push({
                at: Math.max(clock.time, decision.slot.at - SLOT_LEAD_MS) + lag,
                slot: decision.slot,
              });
            }
          }
          expect(sent).toHaveLength(arrivals.length);
          expect(maxPerSecond(sent)).toBeLessThanOrEqual(rateLimit);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('paces at 95% of the limit, and a backlog finishes near that rate', async () => {
    expect(slotIntervalMs(5)).toBeCloseTo(210.53, 1);
    expect(() => slotIntervalMs(0)).toThrow();
    const clock = new FakeClock(START);
    const schedule = new InMemorySchedule();
    const pace = new EndpointPace(schedule, { now: clock.now, sleep: never });
    const slots: number[] = [];
    for (let i = 0; i < 100; i += 1) {
      const decision = await pace.decide('ep_1', 5, undefined);
      if (decision.kind === 'unavailable') throw decision.error;
      slots.push(decision.slot.at);
    }
    // One write per delivery; the 100th slot is 99 intervals after the first.
    expect(schedule.writes).toBe(100);
    expect((slots[99] as number) - (slots[0] as number)).toBeCloseTo(99 * slotIntervalMs(5), 1);
  });

  it('uses a carried slot without a write; reserves again for a missed slot or a lowered limit', async () => {
    const clock = new FakeClock(START);
    const schedule = new InMemorySchedule();
    const pace = new EndpointPace(schedule, { now: clock.now, sleep: never });
    const carried = { at: START + 1_000, limit: 5 };
    expect(await pace.decide('ep_1', 5, carried)).toEqual({
      kind: 'send',
      sendAt: START + 1_000,
      slot: carried,
    });
    expect(await pace.decide('ep_1', 10, carried)).toMatchObject({ kind: 'send' });
    expect(schedule.writes).toBe(0);
    expect(await pace.decide('ep_1', 2, carried)).toMatchObject({ kind: 'send', sendAt: START });
    expect(schedule.writes).toBe(1);
    clock.advance(1_000 + LATE_TOLERANCE_MS + 1);
    const again = await pace.decide('ep_1', 5, carried);
    expect(again.kind).toBe('send');
    expect(schedule.writes).toBe(2);
    expect(pace.missed).toBe(2);
  });

  it('answers unavailable when the schedule fails or does not answer in time, reserving nothing', async () => {
    const clock = new FakeClock(START);
    const schedule = new InMemorySchedule();
    schedule.failing = true;
    const failing = new EndpointPace(schedule, { now: clock.now, sleep: never });
    expect(await failing.decide('ep_1', 5, undefined)).toMatchObject({ kind: 'unavailable' });
    const slow = new EndpointPace({ reserve: never }, { now: clock.now, sleep: async () => {} });
    expect(await slow.decide('ep_1', 5, undefined)).toMatchObject({ kind: 'unavailable' });
  });
});

const ok: AttemptResult = { status: 200, durationMs: 5 };
const SECRET_HEADER = 'Bearer zap_secret_0123456789abcdef';

function setUp(endpoint: Partial<Endpoint>, script: AttemptResult[] = [ok]) {
  const io = new Io();
  const clock = new FakeClock(START);
  const endpoints = new InMemoryEndpointsRepository(io);
  const attempts = new InMemoryAttemptsRepository(io);
  const queue = new FakeDeliveryQueue();
  const sender = new ScriptedSender(script);
  const metrics = new RecordingMetrics();
  const schedule = new InMemorySchedule();
  const logged: unknown[] = [];
  const record = (...args: unknown[]) => {
    logged.push(args);
  };
  const event = eventFixture(newEventId(START - 1_000));
  endpoints.seed(endpointFixture(endpoint));
  const deps: DeliveryDependencies = {
    endpoints: new CachedEndpoints(endpoints, { now: clock.now }),
    endpointWrites: endpoints,
    events: new InMemoryEventsRepository(io),
    attempts,
    queue,
    sender,
    metrics,
    logger: { debug: record, info: record, warn: record, error: record },
    retryScheduleMs: [0, 5_000, 300_000],
    disableAfterMs: 5 * 86_400_000,
    pace: new EndpointPace(schedule, { now: clock.now, sleep: never }),
    now: clock.now,
    random: () => 0.5,
    sleep: async (ms) => clock.advance(ms),
  };
  const message: DeliveryMessage = {
    storeId: 'store_1',
    endpointId: 'ep_1',
    eventId: event.id,
    attempt: 2,
    event,
  };
  return { io, clock, queue, sender, metrics, schedule, logged, deps, message, attempts, endpoints };
}

describe('Delivery to a rate-limited endpoint', () => {
  it('sends the custom headers, the signature headers winning, and logs none of their values', async () => {
    const t = setUp({ headers: { Authorization: SECRET_HEADER, 'X-Shop': 'acme' } }, [
      { status: 500, durationMs: 5, error: 'HTTP 500', responseBody: 'nope' },
    ]);
    const result = await new Delivery(t.deps).deliver(t.message);
    expect(result).toEqual({ kind: 'attempted', outcome: 'retry' });
    expect(t.sender.requests[0]?.headers).toMatchObject({
      Authorization: SECRET_HEADER,
      'X-Shop': 'acme',
      'webhook-id': t.message.eventId,
    });
    expect(t.logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(t.logged)).not.toContain('zap_secret');
    expect(JSON.stringify(t.queue.sent)).not.toContain('zap_secret');
  });

  it('an endpoint without a limit pays no reservation: two writes for a first-attempt success, as before', async () => {
    const t = setUp({});
    const result = await new Delivery(t.deps).deliver({ ...t.message, attempt: 1 });
    expect(result).toMatchObject({ kind: 'attempted', outcome: 'succeeded' });
    expect(t.schedule.writes).toBe(0);
    expect(t.io.writes).toBe(2);
  });

  it('a delivery whose slot is far goes back to the queue with it: same attempt, no POST, no failure', async () => {
    const t = setUp({ rateLimit: 5 });
    t.schedule.nextAt.set('ep_1', START + 60_000);
    const result = await new Delivery(t.deps).deliver(t.message);
    expect(result).toEqual({ kind: 'rate-limited' });
    expect(t.sender.requests).toHaveLength(0);
    expect(t.queue.sent).toEqual([
      {
        ...t.message,
        attempt: 2,
        rateSlot: { at: START + 60_000, limit: 5 },
        notBefore: START + 60_000 - SLOT_LEAD_MS,
      },
    ]);
    expect(t.metrics.attempts).toHaveLength(0);
    expect(t.metrics.counts).toEqual(['DeliveryRateLimited']);
    expect((await t.endpoints.get('store_1', 'ep_1'))?.failingSince).toBeUndefined();
    expect(t.io.writes).toBe(0);
  });

  it('a delivery back for its slot sleeps until it and sends, with one write for the lease and one for the record', async () => {
    const t = setUp({ rateLimit: 5 });
    const slot = { at: START + 1_200, limit: 5 };
    const result = await new Delivery(t.deps).deliver({
      ...t.message,
      rateSlot: slot,
      notBefore: START - 300,
    });
    expect(result).toMatchObject({ kind: 'attempted', outcome: 'succeeded' });
    expect(t.clock.time).toBe(START + 1_200);
    expect(t.sender.requests).toHaveLength(1);
    expect(t.schedule.writes).toBe(0);
    expect(t.io.writes).toBe(2);
  });

  it('a near slot is waited for in the function: one reservation, then the POST at its time', async () => {
    const t = setUp({ rateLimit: 5 });
    t.schedule.nextAt.set('ep_1', START + 800);
    const result = await new Delivery(t.deps).deliver(t.message);
    expect(result).toMatchObject({ kind: 'attempted', outcome: 'succeeded' });
    expect(t.schedule.writes).toBe(1);
    expect(t.queue.sent).toHaveLength(0);
  });

  it('a slot that passed while the lease was taken is given up: lease released, re-queued to reserve again', async () => {
    const t = setUp({ rateLimit: 5 });
    const slot = { at: START + 100, limit: 5 };
    // The sleep overshoots past the tolerance (a late timer).
    const deps = { ...t.deps, sleep: async (ms: number) => t.clock.advance(ms + LATE_TOLERANCE_MS + 10) };
    const result = await new Delivery(deps).deliver({ ...t.message, rateSlot: slot });
    expect(result).toEqual({ kind: 'rate-limited' });
    expect(t.sender.requests).toHaveLength(0);
    const { rateSlot: _slot, ...unslotted } = t.message;
    expect(t.queue.sent).toEqual([{ ...unslotted, attempt: 2 }]);
    expect(t.metrics.counts).toEqual(['EndpointLimitSlotMissed']);
    // The lease was released: the next copy may send.
    expect(t.attempts.leases.size).toBe(0);
  });

  it('when the schedule cannot be reached, nothing is sent: re-queued for 1-2 s, attempt kept, counted', async () => {
    const t = setUp({ rateLimit: 5, headers: { Authorization: SECRET_HEADER } });
    t.schedule.failing = true;
    const result = await new Delivery(t.deps).deliver(t.message);
    expect(result).toEqual({ kind: 'rate-limited' });
    expect(t.sender.requests).toHaveLength(0);
    expect(t.queue.sent).toEqual([{ ...t.message, notBefore: START + 1_500 }]);
    expect(t.metrics.counts).toEqual(['EndpointLimitSyncFailures']);
    expect(JSON.stringify(t.logged)).not.toContain('zap_secret');
  });
});
