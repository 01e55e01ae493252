import {
  latencyOf,
  runSpikeScenario,
  SPIKE_SCENARIO,
  type SpikeRequest,
  type SpikeScenarioOptions,
  type SpikeScenarioResult,
  spikeStackSettings,
  statusesOf,
} from '../../../bench/spike';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';

/**
 * The 2019 outage: sudden, intense traffic spikes hit an already busy system; requests piled up until every store
 * saw long load times or timeouts. Here the real pipeline takes a steady rate, then a burst of ten times that rate
 * for 30 seconds, from three stores with three webhook endpoints each, one of them far over its per-store limit:
 * every 202 is delivered to each endpoint of its store exactly once, the hot store is answered 429 with Retry-After
 * (not left to time out), the other stores are served as before, and the queues drain afterwards.
 */
jest.setTimeout(300_000);

/**
 * The rates are scaled to a 2-core machine that runs the emulators, every function and the load generator at once;
 * the ratios are what carry over: the burst is 10x the steady rate, and the hot store sends 10x a normal store.
 *
 *   normal stores: 1 tx/s steady, 10 tx/s in the burst; hot store: 10 tx/s steady, 100 tx/s in the burst.
 *
 * The per-store limit holds across the API's execution environments (a token bucket in each, their counts synced
 * through DynamoDB), and locally the API function has as many environments as requests were ever in flight at once
 * (at most 10). The load keeps at most 3 requests in flight (one connection per store; the set-up calls are made one
 * at a time, then 3 at once start the 3 environments before the warm-up), so there are at most 3 environments, each
 * with a bucket of 20 refilled at 10/s, and each store as a whole is held to the same (STORE_BURST_LIMIT=20,
 * STORE_RATE_LIMIT=10, over the template's 200 and 100):
 *   - a normal store gets no 429 even if all its requests land on one environment: it sends 10 a second (together
 *     at the start of each second, as autocannon paces them), what the bucket gets back each second, and the
 *     bucket's other 10 tokens absorb up to a second of jitter between those clumps;
 *   - the hot store can have about 12 tx/s accepted (10/s, and its burst of 20 once per 10 s), wherever its
 *     requests land (per environment alone, 3 environments could have accepted up to 30 tx/s), an eighth of the
 *     100/s it is driven at; it is answered 429 otherwise.
 *
 * Everything runs live: the stream's consumer (fan-out) and the deliveries' consumer share the two cores with the
 * API throughout, as they would not in AWS, and the normal stores must keep their latency all the same.
 *
 * Each phase lasts its seconds at most: where the machine cannot serve a store at its rate, the store sends less
 * (the summary prints what each store reached).
 */
/** The scenario `npm run bench` runs too. */
const SCENARIO: SpikeScenarioOptions = SPIKE_SCENARIO;

/**
 * A normal store's p99 in the burst against its p99 in the steady phase: within 10x (at least 250 ms, as a steady
 * p99 of a few milliseconds says little on a shared machine), and under 2 s whatever the steady phase measured.
 */
const P99_FACTOR = 10;
const P99_FLOOR_MS = 250;
const P99_CEILING_MS = 2_000;

const ADMIN_KEY = 'admin-key-incident-2019-0001';
let stack: TestStack;
let result: SpikeScenarioResult;

beforeAll(async () => {
  stack = await startWebhookTestStack(ADMIN_KEY, spikeStackSettings(SCENARIO));
  result = await runSpikeScenario(stack, ADMIN_KEY, SCENARIO);
  process.stdout.write(summary(result));
}, 400_000);

afterAll(async () => {
  await stack?.stop();
});

const normalStores = () => result.stores.filter((store) => !store.hot);
const hotStore = () => {
  const hot = result.stores.find((store) => store.hot);
  if (!hot) throw new Error('the scenario has no hot store');
  return hot;
};
const inPhase = (requests: readonly SpikeRequest[], phase: SpikeRequest['phase']) =>
  requests.filter((request) => request.phase === phase);

it('answers every request: no timeout, no connection error, no 5xx', () => {
  const runs = result.stores.flatMap((store) => store.runs.map((run) => ({ store: store.id, ...run })));
  expect(runs.filter((run) => run.timeouts > 0 || run.errors > 0 || run.unanswered.length > 0)).toEqual([]);
  for (const store of result.stores) {
    expect(store.requests).toHaveLength(store.runs.reduce((sum, run) => sum + run.sent, 0));
    expect(store.requests.filter((request) => request.status >= 500)).toEqual([]);
  }
});

it('answers the hot store 429 with Retry-After over its limit, and the other stores 202 only', () => {
  const hot = hotStore();
  const burst = inPhase(hot.requests, 'burst');
  const throttled = burst.filter((request) => request.status === 429);
  // Much of its burst: it is driven at 100/s, and about 12/s can be accepted (see SCENARIO).
  expect(throttled.length).toBeGreaterThan(burst.length * 0.25);
  expect(burst.filter((request) => request.status !== 202 && request.status !== 429)).toEqual([]);
  const withoutRetryAfter = hot.requests.filter(
    (request) => request.status === 429 && !/^[1-9][0-9]*$/.test(request.retryAfter ?? ''),
  );
  expect(withoutRetryAfter).toEqual([]);
  // What it had accepted was accepted in full: its 202s are delivered like everyone's (next test).
  expect(hot.requests.some((request) => request.status === 202)).toBe(true);

  for (const store of normalStores()) {
    expect({ store: store.id, statuses: statusesOf(store.requests) }).toEqual({
      store: store.id,
      statuses: { 202: store.requests.length },
    });
  }
});

it('delivers every 202 to each endpoint of its store exactly once, signed, and nothing else', () => {
  for (const store of result.stores) {
    const accepted = store.requests.flatMap((request) => (request.eventId ? [request.eventId] : []));
    expect(new Set(accepted).size).toBe(accepted.length);
    store.receivers.forEach((receiver, index) => {
      const successes = receiver.successes();
      const notOnce = accepted.filter((eventId) => successes.get(eventId) !== 1);
      const endpoint = store.endpointUrls[index];
      expect({ store: store.id, endpoint, notOnce }).toEqual({ store: store.id, endpoint, notOnce: [] });
    });
  }
  expect(result.missingDeliveries).toBe(0);
  expect(result.duplicateDeliveries).toBe(0);
  expect(result.unverifiedDeliveries).toBe(0);
  expect(result.misdirectedDeliveries).toBe(0);
});

it("keeps the normal stores' latency through the burst", () => {
  for (const store of normalStores()) {
    const steady = latencyOf(inPhase(store.requests, 'steady'));
    const burst = latencyOf(inPhase(store.requests, 'burst'));
    const bound = Math.min(Math.max(P99_FACTOR * steady.p99Ms, P99_FLOOR_MS), P99_CEILING_MS);
    expect({ store: store.id, burstP99Ms: burst.p99Ms, withinBound: burst.p99Ms <= bound }).toEqual({
      store: store.id,
      burstP99Ms: burst.p99Ms,
      withinBound: true,
    });
  }
});

it('drains every queue after the burst, with nothing on a dead-letter queue', () => {
  expect(result.drainedAt).toBeDefined();
  expect(Object.keys(result.queueDepths)).toEqual(
    expect.arrayContaining(['Deliveries/Queue', 'Deliveries/DeadLetterQueue', 'Replays/Queue']),
  );
  expect(Object.entries(result.queueDepths).filter(([, depth]) => depth !== 0)).toEqual([]);
  expect(stack.logs).toEqual([]);
});

function summary(run: SpikeScenarioResult): string {
  const lines = ['incident 2019 (rates scaled to the machine; see SCENARIO):'];
  for (const store of run.stores) {
    const phases = store.runs.map((load) => {
      const requests = inPhase(store.requests, load.phase);
      const seconds = (load.endedAt - load.startedAt) / 1000;
      const byStatus = Object.keys(statusesOf(requests)).map((status) => {
        const latency = latencyOf(requests.filter((request) => String(request.status) === status));
        return `${latency.count}x${status} (p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms)`;
      });
      const reached = (requests.length / seconds).toFixed(1);
      return `${load.phase} ${load.rate}/s: ${reached}/s for ${seconds.toFixed(1)} s, ${byStatus.join(' ')}`;
    });
    lines.push(`  ${store.hot ? 'hot   ' : 'normal'} ${store.id}: ${phases.join('; ')}`);
  }
  const after = (at: number | undefined, from: number) =>
    at === undefined ? 'never' : `${((at - from) / 1000).toFixed(1)} s`;
  const deliveries = run.stores.reduce(
    (sum, store) => sum + store.receivers.reduce((count, receiver) => count + receiver.received.length, 0),
    0,
  );
  lines.push(
    `  ${run.deliveriesBacklogAtBurstEnd} deliveries queued at the burst's end; ${deliveries} webhooks received; the burst's transactions all delivered ${after(run.burstDeliveredAt, run.phases.burst.endedAt)} after the burst; ` +
      `every delivery done and every queue empty ${after(run.drainedAt, run.phases.burst.endedAt)} after the burst ` +
      `(${after(run.drainedAt, run.phases.recovery.endedAt)} after the last request)`,
  );
  return `${lines.join('\n')}\n`;
}
