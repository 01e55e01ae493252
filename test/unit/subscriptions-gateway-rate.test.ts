import fc from 'fast-check';
import Stripe from 'stripe';
import { classify } from '../../lambdas/billing/adapters/stripe-payment-gateway';
import { claimFor } from '../../lambdas/billing/domain/charges/charge';
import { consumeChargeMessage } from '../../lambdas/billing/domain/charges/consumer';
import { DEFAULT_CHARGE_SETTINGS, processCharge } from '../../lambdas/billing/domain/charges/process';
import {
  GatewayPacer,
  type GatewaySchedule,
  type GatewayTurn,
  pacedRate,
} from '../../lambdas/billing/domain/gateway-pace';
import { CHARGE_FUNCTION_VARIABLES, RUN_FUNCTION_VARIABLES } from '../../lambdas/billing/function-variables';
import { ConfigError, readConfig } from '../../lambdas/platform/config';
import { billingWorld, T0 } from './support/billing-world';

/**
 * The gateway's shared rate limit (lambdas/billing/domain/gateway-pace.ts: GCRA on one shared schedule) on a fake
 * clock, and what a 429 does to a charge: nothing but a later ask with the same key.
 */

/** Virtual time: `sleep` parks until `run` moves the clock to it; nothing real waits. */
class FakeTime {
  now = Date.UTC(2026, 2, 10, 12, 0, 0, 250);
  private seq = 0;
  private timers: { at: number; seq: number; resolve: () => void }[] = [];

  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      this.timers.push({ at: this.now + Math.max(0, ms), seq: this.seq++, resolve });
    });

  /** Runs every timer due before `end`, in time order, letting each wake-up's promises settle. */
  async run(end: number): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) {
        this.now = end;
        return;
      }
      this.timers.shift();
      this.now = Math.max(this.now, next.at);
      next.resolve();
    }
  }
}

/** A deterministic random in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The shared schedule as the runs table's item keeps it (adapters/dynamo-gateway-schedule.ts): one `nextAt`, each
 * write applied atomically, one at a time, with the adapter's conditions (busy: `nextAt >= now AND nextAt <= latest`;
 * idle: `nextAt` unset or `< now`), `latencyMs` after it was sent, and its answer back at once.
 */
class SharedSchedule implements GatewaySchedule {
  nextAt: number | undefined;
  writes = 0;
  failing = false;
  /** Every send time reserved, in the order the writes were applied. */
  readonly reserved: number[] = [];

  constructor(
    private readonly time: FakeTime,
    private readonly latencyMs: number,
  ) {}

  async reserve(now: number, intervalMs: number, latest: number): Promise<number> {
    if (now > latest) return now;
    await this.time.sleep(this.latencyMs);
    if (this.failing) throw new Error('ProvisionedThroughputExceededException (injected)');
    this.writes += 1;
    if (this.nextAt !== undefined && this.nextAt >= now) {
      if (this.nextAt > latest) return this.nextAt;
      const sendAt = this.nextAt;
      this.nextAt += intervalMs;
      this.reserved.push(sendAt);
      return sendAt;
    }
    this.nextAt = now + intervalMs;
    this.reserved.push(now);
    return now;
  }
}

/** Doubles at epoch ms are exact to about 0.0002 ms: intervals of 52.63… ms are compared to within that. */
const EPSILON = 1e-3;

/** The most of `times` in any sliding second [t, t + 1000). */
function mostInAnySecond(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let to = 0, from = 0; to < sorted.length; to += 1) {
    while ((sorted[to] as number) - (sorted[from] as number) >= 1000) from += 1;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

/** The smallest gap between two of `times`. */
function closest(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < sorted.length; i += 1)
    gap = Math.min(gap, (sorted[i] as number) - (sorted[i - 1] as number));
  return gap;
}

/**
 * `environments` execution environments, each with its own pacer over the same shared schedule, each working
 * `workers` charges at a time (a batch): ask for a turn, then hold the gateway `latencyMs`. @returns the send times.
 */
async function simulate(options: {
  readonly limit: number;
  readonly environments: number;
  readonly workers: number;
  readonly latencyMs: number;
  readonly seconds: number;
  readonly scheduleLatencyMs?: number;
  readonly during?: (time: FakeTime, schedule: SharedSchedule) => Promise<void>;
}) {
  const time = new FakeTime();
  const schedule = new SharedSchedule(time, options.scheduleLatencyMs ?? 5);
  const random = seeded(7);
  const sent: number[] = [];
  const refusals: number[] = [];
  const failures: unknown[] = [];
  const end = time.now + options.seconds * 1000;
  const pacers = Array.from(
    { length: options.environments },
    () =>
      new GatewayPacer(options.limit, schedule, {
        now: () => time.now,
        sleep: time.sleep,
        random,
        onSyncFailure: (error) => failures.push(error),
      }),
  );
  for (const pacer of pacers) {
    for (let worker = 0; worker < options.workers; worker += 1) {
      void (async () => {
        while (time.now < end) {
          const turn = await pacer.turn();
          if (turn.granted) {
            sent.push(time.now);
            await time.sleep(options.latencyMs);
          } else {
            refusals.push(time.now);
            await time.sleep(turn.retryAfterMs);
          }
        }
      })();
    }
  }
  const running = time.run(end);
  await options.during?.(time, schedule);
  await running;
  const start = Math.floor(sent[0] ?? time.now);
  const perWindow = new Map<number, number>();
  for (const at of sent)
    perWindow.set(Math.floor(at / 1000), (perWindow.get(Math.floor(at / 1000)) ?? 0) + 1);
  return { sent, refusals, failures, perWindow, start, schedule, end };
}

describe('the gateway rate limit (shared by every environment)', () => {
  it('paces at the limit less its headroom: 5%, at least one request a second', () => {
    expect(pacedRate(80)).toBe(76);
    expect(pacedRate(20)).toBe(19);
    expect(pacedRate(10)).toBe(9);
    expect(pacedRate(1)).toBe(0.5);
    expect(pacedRate(1000)).toBe(950);
    expect(() => pacedRate(0)).toThrow(/greater than 0/);
  });

  it('never lets two sends of any environments come closer than the interval, in any interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          limit: fc.constantFrom(5, 10, 20, 80),
          scheduleLatencyMs: fc.constantFrom(0, 0, 1, 5, 15, 40),
          // Per environment, per worker: when it starts, how many requests it makes, and the pause after each.
          environments: fc.array(
            fc.array(
              fc.record({
                startMs: fc.integer({ min: 0, max: 2_000 }),
                requests: fc.integer({ min: 1, max: 12 }),
                pauseMs: fc.integer({ min: 0, max: 400 }),
              }),
              { minLength: 1, maxLength: 6 },
            ),
            { minLength: 1, maxLength: 5 },
          ),
        }),
        async ({ limit, scheduleLatencyMs, environments }) => {
          const time = new FakeTime();
          const schedule = new SharedSchedule(time, scheduleLatencyMs);
          const sent: number[] = [];
          for (const workers of environments) {
            const pacer = new GatewayPacer(limit, schedule, {
              now: () => time.now,
              sleep: time.sleep,
              maxWaitMs: 60_000,
            });
            for (const worker of workers) {
              void (async () => {
                await time.sleep(worker.startMs);
                for (let request = 0; request < worker.requests; request += 1) {
                  const turn = await pacer.turn();
                  if (turn.granted) sent.push(time.now);
                  await time.sleep(worker.pauseMs);
                }
              })();
            }
          }
          await time.run(time.now + 120_000);
          const interval = 1000 / pacedRate(limit);
          const total = environments.flat().reduce((sum, worker) => sum + worker.requests, 0);
          // Every request sent (the budget is far), none twice.
          expect(sent).toHaveLength(total);
          // Reserved: never closer than the interval (to the doubles' precision at epoch ms), so at most
          // floor(rate) + 1 in any second, both ends counted: within the limit.
          expect(closest(schedule.reserved)).toBeGreaterThanOrEqual(interval - EPSILON);
          expect(mostInAnySecond(schedule.reserved)).toBeLessThanOrEqual(Math.floor(pacedRate(limit)) + 1);
          // Sent: at the reserved time, or (a slot that was "now" when asked) as soon as the write answered.
          // (a quarter of the headroom at most).
          const tolerance = ((limit - pacedRate(limit)) * interval) / 4;
          expect(closest(sent)).toBeGreaterThanOrEqual(
            interval - Math.min(scheduleLatencyMs, tolerance) - EPSILON,
          );
          expect(mostInAnySecond(sent)).toBeLessThanOrEqual(limit);
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);

  it.each([
    { limit: 20, environments: 2 },
    { limit: 80, environments: 5 },
    { limit: 20, environments: 4 },
  ])(
    'lets $environments environments together reach the rate (limit $limit/s), never above the bound',
    async ({ limit, environments }) => {
      // Prepare: far more demand than the limit (10 charges at a time per environment, 300 ms each).
      const rate = pacedRate(limit);
      // Act
      const { sent, start, schedule } = await simulate({
        limit,
        environments,
        workers: 10,
        latencyMs: 300,
        seconds: 20,
      });
      // Assess: the bound, in any second (sliding), from the first request on: floor(rate) + 1, within the limit;
      // no two sends closer than the interval, but for the write's 5 ms when a slot was "now".
      expect(mostInAnySecond(sent)).toBeLessThanOrEqual(Math.floor(rate) + 1);
      expect(mostInAnySecond(sent)).toBeLessThanOrEqual(limit);
      expect(closest(sent)).toBeGreaterThanOrEqual(1000 / rate - 5 - EPSILON);
      // At the rate once started (after the first 2 s).
      const steady = sent.filter((at) => at >= start + 2000);
      expect(steady.length / 18).toBeGreaterThanOrEqual(0.95 * rate);
      // One write per request when busy, not more.
      expect(schedule.writes).toBeLessThanOrEqual(sent.length + environments);
    },
    30_000,
  );

  it('never lets one request wait past its budget: it is given up (not sent) with a time to come back', async () => {
    // 200 charges at a time in one environment against 20/s: most cannot have a turn within 5 s.
    const { sent, refusals, schedule } = await simulate({
      limit: 20,
      environments: 1,
      workers: 200,
      latencyMs: 300,
      seconds: 10,
    });
    expect(refusals.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThanOrEqual(19 * 10 + 1);
    // The ones given up reserved nothing: every reserved slot was sent (but the one still waiting at the end).
    expect(schedule.reserved.length - sent.length).toBeLessThanOrEqual(1);
  });

  it('does not send, nor reserve, a request whose slot is past the budget', async () => {
    const time = new FakeTime();
    const schedule = new SharedSchedule(time, 2);
    // Other environments hold the schedule 8 s ahead.
    schedule.nextAt = time.now + 8_000;
    const pacer = new GatewayPacer(20, schedule, {
      now: () => time.now,
      sleep: time.sleep,
      maxWaitMs: 5_000,
    });
    let answer: GatewayTurn | undefined;
    void pacer.turn().then((turn) => {
      answer = turn;
    });
    await time.run(time.now + 100);
    expect(answer).toMatchObject({ granted: false });
    expect((answer as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(7_900);
    expect(schedule.nextAt).toBe(time.now - 100 + 8_000);
    expect(schedule.reserved).toEqual([]);
    // Within the budget: granted at the schedule's time.
    schedule.nextAt = time.now + 3_000;
    const due = schedule.nextAt;
    let granted: number | undefined;
    void pacer.turn().then((turn) => {
      if (turn.granted) granted = time.now;
    });
    await time.run(time.now + 4_000);
    expect(granted).toBe(due);
  });

  it('gives turns in order of asking within an environment, one interval apart', async () => {
    const time = new FakeTime();
    const schedule = new SharedSchedule(time, 3);
    const pacer = new GatewayPacer(20, schedule, { now: () => time.now, sleep: time.sleep });
    const order: { request: number; at: number }[] = [];
    for (let request = 0; request < 6; request += 1) {
      void pacer.turn().then(() => order.push({ request, at: time.now }));
    }
    await time.run(time.now + 2_000);
    expect(order.map((entry) => entry.request)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(closest(order.map((entry) => entry.at))).toBeGreaterThanOrEqual(1000 / 19 - 3 - EPSILON);
  });

  it('falls back to each environment’s own pace when the shared schedule fails, and shares again once it answers', async () => {
    const { perWindow, failures, start, sent, end } = await simulate({
      limit: 20,
      environments: 2,
      workers: 10,
      latencyMs: 300,
      seconds: 30,
      during: async (time, schedule) => {
        // Seconds 10 to 20: every write fails (DynamoDB throttled or down).
        await time.run(time.now + 10_000);
        schedule.failing = true;
        await time.run(time.now + 10_000);
        schedule.failing = false;
      },
    });
    const second = (n: number) => perWindow.get(Math.floor(start / 1000) + n) ?? 0;
    // Failing: reported, retried about once a second per environment (not per request), and nothing stops: each
    // environment paces on its own schedule (at most 2 x 19).
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.length).toBeLessThanOrEqual(2 * 10 * 2 + 2);
    for (let n = 12; n < 19; n += 1) {
      expect(second(n)).toBeGreaterThanOrEqual(19);
      expect(second(n)).toBeLessThanOrEqual(2 * 19 + 1);
    }
    // Recovered: shared again, within the bound from the first second after (each retries within 1.5 s).
    const recovered = sent.filter((at) => at >= end - 30_000 + 20_000 + 1_500);
    expect(mostInAnySecond(recovered)).toBeLessThanOrEqual(19);
    for (let n = 24; n < 29; n += 1) expect(second(n)).toBeGreaterThanOrEqual(18);
  }, 30_000);

  it('falls back when the shared schedule does not answer in time', async () => {
    const time = new FakeTime();
    const failures: unknown[] = [];
    const hanging: GatewaySchedule = { reserve: () => new Promise<number>(() => {}) };
    const pacer = new GatewayPacer(20, hanging, {
      now: () => time.now,
      sleep: time.sleep,
      maxSyncWaitMs: 500,
      onSyncFailure: (error) => failures.push(error),
    });
    const t0 = time.now;
    const granted: number[] = [];
    for (let request = 0; request < 3; request += 1) {
      void pacer.turn().then((turn) => {
        if (turn.granted) granted.push(time.now);
      });
    }
    await time.run(t0 + 2_000);
    expect(failures).toHaveLength(1);
    expect(granted).toHaveLength(3);
    expect(granted[0]).toBe(t0 + 500);
    expect(closest(granted)).toBeGreaterThanOrEqual(1000 / 19 - EPSILON);
  });

  it('keeps sending, within the bound, when the shared schedule answers slower than the headroom', async () => {
    // Writes answered after 80 ms, more than the headroom (52 ms at 20/s): a slot "now" would always come too late.
    const { sent, start, schedule } = await simulate({
      limit: 20,
      environments: 3,
      workers: 10,
      latencyMs: 300,
      seconds: 20,
      scheduleLatencyMs: 80,
    });
    // Sent at most the headroom late: within the limit in any second.
    expect(mostInAnySecond(sent)).toBeLessThanOrEqual(20);
    expect(closest(schedule.reserved)).toBeGreaterThanOrEqual(1000 / 19 - EPSILON);
    const steady = sent.filter((at) => at >= start + 2000);
    expect(steady.length / 18).toBeGreaterThanOrEqual(0.95 * 19);
    // Few slots given up (the first asks, before the latency is known).
    expect(schedule.reserved.length - sent.length).toBeLessThanOrEqual(10);
  }, 30_000);

  it('holds an environment back after a 429 for its Retry-After', async () => {
    const time = new FakeTime();
    const schedule = new SharedSchedule(time, 1);
    const pacer = new GatewayPacer(20, schedule, { now: () => time.now, sleep: time.sleep });
    const t0 = time.now;
    pacer.holdOff(2_000);
    let granted: number | undefined;
    void pacer.turn().then(() => {
      granted = time.now;
    });
    await time.run(t0 + 3_000);
    expect(granted).toBeGreaterThanOrEqual(t0 + 2_000);
    expect(granted).toBeLessThanOrEqual(t0 + 2_010);
    // Longer than the wait budget: given up at once, with the hold-off as the time to come back, nothing reserved.
    pacer.holdOff(60_000);
    const reserved = schedule.reserved.length;
    let answer: unknown;
    void pacer.turn().then((turn) => {
      answer = turn;
    });
    await time.run(time.now + 1);
    expect(answer).toEqual({ granted: false, retryAfterMs: expect.any(Number) });
    expect((answer as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(50_000);
    expect(schedule.reserved).toHaveLength(reserved);
  });
});

describe('a 429 from the gateway is not an answer', () => {
  const runId = '2026-03-10';
  const keyOf = (id: string) => `charge:acme:${id}:2026-03-10:0`;

  async function claimed(world: ReturnType<typeof billingWorld>, id: string) {
    const subscription = await world.subscribe(id);
    const claim = claimFor(subscription, runId, T0);
    await world.charges.claim(claim);
    return { storeId: 'acme', subscriptionId: id, period: claim.period, attempt: 0 };
  }

  it('is asked again with the same key: no decline, no stored 5xx, no search, no new key', async () => {
    // Prepare
    const world = billingWorld();
    const ref = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'rate-limit' };
    // Act
    const first = await processCharge(world.chargeDeps, ref);
    // Assess: pending, as nothing was answered; the claim is as it was but for the ask's mark.
    expect(first).toMatchObject({ outcome: 'pending', cause: 'rate-limited', rateLimited: {} });
    const after429 = await world.charges.get(ref);
    expect(after429).toMatchObject({ status: 'pending', idempotencyKey: keyOf('a'), asks: 1 });
    expect(after429?.serverErrorAt).toBeUndefined();
    expect(after429?.keyGeneration).toBeUndefined();
    expect(after429?.declineCode).toBeUndefined();
    expect((await world.subscriptions.get('acme', 'a'))?.status).toBe('active');
    // Asked again (a minute later, and again past the search's settle time: still no search), same key.
    world.clock.now += DEFAULT_CHARGE_SETTINGS.searchSettleMs + 60_000;
    world.gateway.nextFault = { kind: 'rate-limit' };
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ cause: 'rate-limited' });
    expect(await processCharge(world.chargeDeps, ref)).toEqual({
      outcome: 'succeeded',
      repeated: false,
      applied: true,
    });
    expect(world.gateway.calls).toEqual({ charge: 3, retrieve: 0, search: 0 });
    expect(world.gateway.moneyMoved().map((entry) => entry.idempotencyKey)).toEqual([keyOf('a')]);
    expect(await world.charges.get(ref)).toMatchObject({ status: 'succeeded', idempotencyKey: keyOf('a') });
  });

  it('does not spend the message’s retries: a gateway answering 429 without end keeps it pending, off the DLQ for most of a day', async () => {
    // Prepare: every request refused by the gateway's rate limiter.
    const world = billingWorld();
    const ref = await claimed(world, 'a');
    world.gateway.simulator.rateLimit = { requestsPerSecond: 0 };
    const retried: { message: Record<string, unknown>; delay: number }[] = [];
    const dead: string[] = [];
    const queue = {
      retryLater: async (message: Record<string, unknown>, delay: number) => {
        retried.push({ message, delay });
      },
      sendToDeadLetter: async (_message: unknown, reason: string) => {
        dead.push(reason);
      },
    };
    let message: Record<string, unknown> = { ...ref, runId, retries: 0 };
    let waited = 0;
    // Act: 99 deliveries, each after the delay the previous one asked for.
    for (let delivery = 0; delivery < 99; delivery += 1) {
      const result = await consumeChargeMessage(
        { ...world.chargeDeps, queue, random: () => 0.5 },
        message as never,
      );
      expect(result).toMatchObject({ next: 'retry', outcome: { outcome: 'pending', cause: 'rate-limited' } });
      const last = retried[retried.length - 1] as { message: Record<string, unknown>; delay: number };
      message = last.message;
      waited += last.delay;
      world.clock.now += last.delay * 1000;
    }
    // Assess: still pending, nothing moved, the retry budget untouched, delays capped at SQS's 15 minutes.
    expect(dead).toEqual([]);
    expect(message).toMatchObject({ retries: 0, throttles: 99 });
    // Jittered into [1/2, 1] of the doubling delay, which stops at SQS's 15 minutes.
    expect(Math.max(...retried.map((entry) => entry.delay))).toBe(675);
    expect(waited).toBeGreaterThan(16 * 3600);
    expect(world.gateway.calls.search).toBe(0);
    expect(world.gateway.moneyMoved()).toEqual([]);
    const charge = await world.charges.get(ref);
    expect(charge).toMatchObject({ status: 'pending', idempotencyKey: keyOf('a') });
    expect(charge?.serverErrorAt).toBeUndefined();
    // The 429s stop: charged once, with the same key (the key's age counts from its first send: < 23 h here).
    world.gateway.simulator.rateLimit = undefined;
    expect(await consumeChargeMessage({ ...world.chargeDeps, queue }, message as never)).toMatchObject({
      outcome: { outcome: 'succeeded' },
    });
    expect(world.gateway.moneyMoved().map((entry) => entry.idempotencyKey)).toEqual([keyOf('a')]);
    // And after maxThrottles, the message waits on the DLQ (the run's stall sweep sends it again).
    const other = await claimed(world, 'b');
    world.gateway.simulator.rateLimit = { requestsPerSecond: 0 };
    expect(
      await consumeChargeMessage({ ...world.chargeDeps, queue }, {
        ...other,
        runId,
        retries: 0,
        throttles: 128,
      } as never),
    ).toMatchObject({ next: 'dead-letter' });
  });

  it('honours Retry-After, and jitters the delay so that charges refused together do not return together', async () => {
    const world = billingWorld();
    const ref = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'rate-limit' };
    const delays: number[] = [];
    const queue = {
      retryLater: async (_message: unknown, delay: number) => {
        delays.push(delay);
      },
      sendToDeadLetter: async () => {},
    };
    const deps = { ...world.chargeDeps, queue, consumer: { retryBaseSeconds: 8 } };
    await consumeChargeMessage({ ...deps, random: () => 0 }, { ...ref, runId, throttles: 2 });
    world.gateway.nextFault = { kind: 'rate-limit' };
    await consumeChargeMessage({ ...deps, random: () => 0.999 }, { ...ref, runId, throttles: 2 });
    // 8 s x 2^2 = 32 s, jittered into [16, 32] s.
    expect(delays).toEqual([16, 32]);
    // A Retry-After longer than the backoff wins.
    const outcome = classify(
      Stripe.errors.StripeError.generate({
        type: 'invalid_request_error',
        code: 'rate_limit',
        message: 'Request rate limit exceeded.',
        statusCode: 429,
        headers: { 'retry-after': '120' },
      } as never),
    );
    expect(outcome).toMatchObject({
      kind: 'unknown',
      cause: 'rate-limited',
      rateLimited: { retryAfterMs: 120_000 },
    });
    const gateway = world.gateway;
    const original = gateway.charge.bind(gateway);
    gateway.charge = async () => outcome;
    await consumeChargeMessage({ ...deps, random: () => 0 }, { ...ref, runId });
    gateway.charge = original;
    expect(delays[2]).toBe(120);
  });

  it('never reads a refused search as "nothing found": no new key until a search really answers', async () => {
    // Prepare: a stored 500, so the charge is reconciled by search; the search is believed by now.
    const world = billingWorld();
    const ref = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'error500' };
    await processCharge(world.chargeDeps, ref);
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ cause: 'search-not-settled' });
    world.clock.now += DEFAULT_CHARGE_SETTINGS.searchSettleMs + 60_000;
    // Act: the search meets the rate limiter.
    world.gateway.simulator.rateLimit = { requestsPerSecond: 0 };
    const refused = await processCharge(world.chargeDeps, ref);
    // Assess: pending, the same key; once the search answers (nothing), the next key is asked, once.
    expect(refused).toMatchObject({ outcome: 'pending', cause: 'rate-limited' });
    expect((await world.charges.get(ref))?.keyGeneration).toBeUndefined();
    world.gateway.simulator.rateLimit = undefined;
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
    expect(world.gateway.moneyMoved().map((entry) => entry.idempotencyKey)).toEqual([`${keyOf('a')}:k1`]);
  });
});

describe('PAYMENT_GATEWAY_RATE_LIMIT', () => {
  const env = { CHARGES_TABLE_NAME: 'c', SUBSCRIPTIONS_TABLE_NAME: 's', RUNS_TABLE_NAME: 'r' };
  const charge = (value?: string) =>
    readConfig(
      CHARGE_FUNCTION_VARIABLES,
      {
        ...env,
        CHARGES_QUEUE_URL: 'q',
        CHARGES_DLQ_URL: 'd',
        PAYMENT_GATEWAY_API_KEY_SECRET_ARN: 'arn',
        ...(value !== undefined ? { PAYMENT_GATEWAY_RATE_LIMIT: value } : {}),
      },
      'aws',
    );

  it('defaults to 80 requests a second, and takes a positive number', () => {
    expect(charge().PAYMENT_GATEWAY_RATE_LIMIT).toBe(80);
    expect(charge('').PAYMENT_GATEWAY_RATE_LIMIT).toBe(80);
    expect(charge(' 20 ').PAYMENT_GATEWAY_RATE_LIMIT).toBe(20);
    expect(charge('2.5').PAYMENT_GATEWAY_RATE_LIMIT).toBe(2.5);
    expect(RUN_FUNCTION_VARIABLES).toContain('PAYMENT_GATEWAY_RATE_LIMIT');
  });

  it.each(['0', '-5', 'fast', '80/s', '1e3', '0.0'])('stops start-up on %j, naming the variable', (value) => {
    let caught: unknown;
    try {
      charge(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems.map((problem) => problem.variable)).toEqual([
      'PAYMENT_GATEWAY_RATE_LIMIT',
    ]);
    expect((caught as ConfigError).message).toContain('PAYMENT_GATEWAY_RATE_LIMIT');
  });
});
