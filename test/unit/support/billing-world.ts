import {
  type ChargeRecord,
  type ChargeRef,
  chargeRefToString,
} from '../../../lambdas/billing/domain/charges/charge';
import {
  type ChargeRetryQueue,
  consumeChargeMessage,
} from '../../../lambdas/billing/domain/charges/consumer';
import type { AskedKey, ChargeResolution, ChargeTerms } from '../../../lambdas/billing/domain/charges/ports';
import type { ChargeMessage } from '../../../lambdas/billing/domain/messages';
import { chargeChangeEffects, emptyEffects } from '../../../lambdas/billing/domain/outbox-effects';
import type { RunStepPoint, RunWorkDeps } from '../../../lambdas/billing/domain/runs/ports';
import type { RunSettings } from '../../../lambdas/billing/domain/runs/settings';
import { workOnRun } from '../../../lambdas/billing/domain/runs/step';
import { triggerRun } from '../../../lambdas/billing/domain/runs/trigger';
import {
  newSubscription,
  type SubscriptionInput,
  subscriptionInput,
} from '../../../lambdas/billing/domain/subscription';
import { ManualClock } from '../../../local/payment-gateway/stripe-simulator';
import { billingPorts, InMemoryCharges, type InMemoryRuns } from './in-memory-billing';
import { SimulatedGateway } from './simulated-gateway';
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

  /** Runs a write and announces the item's change, if any, as its stream record would. */
  private async streamed<T>(ref: ChargeRef, write: () => Promise<T>): Promise<T> {
    const before = await super.get(ref);
    const result = await write();
    const after = await super.get(ref);
    if (JSON.stringify(before) !== JSON.stringify(after)) {
      const effects = emptyEffects();
      chargeChangeEffects(effects, before, after);
      for (const event of effects.events) await this.events.put(event, 'direct');
      for (const [runId, delta] of effects.counters) await this.runs.add(runId, delta);
    }
    return result;
  }

  override claim(charge: ChargeRecord) {
    return this.streamed(charge, () => super.claim(charge));
  }
  override withdraw(ref: ChargeRef, runId: string) {
    return this.streamed(ref, () => super.withdraw(ref, runId));
  }
  override release(ref: ChargeRef, asked?: AskedKey) {
    return this.streamed(ref, () => super.release(ref, asked));
  }
  override reprice(ref: ChargeRef, terms: ChargeTerms) {
    return this.streamed(ref, () => super.reprice(ref, terms));
  }
  override releaseUnsent(ref: ChargeRef) {
    return this.streamed(ref, () => super.releaseUnsent(ref));
  }
  override adopt(ref: ChargeRef, fromRunId: string, toRunId: string) {
    return this.streamed(ref, () => super.adopt(ref, fromRunId, toRunId));
  }
  override markFirstAsk(ref: ChargeRef, at: string) {
    return this.streamed(ref, () => super.markFirstAsk(ref, at));
  }
  override markAsked(ref: ChargeRef, at: string) {
    return this.streamed(ref, () => super.markAsked(ref, at));
  }
  override markServerError(ref: ChargeRef, idempotencyKey: string, at: string) {
    return this.streamed(ref, () => super.markServerError(ref, idempotencyKey, at));
  }
  override rekey(ref: ChargeRef, seen: AskedKey, generation: number, at: string) {
    return this.streamed(ref, () => super.rekey(ref, seen, generation, at));
  }
  override resolve(ref: ChargeRef, resolution: ChargeResolution, from?: 'pending' | 'processing') {
    return this.streamed(ref, () => super.resolve(ref, resolution, from));
  }
}

/** The billing domain over in-memory ports with a settable clock: runs, charge workers and the outbox. */
export function billingWorld(settings: Partial<RunSettings> = {}) {
  const ports = billingPorts();
  const events = new InMemoryEventsRepository();
  const charges = new OutboxCharges(ports.runs, events);
  // One time for the domain and the gateway: moving `clock.now` moves the gateway's clock too (key pruning,
  // search freshness, processing settlement).
  const manual = new ManualClock(T0);
  const clock = {
    get now() {
      return manual.now();
    },
    set now(value: number) {
      manual.advance(value - manual.now());
    },
  };
  const gateway = new SimulatedGateway(manual);
  const crashes: { point?: RunStepPoint } = {};
  /** Run once when a run step reaches the point (e.g. a takeover while the holder is stalled there). */
  const stalls: Partial<Record<RunStepPoint, () => Promise<void>>> = {};
  const runDeps: RunWorkDeps = {
    runs: ports.runs,
    due: ports.subscriptions,
    subscriptions: ports.subscriptions,
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
    gateway,
    dunning: {
      scheduleMs: [DAY, 3 * DAY],
      finalAction: 'cancel' as const,
      hardDeclines: ['stolen_card', 'expired_card'],
    },
    now: () => clock.now,
  };
  let owners = 0;
  const later: { message: ChargeMessage; visibleAt: number }[] = [];
  const deadLetters: { message: ChargeMessage; reason: string }[] = [];
  const retryQueue: ChargeRetryQueue = {
    async retryLater(message, delaySeconds) {
      later.push({ message: structuredClone(message), visibleAt: clock.now + delaySeconds * 1000 });
    },
    async sendToDeadLetter(message, reason) {
      deadLetters.push({ message: structuredClone(message), reason });
    },
  };

  return {
    ...ports,
    gateway,
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
    /**
     * Works every charge message that is visible once, in order, through the real consumer (its retries and polls
     * come back as delayed messages, visible once the clock reaches them); returns the outcomes.
     */
    async work() {
      const outcomes = [];
      const visible = later.filter((entry) => entry.visibleAt <= clock.now);
      later.splice(0, later.length, ...later.filter((entry) => entry.visibleAt > clock.now));
      for (const message of [...visible.map((entry) => entry.message), ...ports.chargeQueue.take()]) {
        const result = await consumeChargeMessage({ ...chargeDeps, queue: retryQueue }, message);
        if (result.kind === 'processed')
          outcomes.push({ ref: chargeRefToString(message), ...result.outcome });
      }
      return outcomes;
    },
    /** Delayed charge messages (retries and polls) and dead letters. */
    later,
    deadLetters,
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
