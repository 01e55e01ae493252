import type { ChargeRecord } from '../../../lambdas/billing/domain/charges/charge';
import { chargeRefToString, idempotencyKeyOf } from '../../../lambdas/billing/domain/charges/charge';
import { runView } from '../../../lambdas/billing/domain/runs/view';
import { dueShardOf, type Subscription } from '../../../lambdas/billing/domain/subscription';
import {
  AS_OF,
  type ChaosWorld,
  DUNNING_SCHEDULE_MS,
  isDue,
  isLate,
  RUN_ID,
  type Scenario,
  STORE_IDS,
  SUCCEEDING,
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

  // (1) Counted at the gateway: at most one PaymentIntent that moves money per (subscription, period, attempt),
  // and each has exactly one charge record, which names it.
  const moving = ledger.filter((entry) => entry.outcome === 'succeeded');
  const movedByCharge = new Map<string, string[]>();
  for (const entry of moving) {
    const { store_id, subscription_id, period, attempt } = entry.metadata;
    const ref = `${store_id}#${subscription_id}|${period}#${String(attempt).padStart(2, '0')}`;
    movedByCharge.set(ref, [...(movedByCharge.get(ref) ?? []), entry.paymentIntentId]);
  }
  for (const [ref, intents] of movedByCharge) {
    if (intents.length > 1)
      problems.push(`${intents.length} PaymentIntents moved money for ${ref}: ${intents}`);
  }
  const chargesByRef = new Map(charges.map((charge) => [chargeRefToString(charge), charge]));
  for (const [ref, intents] of movedByCharge) {
    const record = chargesByRef.get(ref);
    if (!record) {
      problems.push(`money moved for ${ref} (${intents}) and no charge records it`);
    } else if (
      (record.status !== 'succeeded' && record.status !== 'processing') ||
      !intents.includes(record.paymentIntentId ?? '')
    ) {
      problems.push(
        `money moved for ${ref} (${intents}); its record is ${record.status} with ${record.paymentIntentId}`,
      );
    }
  }
  for (const charge of charges) {
    const ref = chargeRefToString(charge);
    const moved = movedByCharge.get(ref) ?? [];
    if (charge.status === 'succeeded' && (moved.length !== 1 || moved[0] !== charge.paymentIntentId)) {
      problems.push(
        `${ref} is succeeded with ${charge.paymentIntentId}, the gateway moved [${moved.join(', ')}]`,
      );
    }
    const declined = ledger.some(
      (entry) =>
        entry.outcome === 'declined' &&
        entry.metadata.subscription_id === charge.subscriptionId &&
        entry.metadata.period === charge.period &&
        entry.metadata.attempt === String(charge.attempt),
    );
    if (charge.status === 'failed' && (moved.length > 0 || !declined)) {
      problems.push(
        `${ref} is failed, the gateway moved ${moved.length} and declined ${declined ? 'one' : 'none'}`,
      );
    }
    // (5) Resolved once: one outcome, one announcement.
    const resolutions = world.resolutions.get(ref) ?? 0;
    if (resolutions > 1) problems.push(`${ref} was resolved ${resolutions} times`);
    if (charge.idempotencyKey !== idempotencyKeyOf(charge, charge.keyGeneration ?? 0)) {
      problems.push(`${ref} carries the key ${charge.idempotencyKey}, not one derived from the charge`);
    }
  }

  // (6) Nothing is charged after a cancel that came before the ask: a PaymentIntent that moved money for a
  // canceled subscription belongs to a charge marked asked before the cancel was written.
  for (const [subscriptionId, canceledAt] of world.cancels) {
    for (const [ref, intents] of movedByCharge) {
      if (!ref.includes(`#${subscriptionId}|`)) continue;
      const askedAt = world.askedAt.get(ref);
      if (askedAt === undefined || askedAt >= canceledAt) {
        problems.push(
          `${ref} moved money (${intents}) though ${subscriptionId} was canceled (I/O ${canceledAt}) before its ask (I/O ${askedAt})`,
        );
      }
    }
  }

  // (6b) The same for a pause: nothing is charged after a pause that came before the ask.
  for (const [subscriptionId, pausedAt] of world.pauses) {
    for (const [ref, intents] of movedByCharge) {
      if (!ref.includes(`#${subscriptionId}|`)) continue;
      const askedAt = world.askedAt.get(ref);
      if (askedAt === undefined || askedAt >= pausedAt) {
        problems.push(
          `${ref} moved money (${intents}) though ${subscriptionId} was paused (I/O ${pausedAt}) before its ask (I/O ${askedAt})`,
        );
      }
    }
  }
  // (6c) A change of amount applies from the next charge not yet sent: a charge whose only asker read the
  // subscription after the change was written is sent with the new amount (one whose first asker died before that
  // read, or that a second process also marked, keeps the claim's: nobody can know the first did not send them);
  // whatever happened, the gateway saw what the claim holds.
  for (const entry of moving) {
    const ref = chargeRefToString({
      storeId: entry.metadata.store_id ?? '',
      subscriptionId: entry.metadata.subscription_id ?? '',
      period: entry.metadata.period ?? '',
      attempt: Number(entry.metadata.attempt),
    });
    const charge = charges.find((c) => chargeRefToString(c) === ref);
    if (charge && charge.amount !== entry.amount) {
      problems.push(`${ref} moved ${entry.amount} but its claim holds ${charge.amount}`);
    }
    const reprice = world.reprices.get(entry.metadata.subscription_id ?? '');
    // Only while one process ever meant to ask (`asks` 1): a second asker freezes the terms (the first may have sent).
    const readAt = world.firstMarks.get(ref)?.readAt;
    const alone = charge?.asks === 1 && (charge.keyGeneration ?? 0) === 0;
    if (reprice && alone && readAt !== undefined && readAt > reprice.seq && entry.amount !== reprice.amount) {
      problems.push(
        `${ref}'s first asker read the subscription (I/O ${readAt}) after the amount changed (I/O ${reprice.seq}) but moved ${entry.amount}`,
      );
    }
  }

  // (2) Every subscription's end state.
  const byId = new Map(subscriptions.map((subscription) => [subscription.subscriptionId, subscription]));
  const asOf = Date.parse(AS_OF);
  scenario.subscriptions.forEach((plan, index) => {
    const id = subscriptionIdOf(index);
    const initial = subscriptionOf(plan, index);
    const final = byId.get(id);
    const own = charges.filter((charge) => charge.subscriptionId === id);
    const ownSuccesses = moving.filter((entry) => entry.metadata.subscription_id === id);
    if (!isDue(plan)) {
      if (own.length > 0 || ownSuccesses.length > 0) problems.push(`${id} was not due but was charged`);
      const canceled = world.cancels.has(id) || world.pauses.has(id);
      if (final && plan.state === 'future' && final.dueAt !== initial.dueAt && !canceled) {
        problems.push(`${id} moved`);
      }
      outcomes['not due'] = (outcomes['not due'] ?? 0) + 1;
      return;
    }
    if (!final) {
      // A late one whose creation never happened (the chaos ended first) is no subscription at all.
      if (isLate(plan)) return;
      problems.push(`${id} vanished`);
      return;
    }
    if (world.pauses.has(id) && !world.cancels.has(id)) {
      // Paused during the chaos: what it may have been charged is checked by (1) and (6b).
      if (final.status !== 'paused') problems.push(`${id} was paused but is ${final.status}`);
      if (final.dueShard) problems.push(`${id} was paused but is still in the due index`);
      outcomes['paused mid-run'] = (outcomes['paused mid-run'] ?? 0) + 1;
      return;
    }
    if (world.cancels.has(id)) {
      // Canceled during the chaos: what it may have been charged is checked by (1) and (6).
      if (final.status !== 'canceled') problems.push(`${id} was canceled but is ${final.status}`);
      outcomes['canceled mid-run'] = (outcomes['canceled mid-run'] ?? 0) + 1;
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
    if (claim.status === 'processing') {
      problems.push(`${state} is still processing although the gateway settled it`);
      return;
    }
    if (claim.status === 'succeeded') {
      if (!SUCCEEDING.has(plan.paymentMethod)) problems.push(`${state} succeeded with a declining card`);
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
    const forced = ledger.some(
      (entry) =>
        entry.outcome === 'declined' &&
        entry.metadata.subscription_id === id &&
        world.forcedDeclines.has(entry.idempotencyKey ?? ''),
    );
    if (SUCCEEDING.has(plan.paymentMethod) && !forced) {
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
        .map((charge) => {
          // A charge listed while processing may have settled since: the feed shows it as it was then.
          const listedAs = listed.find((entry) =>
            entry.startsWith(`${charge.subscriptionId}/${charge.period}/${charge.attempt}/`),
          );
          const status =
            charge.processingSince && listedAs?.endsWith('/processing') ? 'processing' : charge.status;
          return `${charge.subscriptionId}/${charge.period}/${charge.attempt}/${status}`;
        });
      if (expected.length > 0 && !feed) problems.push(`the completed run has no datafeed for ${storeId}`);
      if (JSON.stringify([...listed].sort()) !== JSON.stringify([...expected].sort())) {
        problems.push(
          `the datafeed of ${storeId} lists [${listed.sort().join(', ')}], the run claimed [${expected.sort().join(', ')}]`,
        );
      }
    }
    // The counts are exact at completion; a charge that went through `processing` may have settled after it, so
    // each count lies between the charges that end in that status without having been processing, and all of them.
    const ended = (status: string) => own.filter((charge) => charge.status === status);
    const viaProcessing = (status: string) => ended(status).filter((charge) => charge.processingSince).length;
    const within = (count: number, status: string) =>
      count <= ended(status).length && count >= ended(status).length - viaProcessing(status);
    const answered = run.succeeded + run.failed + (run.processing ?? 0);
    const wentThroughProcessing = own.filter((charge) => charge.processingSince).length;
    if (
      run.total !== own.length ||
      answered !== run.total ||
      !within(run.succeeded, 'succeeded') ||
      !within(run.failed, 'failed') ||
      (run.processing ?? 0) > wentThroughProcessing
    ) {
      problems.push(
        `the run counts ${JSON.stringify({ total: run.total, succeeded: run.succeeded, failed: run.failed, processing: run.processing })} for ${own.length} charges (${wentThroughProcessing} went through processing)`,
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
