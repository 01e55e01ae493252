import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoChargesRepository } from '../../../lambdas/billing/adapters/dynamo-charges-repository';
import { DynamoRunsRepository } from '../../../lambdas/billing/adapters/dynamo-runs-repository';
import { DynamoSubscriptionsRepository } from '../../../lambdas/billing/adapters/dynamo-subscriptions-repository';
import {
  type ChargeRef,
  chargeRefFromString,
  claimFor,
  refOf,
} from '../../../lambdas/billing/domain/charges/charge';
import { processCharge } from '../../../lambdas/billing/domain/charges/process';
import type { ChargeMessage, RunMessage } from '../../../lambdas/billing/domain/messages';
import type { RunWorkDeps } from '../../../lambdas/billing/domain/runs/ports';
import { type RunStepResult, workOnRun } from '../../../lambdas/billing/domain/runs/step';
import { triggerRun } from '../../../lambdas/billing/domain/runs/trigger';
import { dueShardOf, type Subscription } from '../../../lambdas/billing/domain/subscription';
import { createIndexGate } from '../../../lambdas/index-gate/adapters/gated-index-query';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { localClientConfig } from '../../../local/aws-clients';
import { sharedEmulators, uniquePrefix } from '../support/emulators';
import {
  AS_OF,
  type ChaosTables,
  createTables,
  deleteTables,
  RUN_ID,
  RUN_SETTINGS,
  type SubscriptionPlan,
  storeOf,
  subscriptionOf,
} from './chaos-harness';
import { datafeedCharges } from './chaos-invariants';

/**
 * Regressions the chaos test found: a run holder whose lease was taken over while it was paused mid-step (a
 * stalled Lambda) must change nothing its successor relies on, outside the run item too. Driven by hand on the
 * real adapters, with the stale holder paused at the exact point.
 */
let raw: DynamoDBClient;
let tables: ChaosTables;

beforeAll(() => {
  raw = new DynamoDBClient(localClientConfig(sharedEmulators().dynamodbEndpoint));
});

afterAll(() => {
  raw?.destroy();
});

afterEach(async () => {
  if (tables) await deleteTables(raw, tables);
});

const visa = (late = false): SubscriptionPlan => ({
  state: 'fresh',
  dunningAttempt: 1,
  paymentMethod: 'pm_card_visa',
  offsetMinutes: 5,
  late,
  gatewayDown: false,
});

/** The billing side on fresh tables, with a clock, queues, datafeeds by version and a holder that can be paused. */
async function billing() {
  tables = await createTables(raw, uniquePrefix());
  const doc = createDocumentClient(raw);
  const subscriptions = new DynamoSubscriptionsRepository({
    client: doc,
    tableName: tables.subscriptions,
    gate: createIndexGate(raw, () => {}),
  });
  const charges = new DynamoChargesRepository({
    client: doc,
    tableName: tables.charges,
  });
  const runs = new DynamoRunsRepository({ client: doc, tableName: tables.runs });
  const clock = { now: Date.parse(AS_OF) + 60_000 };
  const runQueue: RunMessage[] = [];
  const chargeQueue: ChargeMessage[] = [];
  const datafeeds = new Map<string, string>();
  let owners = 0;
  /** Where the paused holder stops: before reading a due shard, or before writing its datafeeds. */
  const pause: {
    shard?: string;
    datafeed?: boolean;
    afterClaims?: boolean;
    reached?: () => void;
    resume?: () => void;
  } = {};
  const stop = () =>
    new Promise<void>((resume) => {
      pause.resume = resume;
      pause.reached?.();
    });

  const deps = (pausable: boolean): RunWorkDeps => ({
    runs,
    charges,
    subscriptions,
    due: {
      page: async (shard, asOf, after, limit) => {
        if (pausable && pause.shard === shard) {
          pause.shard = undefined;
          await stop();
        }
        return subscriptions.page(shard, asOf, after, limit);
      },
    },
    chargeQueue: { send: async (messages) => void chargeQueue.push(...messages) },
    datafeeds: {
      put: async (runId, storeId, xml, version) => {
        if (pausable && pause.datafeed) {
          pause.datafeed = false;
          await stop();
        }
        datafeeds.set(`${runId}/${version}/${storeId}`, xml);
      },
      get: async (runId, storeId, version) => datafeeds.get(`${runId}/${version}/${storeId}`),
    },
    events: { put: async () => true, get: async () => undefined, list: async () => ({ events: [] }) },
    now: () => clock.now,
    settings: RUN_SETTINGS,
    checkpoint: async (point) => {
      if (pausable && pause.afterClaims && point === 'after-claims') {
        pause.afterClaims = false;
        await stop();
      }
    },
  });

  let counted = 0;
  /** Every gateway call, by idempotency key. */
  const gatewayCalls: string[] = [];
  /** The charge consumer, then the outbox's counters (exact, as the stream would have them). */
  const chargeAll = async () => {
    for (let message = chargeQueue.shift(); message; message = chargeQueue.shift()) {
      await processCharge(
        {
          charges,
          subscriptions,
          gateway: {
            // As the gateway's idempotency: the same key answers the first outcome again.
            charge: async (request) => {
              gatewayCalls.push(request.idempotencyKey);
              return { kind: 'succeeded', paymentIntentId: `pi_${request.idempotencyKey}` };
            },
            retrieve: async () => ({ kind: 'unknown', cause: 'unused', reason: 'not asked here' }),
            search: async () => ({ kind: 'found', intents: [] }),
          },
          dunning: { scheduleMs: [86_400_000], finalAction: 'cancel' },
          now: () => clock.now,
        },
        message,
      );
    }
    const run = await runs.get(RUN_ID);
    const claimed = await charges.getMany((await runs.manifest(RUN_ID)).map(chargeRefFromString));
    const succeeded = claimed.filter((charge) => charge.status === 'succeeded').length;
    counted += 1;
    await runs.add(
      RUN_ID,
      {
        total: claimed.length - (run?.total ?? 0),
        succeeded: succeeded - (run?.succeeded ?? 0),
        failed: 0,
        processing: 0,
      },
      // Each catch-up is its own stream position.
      { shard: 'catch-up', first: String(counted), last: String(counted) },
    );
  };

  return {
    subscriptions,
    charges,
    runs,
    clock,
    runQueue,
    datafeeds,
    gatewayCalls,
    trigger: () =>
      triggerRun(
        {
          runs,
          queue: { send: async (message) => void runQueue.push(message) },
          now: () => clock.now,
          newOwner: () => `owner${++owners}`,
          settings: RUN_SETTINGS,
        },
        { asOf: AS_OF, source: 'backup' },
      ),
    step: (message: RunMessage) => workOnRun(deps(false), message, clock.now + 1e9),
    /** Starts a step that stops where `pause` says; resolves once it is stopped there. */
    pausedStep: async (
      message: RunMessage,
      where: { shard?: string; datafeed?: boolean; afterClaims?: boolean },
    ) => {
      Object.assign(pause, where);
      const reached = new Promise<void>((resolve) => {
        pause.reached = resolve;
      });
      const step = workOnRun(deps(true), message, clock.now + 1e9);
      await reached;
      return { resume: () => pause.resume?.(), result: step };
    },
    chargeAll,
    /** Steps until the run completes, the charges consumed and time passing between steps (stall sweeps). */
    drain: async (message: RunMessage): Promise<RunStepResult> => {
      let result: RunStepResult = 'continue';
      for (let i = 0; i < 8 && result === 'continue'; i += 1) {
        result = await workOnRun(deps(false), message, clock.now + 1e9);
        await chargeAll();
        clock.now += RUN_SETTINGS.stallSweepMs + 1;
      }
      return result;
    },
  };
}

describe('a run holder whose lease was taken over mid-step', () => {
  it('cannot claim for the run after its successor completed it', async () => {
    // Before: claims were not fenced. The stale holder's sweep claimed (and charged) a subscription created after
    // its successor's last sweep, for a run already completed: in no datafeed, in none of the run's counts.
    const world = await billing();
    const first = subscriptionOf(visa(), 0);
    const late = subscriptionOf(visa(true), 1);
    await world.subscriptions.create(first);
    await world.trigger();
    const holder = world.runQueue.shift() as RunMessage;
    expect(await world.step(holder)).toBe('continue');
    await world.chargeAll();
    // The holder's next step stops in its sweep, before the shard the late subscription will be in.
    const stale = await world.pausedStep(holder, { shard: dueShardOf(late.storeId, late.subscriptionId) });

    // Its lease expires; the backup run takes over and completes the run.
    world.clock.now += RUN_SETTINGS.leaseMs + 1;
    expect((await world.trigger()).outcome).toBe('resumed');
    const successor = world.runQueue.shift() as RunMessage;
    expect(await world.drain(successor)).toBe('completed');
    // A subscription created now, due at asOf, is for the next run; the stale holder goes on and finds it.
    await world.subscriptions.create(late);
    stale.resume();

    // Assess: fenced, and nothing claimed for the completed run.
    expect(await stale.result).toBe('fenced');
    const claim = await world.charges.get(chargeOf(late));
    expect(claim).toBeUndefined();
    expect(await world.runs.get(RUN_ID)).toMatchObject({ status: 'completed', total: 1, succeeded: 1 });
  }, 60_000);

  it('cannot overwrite the datafeed of the holder that completed the run', async () => {
    // Before: the stale holder's datafeed (from before its successor charged a late subscription) replaced the
    // completing holder's, so the completed run's datafeed missed a charge its counts had.
    const world = await billing();
    await world.subscriptions.create(subscriptionOf(visa(), 0));
    const late = subscriptionOf(visa(true), 2);
    expect(storeOf(2)).toBe(storeOf(0));
    await world.trigger();
    const holder = world.runQueue.shift() as RunMessage;
    expect(await world.step(holder)).toBe('continue');
    await world.chargeAll();
    // The holder's next step sweeps (nothing owed), then stops right before writing its datafeed.
    const stale = await world.pausedStep(holder, { datafeed: true });

    // A subscription becomes due; the holder stalls past its lease; the backup run charges it and completes.
    await world.subscriptions.create(late);
    world.clock.now += RUN_SETTINGS.stallSweepMs + 1;
    expect((await world.trigger()).outcome).toBe('resumed');
    const successor = world.runQueue.shift() as RunMessage;
    expect(await world.drain(successor)).toBe('completed');
    stale.resume();

    // Assess: the completed run's datafeed (its version's) lists both charges, whatever the stale holder wrote.
    expect(await stale.result).toBe('fenced');
    const run = await world.runs.get(RUN_ID);
    expect(run).toMatchObject({ status: 'completed', total: 2, succeeded: 2 });
    const feed = world.datafeeds.get(`${RUN_ID}/${run?.datafeedVersion}/${storeOf(0)}`) ?? '';
    expect(datafeedCharges(feed).sort()).toEqual([
      `sub_0/${AS_OF.slice(0, 10)}/0/succeeded`,
      `sub_2/${AS_OF.slice(0, 10)}/0/succeeded`,
    ]);
  }, 60_000);

  it('withdraws the claims it made after its successor took over, and the successor charges them once', async () => {
    // Claims are plain conditional puts, fenced as a page by one heartbeat after them. The holder stalls right
    // after claiming (before that heartbeat); its successor takes over and completes the run; the stale claim
    // must not stay behind as a pending charge outside the completed run.
    const world = await billing();
    const subscription = subscriptionOf(visa(), 0);
    await world.subscriptions.create(subscription);
    await world.trigger();
    const holder = world.runQueue.shift() as RunMessage;
    const stale = await world.pausedStep(holder, { afterClaims: true });
    const ref = chargeOf(subscription);
    expect(await world.charges.get(ref)).toMatchObject({ status: 'pending' });

    // The lease expires; the backup run takes over, finds the claim, sends it and completes.
    world.clock.now += RUN_SETTINGS.leaseMs + 1;
    expect((await world.trigger()).outcome).toBe('resumed');
    const successor = world.runQueue.shift() as RunMessage;
    expect(await world.drain(successor)).toBe('completed');
    stale.resume();

    // Assess: fenced; the charge the successor made stays (resolved: not withdrawn), charged once.
    expect(await stale.result).toBe('fenced');
    expect(await world.charges.get(ref)).toMatchObject({ status: 'succeeded', runId: RUN_ID });
    expect(world.gatewayCalls).toHaveLength(1);
    expect(await world.runs.get(RUN_ID)).toMatchObject({ status: 'completed', total: 1, succeeded: 1 });
  }, 60_000);

  it('withdraws a stale claim still pending, so the successor claims and charges it under the same key', async () => {
    const world = await billing();
    const subscription = subscriptionOf(visa(), 0);
    await world.subscriptions.create(subscription);
    await world.trigger();
    const holder = world.runQueue.shift() as RunMessage;
    const stale = await world.pausedStep(holder, { afterClaims: true });

    // The lease expires and a successor takes it (its first step not yet run); the stale holder comes back.
    world.clock.now += RUN_SETTINGS.leaseMs + 1;
    expect((await world.trigger()).outcome).toBe('resumed');
    const successor = world.runQueue.shift() as RunMessage;
    expect(
      await world.runs.acquireLease(RUN_ID, successor.owner, world.clock.now, RUN_SETTINGS.leaseMs),
    ).toBeDefined();
    stale.resume();
    expect(await stale.result).toBe('fenced');
    const ref = chargeOf(subscription);
    expect(await world.charges.get(ref)).toBeUndefined();

    // The successor claims it again and charges it once.
    expect(await world.drain(successor)).toBe('completed');
    expect(world.gatewayCalls).toEqual([`charge:${ref.storeId}:${ref.subscriptionId}:${ref.period}:0`]);
    expect(await world.runs.get(RUN_ID)).toMatchObject({ status: 'completed', total: 1, succeeded: 1 });
  }, 60_000);
});

/** The charge a subscription is due for now (its period and attempt). */
function chargeOf(subscription: Subscription): ChargeRef {
  return refOf(claimFor(subscription, RUN_ID, 0));
}
