import fc from 'fast-check';
import { sharedEmulators, uniquePrefix } from '../support/emulators';
import {
  BEHAVIORS,
  type Behavior,
  type Decision,
  DeliveryChaosWorld,
  type EndpointPlan,
  type EventKind,
  type Fault,
  Lane,
  type Op,
  type Scenario,
  type Stats,
} from './delivery-chaos-world';

/**
 * The property-based chaos test of webhook delivery (docs/webhooks-design.md, "sent once"): random schedules of
 * fan-out batches, delivery batches on two execution environments (alone or at the same time), model time jumps,
 * replays and receivers that change their answers (2xx, 5xx, 410, 503 with Retry-After, timeouts), with faults:
 * crashes before and after each call of a consumer, throttled calls, SQS duplicates that read receive count 1, stream
 * batches that fail in part (the later records come again), and success records throttled after a 2xx (DynamoDB
 * faults are injected at the SDK level, by a middleware on the DynamoDB client). It drives the real consumers (`fanOutBatch`, `deliverBatch`) and the real
 * DynamoDB adapters on DynamoDB Local; the queue and the streams are models with SQS's and Lambda's semantics
 * (delivery-chaos-world.ts). Checked at the receivers, after every queue and stream has drained:
 * - every event reaches every endpoint that wants it, once per delivery (the first, and one per replay), unless that
 *   delivery is on the dead-letter queue or the endpoint was disabled (both visible);
 * - nothing is sent more often than that, except after a crash between a 2xx and its record: the at-least-once
 *   boundary, counted separately ("2xx lost to a crash").
 *
 * The schedules run in lanes (concurrent fast-check runs with consecutive seeds, each on its own tables and
 * receiver): one lane's I/O waits are another's CPU time. A failure prints its lane's seed and path; replay it with
 * DELIVERY_CHAOS_SEED=<seed> DELIVERY_CHAOS_PATH=<path> (one lane). DELIVERY_CHAOS_RUNS sets the number of schedules
 * (default 500), DELIVERY_CHAOS_LANES the lanes (default 4), DELIVERY_CHAOS_VERBOSE=1 prints what the schedules went
 * through, DELIVERY_CHAOS_SHRINK=0 reports a failure as found. Two things vary between replays of a seed: the
 * interleaving of the batch items and parallel invocations, which run concurrently for real.
 */
jest.setTimeout(600_000);

const NUM_RUNS = Number(process.env.DELIVERY_CHAOS_RUNS ?? 500);
const REPLAY_SEED =
  process.env.DELIVERY_CHAOS_SEED === undefined ? undefined : Number(process.env.DELIVERY_CHAOS_SEED);
const LANES = REPLAY_SEED === undefined ? Number(process.env.DELIVERY_CHAOS_LANES ?? 4) : 1;

const weighted = <T>(...choices: [T, number][]) =>
  fc.oneof(...choices.map(([value, weight]) => ({ weight, arbitrary: fc.constant(value) })));

const endpointPlan: fc.Arbitrary<EndpointPlan> = fc.record({
  filter: weighted(['all', 4], ['transactions', 1], ['charges', 1]),
  behavior: weighted<Behavior>(['ok', 6], ['error', 1], ['flaky', 1], ['busy', 1], ['gone', 1], ['hang', 1]),
});

const decision: fc.Arbitrary<Decision> = fc.record({
  op: weighted<Op>(
    ['deliver', 9],
    ['fanout', 3],
    ['advance', 3],
    ['parallel', 2],
    ['behave', 2],
    ['replay', 1],
  ),
  pick: fc.nat({ max: 1_000 }),
  fault: weighted<Fault>(
    ['none', 10],
    ['crash', 3],
    ['throttle', 2],
    ['duplicate', 2],
    ['record-fails', 2],
    ['stream-fault', 1],
  ),
  point: fc.nat({ max: 1_000 }),
});

const scenario: fc.Arbitrary<Scenario> = fc.record({
  endpoints: fc.array(endpointPlan, { minLength: 1, maxLength: 3 }),
  events: fc.array(
    weighted<EventKind>(['transaction', 3], ['subscription.charged', 1], ['subscription.canceled', 1]),
    {
      minLength: 1,
      maxLength: 4,
    },
  ),
  decisions: fc.array(decision, { maxLength: 30, size: 'max' }),
});

let prefix: string;
const lanes: Lane[] = [];
let schedules = 0;

beforeAll(async () => {
  prefix = uniquePrefix();
  const { dynamodbEndpoint } = sharedEmulators();
  for (let lane = 0; lane < LANES; lane++)
    lanes.push(await Lane.open(dynamodbEndpoint, `${prefix}-dchaos-${lane}`));
}, 60_000);

afterAll(async () => {
  await Promise.all(lanes.map((lane) => lane.close()));
});

async function runSchedule(lane: Lane, input: Scenario, seed = 1) {
  schedules += 1;
  const world = new DeliveryChaosWorld(
    lane,
    DeliveryChaosWorld.environments(lane),
    input,
    `${schedules}`,
    seed,
  );
  await world.setUp();
  await world.chaos();
  await world.quiesce();
  return { world, verdict: await world.verify() };
}

function failure(world: DeliveryChaosWorld, problems: readonly string[]): Error {
  return new Error(
    `${problems.join('\n')}\n--- the schedule's last steps:\n${world.trace.slice(-50).join('\n')}`,
  );
}

const healthy = (overrides: Partial<EndpointPlan> = {}): EndpointPlan => ({
  filter: 'all',
  behavior: 'ok',
  ...overrides,
});
const step = (op: Op, pick = 0, fault: Fault = 'none', point = 0): Decision => ({ op, pick, fault, point });

describe('webhook delivery under chaos', () => {
  it(`delivers every event to every endpoint that wants it, once, over ${NUM_RUNS} random schedules`, async () => {
    const seen: Stats = {};
    const started = Date.now();
    const baseSeed = REPLAY_SEED ?? (Date.now() ^ (Math.random() * 0x100000000)) | 0;
    const outcomes = await Promise.allSettled(
      lanes.map((lane, index) => {
        const property = fc.asyncProperty(scenario, fc.nat(), async (input, seed) => {
          const { world, verdict } = await runSchedule(lane, input, seed);
          if (verdict.problems.length > 0) throw failure(world, verdict.problems);
          for (const [name, n] of Object.entries(world.stats)) seen[name] = (seen[name] ?? 0) + n;
        });
        return fc
          .assert(property, {
            numRuns: Math.ceil(NUM_RUNS / lanes.length),
            seed: baseSeed + index,
            ...(process.env.DELIVERY_CHAOS_PATH ? { path: process.env.DELIVERY_CHAOS_PATH } : {}),
            // A failure is reported with its seed even when shrinking takes long (DELIVERY_CHAOS_SHRINK=0: not at all).
            interruptAfterTimeLimit: 300_000,
            markInterruptAsFailure: true,
            endOnFailure: process.env.DELIVERY_CHAOS_SHRINK === '0',
          })
          .catch((error: Error) => {
            const cause = error.cause instanceof Error ? `\n${error.cause.message}` : '';
            throw new Error(
              `lane ${index}: replay with DELIVERY_CHAOS_SEED=${baseSeed + index} and the path below\n${error.message}${cause}`,
            );
          });
      }),
    );
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    if (process.env.DELIVERY_CHAOS_VERBOSE) {
      console.info(
        `${NUM_RUNS} schedules in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(seen)}`,
      );
    }

    // The schedules really went through what the design must survive (otherwise the property proves little).
    if (NUM_RUNS >= 200) {
      const exercised = Object.fromEntries(
        [
          'crashes',
          'duplicates',
          'parallel',
          'stream retries',
          'replays',
          'redriven',
          'dead letters',
          'success records throttled',
          'throttles',
          'DeliveryCopyHeld',
          'DeliveryLeaseTakenOver',
          'DeliveryRecordDeferred',
          '2xx lost to a crash',
          'disabled (gone)',
        ].map((name) => [name, (seen[name] ?? 0) > 0]),
      );
      expect(exercised).toEqual(Object.fromEntries(Object.keys(exercised).map((name) => [name, true])));
    }
  });

  // Schedules written out: each names what it shows.

  it('a fan-out batch that fails in part sends its later records again: their copies send nothing twice', async () => {
    const [lane] = lanes as [Lane];
    const { world, verdict } = await runSchedule(lane, {
      endpoints: [healthy(), healthy()],
      events: ['transaction', 'transaction', 'transaction'],
      // The first record's messages cannot be sent: the stream retries from it, after the other two went out.
      decisions: [
        step('fanout', 3, 'stream-fault', 0),
        step('deliver', 2),
        step('deliver', 2),
        step('fanout', 3),
      ],
    });
    expect(verdict.problems).toEqual([]);
    expect(world.stats['stream retries']).toBe(1);
  });

  it('a copy received once, alongside the original in one batch: one webhook', async () => {
    const [lane] = lanes as [Lane];
    const { verdict } = await runSchedule(lane, {
      endpoints: [healthy()],
      events: ['transaction'],
      decisions: [step('fanout'), step('deliver', 0, 'duplicate', 0), step('deliver', 2), step('deliver', 2)],
    });
    expect(verdict.problems).toEqual([]);
  });

  it('success records refused after the 2xx, in the invocation and by the follow-up: one webhook', async () => {
    const [lane] = lanes as [Lane];
    const { world, verdict } = await runSchedule(lane, {
      endpoints: [healthy()],
      events: ['transaction'],
      decisions: [
        step('fanout', 0, 'stream-fault', 1),
        step('fanout'),
        // Four refusals: the three tries of the invocation and the follow-up's first.
        step('deliver', 0, 'record-fails', 3),
        step('fanout'),
        ...Array.from({ length: 6 }, () => step('deliver', 2)),
        step('advance', 4),
      ],
    });
    expect(verdict.problems).toEqual([]);
    expect(world.stats.DeliveryRecordDeferred).toBe(1);
  });

  it.each(BEHAVIORS.filter((behavior) => behavior !== 'ok'))(
    'a receiver that answers %s, then recovers',
    async (behavior) => {
      const [lane] = lanes as [Lane];
      const { verdict } = await runSchedule(lane, {
        endpoints: [healthy({ behavior }), healthy()],
        events: ['transaction', 'subscription.charged'],
        decisions: [step('fanout', 0), step('fanout', 1), step('parallel', 1, 'none', 2), step('advance', 1)],
      });
      expect(verdict.problems).toEqual([]);
    },
  );
});
