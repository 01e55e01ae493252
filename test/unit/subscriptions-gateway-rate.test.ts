import Stripe from 'stripe';
import { classify } from '../../lambdas/billing/adapters/stripe-payment-gateway';
import { claimFor } from '../../lambdas/billing/domain/charges/charge';
import { consumeChargeMessage } from '../../lambdas/billing/domain/charges/consumer';
import { DEFAULT_CHARGE_SETTINGS, processCharge } from '../../lambdas/billing/domain/charges/process';
import { GATEWAY_LIMIT_KEY, GatewayPacer, pacedRate } from '../../lambdas/billing/domain/gateway-pace';
import { CHARGE_FUNCTION_VARIABLES, RUN_FUNCTION_VARIABLES } from '../../lambdas/billing/function-variables';
import { ConfigError, readConfig } from '../../lambdas/platform/config';
import type {
  StoreWindowCounters,
  WindowCountsUpdate,
} from '../../lambdas/stores/domain/shared-store-throttle';
import { billingWorld, T0 } from './support/billing-world';

/**
 * The gateway's shared rate limit (lambdas/billing/domain/gateway-pace.ts) on a fake clock, and what a 429 does to
 * a charge: nothing but a later ask with the same key.
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

/** The shared record as the runs table's item keeps it: one ADD per sync, answered after `latencyMs`. */
class SharedCounts implements StoreWindowCounters {
  readonly windows = new Map<number, number>();
  syncs = 0;
  failing = false;

  constructor(
    private readonly time: FakeTime,
    private readonly latencyMs: number,
  ) {}

  async add(key: string, update: WindowCountsUpdate) {
    expect(key).toBe(GATEWAY_LIMIT_KEY);
    await this.time.sleep(this.latencyMs);
    if (this.failing) throw new Error('ProvisionedThroughputExceededException (injected)');
    this.syncs += 1;
    for (const [window, count] of update.increments) {
      this.windows.set(window, (this.windows.get(window) ?? 0) + count);
    }
    for (const window of update.forget) if (!update.increments.has(window)) this.windows.delete(window);
    return new Map(this.windows);
  }
}

/**
 * `environments` execution environments, each with its own pacer over the same shared counts, each working
 * `workers` charges at a time (a batch): ask for a turn, then hold the gateway `latencyMs`. @returns the send times.
 */
async function simulate(options: {
  readonly limit: number;
  readonly environments: number;
  readonly workers: number;
  readonly latencyMs: number;
  readonly seconds: number;
  readonly counts?: (time: FakeTime) => SharedCounts;
  readonly during?: (time: FakeTime, counts: SharedCounts) => Promise<void>;
}) {
  const time = new FakeTime();
  const counts = options.counts?.(time) ?? new SharedCounts(time, 5);
  const random = seeded(7);
  const sent: number[] = [];
  const refusals: number[] = [];
  const failures: unknown[] = [];
  const end = time.now + options.seconds * 1000;
  const pacers = Array.from(
    { length: options.environments },
    () =>
      new GatewayPacer(options.limit, counts, {
        now: () => time.now,
        sleep: time.sleep,
        random,
        // The sync is always waited for on a fake clock (real timers would race it).
        maxSyncWaitMs: Number.POSITIVE_INFINITY,
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
  await options.during?.(time, counts);
  await running;
  const start = Math.floor(sent[0] ?? time.now);
  const perWindow = new Map<number, number>();
  for (const at of sent)
    perWindow.set(Math.floor(at / 1000), (perWindow.get(Math.floor(at / 1000)) ?? 0) + 1);
  return { sent, refusals, failures, perWindow, start, counts, end };
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

  it.each([
    { limit: 20, environments: 2 },
    { limit: 80, environments: 5 },
    { limit: 20, environments: 4 },
  ])(
    'lets $environments environments together send no more in any second than the bound (limit $limit/s), and reach the rate',
    async ({ limit, environments }) => {
      // Prepare: far more demand than the limit (10 charges at a time per environment, 300 ms each).
      const rate = pacedRate(limit);
      // Act
      const { sent, perWindow, start, counts } = await simulate({
        limit,
        environments,
        workers: 10,
        latencyMs: 300,
        seconds: 20,
      });
      // Assess: the documented bound, in any second (sliding): 1 + rate x 1.05, which is within the limit.
      const sorted = [...sent].sort((a, b) => a - b);
      let most = 0;
      for (let to = 0, from = 0; to < sorted.length; to += 1) {
        while ((sorted[to] as number) - (sorted[from] as number) >= 1000) from += 1;
        most = Math.max(most, to - from + 1);
      }
      // Plus one per other environment whose request the record put behind another (counted where it was let
      // through, sent a few windows later): within the limit itself for two environments.
      expect(most).toBeLessThanOrEqual(Math.floor(1 + rate * 1.05) + environments - 1);
      if (environments <= 2) expect(most).toBeLessThanOrEqual(limit);
      // At the rate once started (after the first 2 s).
      const steady = sent.filter((at) => at >= start + 2000);
      expect(steady.length / 18).toBeGreaterThanOrEqual(0.95 * rate);
      // Over longer spans (10 whole seconds), never above the limit on average.
      const first = Math.floor(start / 1000) + 1;
      for (const block of [first, first + 10]) {
        let total = 0;
        for (let window = block; window < block + 10; window += 1) total += perWindow.get(window) ?? 0;
        // Within the limit for as many environments as lib/features/billing.ts sizes the consumer to (2 at 20/s,
        // 5 at 80/s); beyond, each deferred request may add a few.
        expect(total).toBeLessThanOrEqual(
          10 * limit + (environments <= 1 + Math.max(1, limit * 0.05) ? 0 : 10 * (environments - 2)),
        );
      }
      // About one write per request (each environment syncs before its next request), not more.
      expect(counts.syncs).toBeLessThanOrEqual(sent.length + environments * 25);
    },
    30_000,
  );

  it('never lets one request wait past its budget: it is given up (not sent) with a time to come back', async () => {
    // 100 charges at a time in one environment against 20/s: most cannot have a turn within 5 s.
    const { sent, refusals } = await simulate({
      limit: 20,
      environments: 1,
      workers: 200,
      latencyMs: 300,
      seconds: 10,
    });
    expect(refusals.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThanOrEqual(19 * 10 + 1);
  });

  it('falls back to each environment’s own pace when the shared record fails, and shares again once it answers', async () => {
    const { perWindow, failures, start } = await simulate({
      limit: 20,
      environments: 2,
      workers: 10,
      latencyMs: 300,
      seconds: 30,
      during: async (time, counts) => {
        // Seconds 10 to 20: every sync fails (DynamoDB throttled or down).
        await time.run(time.now + 10_000);
        counts.failing = true;
        await time.run(time.now + 10_000);
        counts.failing = false;
      },
    });
    const second = (n: number) => perWindow.get(Math.floor(start / 1000) + n) ?? 0;
    // Failing: reported, and nothing stops: each environment paces on its own bucket (at most 2 x 19 + a burst).
    expect(failures.length).toBeGreaterThan(0);
    for (let n = 12; n < 19; n += 1) {
      expect(second(n)).toBeGreaterThanOrEqual(19);
      expect(second(n)).toBeLessThanOrEqual(2 * 19 + 2);
    }
    // Recovered: shared again, within the limit (a second or two for the counts to catch up with the horizon).
    for (let n = 24; n < 29; n += 1) expect(second(n)).toBeLessThanOrEqual(20);
  }, 30_000);

  it('holds an environment back after a 429 for its Retry-After', async () => {
    const time = new FakeTime();
    const counts = new SharedCounts(time, 1);
    const pacer = new GatewayPacer(20, counts, {
      now: () => time.now,
      sleep: time.sleep,
      maxSyncWaitMs: Number.POSITIVE_INFINITY,
    });
    const t0 = time.now;
    pacer.holdOff(2_000);
    let granted: number | undefined;
    void pacer.turn().then(() => {
      granted = time.now;
    });
    await time.run(t0 + 3_000);
    expect(granted).toBeGreaterThanOrEqual(t0 + 2_000);
    expect(granted).toBeLessThanOrEqual(t0 + 2_010);
    // Longer than the wait budget: given up at once, with the hold-off as the time to come back.
    pacer.holdOff(60_000);
    let answer: unknown;
    void pacer.turn().then((turn) => {
      answer = turn;
    });
    await time.run(time.now + 1);
    expect(answer).toEqual({ granted: false, retryAfterMs: expect.any(Number) });
    expect((answer as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(50_000);
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
