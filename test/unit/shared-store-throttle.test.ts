import fc from 'fast-check';
import { createApi } from '../../lambdas/api/create-api';
import {
  SharedStoreThrottle,
  type StoreWindowCounters,
  sharedDecision,
  type WindowCounts,
  type WindowCountsUpdate,
} from '../../lambdas/stores/domain/shared-store-throttle';
import { StoreThrottle } from '../../lambdas/stores/domain/store-throttle';
import { apiEvent } from './support/api-events';
import { acme, other, webhookApi } from './support/in-memory-api';
import { silentLogger } from './support/logger';

/**
 * The shared record, with every sync held until the test releases it: a sync is applied and answered at release,
 * in any order, so environments decide on views as stale as the interleaving makes them. `failing` makes every
 * sync reject as DynamoDB does when it throttles (after it was sent: whether it was applied is unknown).
 */
class HeldRecord {
  readonly counts = new Map<string, Map<number, number>>();
  readonly held: Array<{ apply: () => void; fail: () => void }> = [];
  failing = false;

  readonly counters: StoreWindowCounters = {
    add: (storeId: string, update: WindowCountsUpdate) =>
      new Promise<WindowCounts>((resolve, reject) => {
        this.held.push({
          apply: () => {
            const counts = this.counts.get(storeId) ?? new Map<number, number>();
            for (const window of update.forget) counts.delete(window);
            for (const [window, n] of update.increments) counts.set(window, (counts.get(window) ?? 0) + n);
            this.counts.set(storeId, counts);
            resolve(new Map(counts));
          },
          fail: () => reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })),
        });
      }),
  };

  release(pick: number): void {
    const [call] = this.held.splice(pick % this.held.length, 1);
    if (this.failing) call?.fail();
    else call?.apply();
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** The mix varies by scenario: from syncs answered promptly to syncs held while every environment takes requests. */
const stepArb = (environments: number, releaseWeight: number, longestTickMs: number) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('request' as const),
        env: fc.nat({ max: environments - 1 }),
        store: fc.nat({ max: 1 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('tick' as const),
        ms: fc.integer({ min: 0, max: longestTickMs }),
      }),
    },
    {
      weight: releaseWeight,
      arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
    },
  );

const scenarioArb = fc
  .record({
    environments: fc.integer({ min: 1, max: 5 }),
    rateLimit: fc.integer({ min: 1, max: 20 }),
    burstLimit: fc.integer({ min: 1, max: 30 }),
    horizonWindows: fc.integer({ min: 1, max: 5 }),
    syncIntervalMs: fc.integer({ min: 0, max: 600 }),
    maxUnsynced: fc.integer({ min: 1, max: 6 }),
  })
  .chain((limits) =>
    fc.record({
      limits: fc.constant(limits),
      steps: fc
        .tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 600 }))
        .chain(([releaseWeight, longestTickMs]) =>
          fc.array(stepArb(limits.environments, releaseWeight, longestTickMs), {
            minLength: 1,
            maxLength: 250,
          }),
        ),
    }),
  );

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/**
 * Runs the steps against N environments (one SharedStoreThrottle each) that share a HeldRecord. A request is
 * decided at its arrival: if it waits for a sync, held syncs are released (in the scenario's order) until it is
 * decided, and the clock does not move meanwhile. `offer` says whether a request is sent at all.
 */
async function run(
  { limits, steps }: Scenario,
  offer: (store: number, now: number) => boolean = () => true,
  record = new HeldRecord(),
) {
  let now = 1_000_000;
  const { environments, rateLimit, burstLimit, ...options } = limits;
  const envs = Array.from(
    { length: environments },
    () =>
      new SharedStoreThrottle({ rateLimit, burstLimit }, record.counters, {
        ...options,
        now: () => now,
        maxSyncWaitMs: Number.POSITIVE_INFINITY,
      }),
  );
  const admitted = [new Map<number, number>(), new Map<number, number>()];
  const decisions: Array<{ store: number; at: number; allowed: boolean }> = [];
  let releases = 0;
  for (const step of steps) {
    if (step.kind === 'tick') now += step.ms;
    else if (step.kind === 'release') {
      if (record.held.length > 0) record.release(step.pick);
    } else if (offer(step.store, now)) {
      let decision: { allowed: boolean } | undefined;
      void envs[step.env]?.take(`store-${step.store}`).then((d) => {
        decision = d;
      });
      await settle();
      while (!decision) {
        if (record.held.length === 0) throw new Error('a request waits with no sync under way');
        record.release(releases++);
        await settle();
      }
      decisions.push({ store: step.store, at: now, allowed: decision.allowed });
      if (decision.allowed) {
        const window = Math.floor(now / 1000);
        admitted[step.store]?.set(window, (admitted[step.store]?.get(window) ?? 0) + 1);
      }
    }
    await settle();
  }
  return { admitted, decisions };
}

describe('SharedStoreThrottle (the per-store limit across execution environments)', () => {
  it('admits, over any span of whole windows within the horizon, at most burst + rate x span + (environments - 1) x maxUnsynced, whatever the interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const { admitted } = await run(scenario);
        const { environments, rateLimit, burstLimit, horizonWindows, maxUnsynced } = scenario.limits;
        for (const counts of admitted) {
          for (const last of counts.keys()) {
            let sum = 0;
            for (let span = 1; span <= horizonWindows; span += 1) {
              sum += counts.get(last - span + 1) ?? 0;
              expect(sum).toBeLessThanOrEqual(
                burstLimit + rateLimit * span + (environments - 1) * maxUnsynced,
              );
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never refuses a store within its limit, however its requests are spread over environments and syncs', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        // Only what one bucket of the store's limit would admit is sent (with a hair of margin for floating point):
        // the store is within its limit, as a whole.
        const { rateLimit, burstLimit } = scenario.limits;
        const reference = new StoreThrottle({ rateLimit: rateLimit * 0.999, burstLimit });
        const { decisions } = await run(
          scenario,
          (store, now) => reference.take(`store-${store}`, now).allowed,
        );
        expect(decisions.filter((decision) => !decision.allowed)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('falls back to each environment its own bucket when every sync fails (throttled), and reports it', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        // A fault injected at the port: every sync is rejected as DynamoDB rejects a throttled request.
        const record = new HeldRecord();
        record.failing = true;
        const failures: string[] = [];
        let now = 1_000_000;
        const { environments, rateLimit, burstLimit, ...options } = scenario.limits;
        const envs = Array.from({ length: environments }, () => ({
          shared: new SharedStoreThrottle({ rateLimit, burstLimit }, record.counters, {
            ...options,
            now: () => now,
            maxSyncWaitMs: Number.POSITIVE_INFINITY,
            onSyncFailure: (storeId) => failures.push(storeId),
          }),
          alone: new StoreThrottle({ rateLimit, burstLimit }),
        }));
        for (const step of scenario.steps) {
          if (step.kind === 'tick') now += step.ms;
          else if (step.kind === 'release') {
            if (record.held.length > 0) record.release(step.pick);
          } else {
            const env = envs[step.env];
            if (!env) continue;
            let decision: { allowed: boolean } | undefined;
            void env.shared.take(`store-${step.store}`).then((d) => {
              decision = d;
            });
            await settle();
            while (!decision) {
              record.release(0);
              await settle();
            }
            expect(decision.allowed).toBe(env.alone.take(`store-${step.store}`, now).allowed);
          }
          await settle();
        }
        expect(failures.length).toBeLessThanOrEqual(scenario.steps.length);
      }),
      { numRuns: 200 },
    );
  });

  it('does not keep requests waiting on a sync that hangs, and does not wait at all once a sync failed', async () => {
    const hanging: StoreWindowCounters = { add: () => new Promise(() => {}) };
    const throttle = new SharedStoreThrottle({ rateLimit: 1000, burstLimit: 1000 }, hanging, {
      maxUnsynced: 1,
      maxSyncWaitMs: 30,
    });
    const started = Date.now();
    for (let i = 0; i < 50; i += 1) expect((await throttle.take('acme')).allowed).toBe(true);
    // The second request waits for the first sync up to 30 ms after it began; no request waits after that.
    expect(Date.now() - started).toBeLessThan(500);

    const failures: unknown[] = [];
    const throttled = new SharedStoreThrottle(
      { rateLimit: 1000, burstLimit: 1000 },
      {
        add: () => Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })),
      },
      { maxUnsynced: 1, maxSyncWaitMs: 10_000, onSyncFailure: (_store, error) => failures.push(error) },
    );
    const began = Date.now();
    for (let i = 0; i < 50; i += 1) expect((await throttled.take('acme')).allowed).toBe(true);
    expect(Date.now() - began).toBeLessThan(500);
    expect(failures).toEqual([expect.objectContaining({ name: 'ThrottlingException' })]);
  });

  it('tells how long until a refused request would be admitted', () => {
    const counts = new Map([[1000, 20]]);
    // 20 admitted at the start of window 1000 with a burst of 20 at 10/s: one more fits 0.1 s later.
    expect(
      sharedDecision({ rateLimit: 10, burstLimit: 20 }, (w) => counts.get(w) ?? 0, 1_000_000, 1000, 10),
    ).toEqual({
      allowed: false,
      retryAfterSeconds: 1,
    });
    expect(
      sharedDecision({ rateLimit: 10, burstLimit: 20 }, (w) => counts.get(w) ?? 0, 1_000_100, 1000, 10),
    ).toEqual({
      allowed: true,
    });
    // 60 more in the window: 6 s of the rate before one more fits.
    expect(
      sharedDecision({ rateLimit: 10, burstLimit: 20 }, (w) => (w === 1000 ? 80 : 0), 1_000_000, 1000, 10),
    ).toEqual({ allowed: false, retryAfterSeconds: 7 });
  });
});

describe('the API with the shared limit', () => {
  it('limits a store across two execution environments together, not each, and keeps serving the others', async () => {
    const { deps } = await webhookApi();
    const counts = new Map<string, number>();
    // An in-memory shared record that answers at once (the DynamoDB one is in the integration test).
    const storeCounters: StoreWindowCounters = {
      add: async (storeId, update) => {
        for (const [window, n] of update.increments) {
          counts.set(`${storeId}#${window}`, (counts.get(`${storeId}#${window}`) ?? 0) + n);
        }
        return new Map(
          [...counts].flatMap(([key, n]) => {
            const [store, window] = key.split('#');
            return store === storeId ? [[Number(window), n] as const] : [];
          }),
        );
      },
    };
    const now = () => 5_000_000;
    const environments = [1, 2].map(() =>
      createApi(
        { ...deps, now, storeThrottle: { rateLimit: 1, burstLimit: 10 }, storeCounters },
        silentLogger,
      ),
    );
    const statuses: number[] = [];
    for (let i = 0; i < 24; i += 1) {
      const api = environments[i % 2];
      if (!api) continue;
      statuses.push(
        (await api(apiEvent('GET', '/v1/events', { headers: acme }), { adminApiKey: 'unused' })).statusCode ??
          0,
      );
      await settle();
    }
    // Each environment alone admits its burst of 10, 20 in all; together they admit the store's 10, plus at most
    // one request the other could not see yet ((environments - 1) x maxUnsynced, which is 1 at 1/s).
    const admitted = statuses.filter((status) => status === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(10 + 1);
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    const refused = await environments[0]?.(apiEvent('GET', '/v1/events', { headers: acme }), {
      adminApiKey: 'unused',
    });
    expect(refused?.statusCode).toBe(429);
    expect(Number(refused?.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another store has its own limit.
    const served = await environments[1]?.(apiEvent('GET', '/v1/events', { headers: other }), {
      adminApiKey: 'unused',
    });
    expect(served?.statusCode).toBe(200);
  });
});
