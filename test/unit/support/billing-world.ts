import { eventIdFor } from '../../../lambdas/domain/events';
import {
  type ChargeRecord,
  type ChargeRef,
  type ChargeResolution,
  chargeRefToString,
  processCharge,
} from '../../../lambdas/domain/subscriptions/charges';
import { chargeChangeEffects, emptyEffects } from '../../../lambdas/domain/subscriptions/outbox';
import {
  digest,
  type RunSettings,
  type RunStepPoint,
  type RunWorkDeps,
  triggerRun,
  workOnRun,
} from '../../../lambdas/domain/subscriptions/runs';
import {
  newSubscription,
  type SubscriptionInput,
  subscriptionInput,
} from '../../../lambdas/domain/subscriptions/subscription';
import { billingPorts, InMemoryCharges, type InMemoryRuns } from './in-memory-billing';
import { InMemoryEventsRepository } from './webhook-fakes';

export const T0 = Date.parse('2026-03-10T12:00:00.000Z');
const DAY = 86_400_000;

/** Charges whose changes are announced as the charges table's stream would: counters and events. */
class OutboxCharges extends InMemoryCharges {
  constructor(
    private readonly runs: InMemoryRuns,
    private readonly events: InMemoryEventsRepository,
  ) {
    super();
  }

  private async announce(before: ChargeRecord | undefined, after: ChargeRecord | undefined) {
    const effects = emptyEffects();
    chargeChangeEffects(effects, before, after);
    for (const event of effects.events) await this.events.put(event, 'direct');
    for (const [runId, delta] of effects.counters) await this.runs.add(runId, delta);
  }

  override async claim(charge: ChargeRecord) {
    const result = await super.claim(charge);
    if (result.claimed) await this.announce(undefined, charge);
    return result;
  }

  override async withdraw(ref: ChargeRef, runId: string) {
    const before = await this.get(ref);
    const withdrawn = await super.withdraw(ref, runId);
    if (withdrawn) await this.announce(before, undefined);
    return withdrawn;
  }

  override async adopt(ref: ChargeRef, fromRunId: string, toRunId: string) {
    const before = await this.get(ref);
    const adopted = await super.adopt(ref, fromRunId, toRunId);
    if (adopted) await this.announce(before, adopted);
    return adopted;
  }

  override async resolve(ref: ChargeRef, resolution: ChargeResolution) {
    const before = await this.get(ref);
    const after = await super.resolve(ref, resolution);
    if (before?.status === 'pending' && after && after.status !== 'pending')
      await this.announce(before, after);
    return after;
  }
}

/** The billing domain over in-memory ports with a settable clock: runs, charge workers and the outbox. */
export function billingWorld(settings: Partial<RunSettings> = {}) {
  const ports = billingPorts();
  const events = new InMemoryEventsRepository();
  const charges = new OutboxCharges(ports.runs, events);
  const clock = { now: T0 };
  const crashes: { point?: RunStepPoint } = {};
  /** Run once when a run step reaches the point (e.g. a takeover while the holder is stalled there). */
  const stalls: Partial<Record<RunStepPoint, () => Promise<void>>> = {};
  const runDeps: RunWorkDeps = {
    runs: ports.runs,
    due: ports.subscriptions,
    charges,
    chargeQueue: ports.chargeQueue,
    datafeeds: ports.datafeeds,
    events,
    now: () => clock.now,
    settings: { pageSize: 2, leaseMs: 60_000, stallSweepMs: 10 * 60_000, sweepIntervalMs: 0, ...settings },
    checkpoint: async (point) => {
      const stall = stalls[point];
      if (stall) {
        delete stalls[point];
        await stall();
      }
      if (crashes.point === point) {
        crashes.point = undefined;
        throw new Error(`crash at ${point}`);
      }
    },
  };
  const chargeDeps = {
    charges,
    subscriptions: ports.subscriptions,
    gateway: ports.gateway,
    dunning: { scheduleMs: [DAY, 3 * DAY], finalAction: 'cancel' as const },
    newEventId: (now: number) => eventIdFor(now, digest(`n${now}${Math.random()}`)),
    now: () => clock.now,
  };
  let owners = 0;

  return {
    ...ports,
    charges,
    events,
    clock,
    crashes,
    stalls,
    runDeps,
    chargeDeps,
    async subscribe(id: string, overrides: Partial<SubscriptionInput> = {}, storeId = 'acme') {
      const body = subscriptionInput.parse({
        customer: { id: 'cus', email: 'c@example.com' },
        plan: 'plan',
        amount: 1000,
        currency: 'USD',
        interval: 'month',
        paymentMethod: 'pm_card_visa',
        startAt: new Date(T0 - 60_000).toISOString(),
        ...overrides,
      });
      const subscription = newSubscription({
        storeId,
        subscriptionId: id,
        body,
        fingerprint: id,
        now: T0 - DAY,
        createdEventId: `evt_created_${id}`,
      });
      await ports.subscriptions.create(subscription);
      return subscription;
    },
    trigger(source = 'primary', asOf?: string) {
      return triggerRun(
        {
          runs: ports.runs,
          queue: ports.runQueue,
          now: () => clock.now,
          newOwner: () => `owner-${++owners}`,
        },
        { source, asOf },
      );
    },
    step(runId: string, owner: string) {
      return workOnRun(runDeps, { runId, owner }, clock.now + 60_000);
    },
    /** Works every queued charge message once, in order; returns the outcomes. */
    async work() {
      const outcomes = [];
      for (const message of ports.chargeQueue.take()) {
        outcomes.push({ ref: chargeRefToString(message), ...(await processCharge(chargeDeps, message)) });
      }
      return outcomes;
    },
    /** Steps the run (as `owner`) and works its charges until it completes; fails after `limit` rounds. */
    async drain(runId: string, owner: string, limit = 30) {
      for (let round = 0; round < limit; round += 1) {
        const result = await this.step(runId, owner);
        await this.work();
        if (result === 'completed') return result;
        if (result !== 'continue') return result;
        clock.now += 1_000;
      }
      throw new Error(`run ${runId} did not complete in ${limit} rounds`);
    },
  };
}
