import type { ChargeRecord } from '../../../lambdas/domain/subscriptions/charges';
import { chargeRefToString, idempotencyKeyOf } from '../../../lambdas/domain/subscriptions/charges';
import { runView } from '../../../lambdas/domain/subscriptions/runs';
import { dueShardOf, type Subscription } from '../../../lambdas/domain/subscriptions/subscription';
import {
  AS_OF,
  type ChaosWorld,
  DUNNING_SCHEDULE_MS,
  isDue,
  isLate,
  RUN_ID,
  type Scenario,
  STORE_IDS,
  storeOf,
  subscriptionIdOf,
  subscriptionOf,
} from './chaos-harness';

/** The chaos test's invariants, checked once a schedule has quiesced (chaos-harness.ts runs it). */

export interface Verdict {
  readonly problems: string[];
  readonly runCompleted: boolean;
  readonly outcomes: Record<string, number>;
}

/**
 * (1) at most one successful gateway charge per (subscription, period, attempt), and per (subscription, period);
 * every claim agrees with the gateway's ledger. (2) every subscription due at asOf ends charged, in dunning (or
 * ended by the final action), or visibly pending; one not due is never charged. (3) a completed run's datafeed
 * lists exactly the charges it claimed, and its counts are the ledger's. (4) no fenced write of a superseded
 * holder changed the run (checked as the writes happened). (5) each charge is resolved once.
 */
export async function verify(world: ChaosWorld, scenario: Scenario): Promise<Verdict> {
  const problems = [...world.violations, ...world.unexpected.map((text) => `unexpected error: ${text}`)];
  const ledger = world.gateway.ledger;
  const charges = await world.scan<ChargeRecord>(world.tables.charges);
  const subscriptions = await world.scan<Subscription>(world.tables.subscriptions);
  const run = await world.plainRuns().get(RUN_ID);
  const manifest = new Set(await world.plainRuns().manifest(RUN_ID));
  const runCompleted = run?.status === 'completed';
  const outcomes: Record<string, number> = {};

  // (1) Counted at the gateway.
  const successesByKey = new Map<string, string[]>();
  const successesByPeriod = new Map<string, number>();
  for (const entry of ledger) {
    if (entry.outcome !== 'succeeded') continue;
    const key = entry.idempotencyKey ?? '(no key)';
    successesByKey.set(key, [...(successesByKey.get(key) ?? []), entry.paymentIntentId ?? '']);
    const period = `${entry.metadata.subscription_id}/${entry.metadata.period}`;
    successesByPeriod.set(period, (successesByPeriod.get(period) ?? 0) + 1);
  }
  for (const [key, intents] of successesByKey) {
    if (intents.length > 1) problems.push(`${intents.length} successful charges under one key ${key}`);
  }
  for (const [period, count] of successesByPeriod) {
    if (count > 1) problems.push(`${count} successful charges for ${period}`);
  }
  const declinedKeys = new Set(
    ledger.filter((entry) => entry.outcome === 'declined').map((e) => e.idempotencyKey),
  );
  for (const charge of charges) {
    const intents = successesByKey.get(charge.idempotencyKey) ?? [];
    const ref = chargeRefToString(charge);
    if (charge.status === 'succeeded' && (intents.length !== 1 || intents[0] !== charge.paymentIntentId)) {
      problems.push(
        `${ref} is succeeded with ${charge.paymentIntentId}, the gateway has [${intents.join(', ')}]`,
      );
    }
    if (charge.status === 'failed' && (intents.length > 0 || !declinedKeys.has(charge.idempotencyKey))) {
      problems.push(`${ref} is failed, the gateway has ${intents.length} successes and no decline`);
    }
    // (5) Resolved once: one outcome, one announcement.
    const resolutions = world.resolutions.get(ref) ?? 0;
    if (resolutions > 1) problems.push(`${ref} was resolved ${resolutions} times`);
    if (charge.idempotencyKey !== idempotencyKeyOf(charge)) {
      problems.push(`${ref} carries the key ${charge.idempotencyKey}, not its claim's`);
    }
  }
  const chargedKeys = new Set(charges.map((charge) => charge.idempotencyKey));
  for (const key of successesByKey.keys()) {
    if (!chargedKeys.has(key)) problems.push(`the gateway charged ${key}, which no claim knows`);
  }

  // (2) Every subscription's end state.
  const byId = new Map(subscriptions.map((subscription) => [subscription.subscriptionId, subscription]));
  const asOf = Date.parse(AS_OF);
  scenario.subscriptions.forEach((plan, index) => {
    const id = subscriptionIdOf(index);
    const initial = subscriptionOf(plan, index);
    const final = byId.get(id);
    const own = charges.filter((charge) => charge.subscriptionId === id);
    const ownSuccesses = ledger.filter(
      (entry) => entry.outcome === 'succeeded' && entry.metadata.subscription_id === id,
    );
    if (!isDue(plan)) {
      if (own.length > 0 || ownSuccesses.length > 0) problems.push(`${id} was not due but was charged`);
      if (final && plan.state === 'future' && final.dueAt !== initial.dueAt) problems.push(`${id} moved`);
      outcomes['not due'] = (outcomes['not due'] ?? 0) + 1;
      return;
    }
    if (!final) {
      // A late one whose creation never happened (the chaos ended first) is no subscription at all.
      if (isLate(plan)) return;
      problems.push(`${id} vanished`);
      return;
    }
    const claim = own.find(
      (charge) => charge.period === initial.nextChargeAt.slice(0, 10) && charge.attempt === initial.attempt,
    );
    const state = `${id} (${plan.state}${plan.state === 'dunning' ? ` attempt ${plan.dunningAttempt}` : ''}, ${plan.paymentMethod})`;
    if (!claim) {
      // Created after the run had finished, or while its last sweep was reading: owed by the next run, and
      // still in the due index where that run finds it.
      const late = world.lateWrites.get(id);
      const completedBy = world.completedBy;
      const lastPass = completedBy
        ? Math.max(
            0,
            ...world.dueReads
              .filter((read) => read.task === completedBy.task && read.seq < completedBy.seq)
              .filter((read) => read.shard === dueShardOf(storeOf(index), id) && read.fromStart)
              .map((read) => read.seq),
          )
        : undefined;
      const afterTheRun = late && runCompleted && lastPass !== undefined && late.seq > lastPass;
      if (afterTheRun && final.dueShard && final.dueAt && Date.parse(final.dueAt) <= asOf) {
        outcomes['owed by the next run'] = (outcomes['owed by the next run'] ?? 0) + 1;
        return;
      }
      problems.push(`${state} was skipped: no claim, run ${run?.status}`);
      return;
    }
    const inManifest = manifest.has(chargeRefToString(claim));
    if (claim.status === 'pending') {
      if (runCompleted || !inManifest) {
        problems.push(`${state} is pending out of sight (run ${run?.status}, in manifest: ${inManifest})`);
      }
      if (!plan.gatewayDown) problems.push(`${state} is still pending although the gateway answers`);
      outcomes['visibly pending'] = (outcomes['visibly pending'] ?? 0) + 1;
      return;
    }
    if (plan.gatewayDown) problems.push(`${state} was resolved though the gateway never answered`);
    const beyond = final.dueAt !== undefined && Date.parse(final.dueAt) > asOf;
    if (claim.status === 'succeeded') {
      if (plan.paymentMethod !== 'pm_card_visa') problems.push(`${state} succeeded with a declining card`);
      const advanced =
        final.status === 'active' &&
        final.cycle > initial.cycle &&
        final.attempt === 0 &&
        !final.dunning &&
        beyond;
      if (!advanced) problems.push(`${state} was charged but not advanced: ${summary(final)}`);
      outcomes.charged = (outcomes.charged ?? 0) + 1;
      return;
    }
    if (plan.paymentMethod === 'pm_card_visa' && !world.forcedDeclines.has(claim.idempotencyKey)) {
      problems.push(`${state} failed with a working card`);
    }
    const last = initial.attempt >= DUNNING_SCHEDULE_MS.length;
    if (last) {
      const ended =
        final.status === (scenario.finalAction === 'cancel' ? 'canceled' : 'unpaid') && !final.dueShard;
      if (!ended) problems.push(`${state} failed its last retry but did not end: ${summary(final)}`);
      outcomes['ended by dunning'] = (outcomes['ended by dunning'] ?? 0) + 1;
      return;
    }
    const dunning =
      final.status === 'past_due' &&
      final.cycle === initial.cycle &&
      final.attempt === initial.attempt + 1 &&
      final.dunning?.attempt === initial.attempt + 1 &&
      beyond;
    if (!dunning) problems.push(`${state} failed but is not in dunning: ${summary(final)}`);
    outcomes.dunning = (outcomes.dunning ?? 0) + 1;
  });

  // (3) The completed run: its datafeed and its counts.
  if (run && runCompleted) {
    const own = charges.filter(
      (charge) => charge.runId === RUN_ID && manifest.has(chargeRefToString(charge)),
    );
    const stores = [...new Set(own.map((charge) => charge.storeId))].sort();
    if (JSON.stringify(run.stores ?? []) !== JSON.stringify(stores)) {
      problems.push(`the run names the stores [${run.stores}], its charges are of [${stores}]`);
    }
    for (const storeId of STORE_IDS) {
      // The completed run's own datafeeds: those of the version that completed it.
      const feed = world.datafeeds.get(`${RUN_ID}/${run.datafeedVersion}/${storeId}`);
      const listed = feed ? datafeedCharges(feed) : [];
      const expected = own
        .filter((charge) => charge.storeId === storeId)
        .map((charge) => `${charge.subscriptionId}/${charge.period}/${charge.attempt}/${charge.status}`);
      if (expected.length > 0 && !feed) problems.push(`the completed run has no datafeed for ${storeId}`);
      if (JSON.stringify([...listed].sort()) !== JSON.stringify([...expected].sort())) {
        problems.push(
          `the datafeed of ${storeId} lists [${listed.sort().join(', ')}], the run claimed [${expected.sort().join(', ')}]`,
        );
      }
    }
    const succeeded = own.filter(
      (charge) => (successesByKey.get(charge.idempotencyKey) ?? []).length === 1,
    ).length;
    const failed = own.filter((charge) => charge.status === 'failed').length;
    const counts = { total: run.total, succeeded: run.succeeded, failed: run.failed };
    const truth = { total: own.length, succeeded, failed };
    if (JSON.stringify(counts) !== JSON.stringify(truth)) {
      problems.push(
        `the run counts ${JSON.stringify(counts)}, the ledger and claims say ${JSON.stringify(truth)}`,
      );
    }
    if (runView(run, world.clock.now).pending !== 0) problems.push('a completed run shows pending charges');
  }
  // Liveness: unless a charge waits on a gateway that never answers it, the run ends completed and announced once
  // the chaos stops (a pending charge of a completed run is reported above).
  if (!outcomes['visibly pending'] && !(runCompleted && run?.announced)) {
    problems.push(
      `the run did not complete after the chaos stopped (status ${run?.status}, announced ${run?.announced})`,
    );
  }
  return { problems, runCompleted, outcomes };
}

function summary(subscription: Subscription): string {
  return JSON.stringify({
    status: subscription.status,
    cycle: subscription.cycle,
    attempt: subscription.attempt,
    dueAt: subscription.dueAt,
    dunning: subscription.dunning,
  });
}

/** `subscription/period/attempt/status` of each charge element of a datafeed. */
export function datafeedCharges(xml: string): string[] {
  const found: string[] = [];
  const subscription = /<subscription id="([^"]+)">([\s\S]*?)<\/subscription>/g;
  for (const match of xml.matchAll(subscription)) {
    for (const charge of (match[2] ?? '').matchAll(
      /<charge period="([^"]+)" status="([^"]+)"[^>]* attempt="(\d+)"/g,
    )) {
      found.push(`${match[1]}/${charge[1]}/${charge[3]}/${charge[2]}`);
    }
  }
  return found;
}
