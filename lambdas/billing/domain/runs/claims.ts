import { createHash } from 'node:crypto';
import { mapLimit } from '../../../platform/map-limit';
import { type ChargeRecord, chargeRefToString, claimFor, refOf } from '../charges/charge';
import type { ChargeMessage } from '../messages';
import type { Subscription } from '../subscription';
import { dueAction } from '../subscription-changes';
import type { RunWorkDeps } from './ports';
import type { Run } from './run';

/** A page of due subscriptions claimed for a run, fenced as a page, and the charge messages it sends. */

/**
 * Records the page in the manifest, claims each due charge, saves the holder's fenced write `confirm` (the page's
 * checkpoint; in a sweep, a heartbeat when something was claimed), and sends a message for each charge that needs
 * one. @returns the run as saved, how many it claimed, and how many of the page's subscriptions are held by an
 * answer or by another run's unanswered charge (not owed by this run); undefined when the lease was taken over.
 *
 * The claims are plain conditional puts (1 write unit each), fenced as a page by that write: when it succeeds, the
 * lease was held all along (no successor can have started before it), so every claim of the page is one the run
 * and any successor see. When it fails, the holder stalled mid-page and a successor may have completed the run
 * without these claims: the holder withdraws the claims it has just made (while still pending and never asked) and
 * stops, having sent no message for them. A successor that found one first has sent it, and either it was asked
 * by then (it stays: `firstAskedAt` fences the withdrawal) or it is gone, still due, and claimed again under the same
 * key. A claim the holder could not withdraw (it crashed in between) is adopted by the next run that finds it
 * (`ownedClaim`). A crash after the checkpoint and before the messages leaves the page's charges pending, and the
 * run's stall sweep sends them. Fencing each claim instead, in a transaction with a check of the run item, would
 * cost 4 write units or more per claim (by the run item's size) instead of 1.
 */
export async function claimAndSend(
  deps: RunWorkDeps,
  run: Run,
  pageId: string,
  subscriptions: readonly Subscription[],
  confirm: (claimed: number) => Promise<Run | undefined>,
): Promise<{ run: Run; claimed: number; held: number } | undefined> {
  const now = deps.now();
  const { chargeable, settled } = await settleDue(deps, run, subscriptions);
  const claims = chargeable.map((subscription) => claimFor(subscription, run.runId, now));
  // The manifest first: a charge this run claims is listed before it exists, so the datafeed cannot miss it.
  await deps.runs.addToManifest(
    run.runId,
    pageId,
    claims.map((claim) => chargeRefToString(refOf(claim))),
  );
  const made: ChargeRecord[] = [];
  // Earlier runs whose pending claims the page meets, each read once (a stuck run may have many on one page).
  const earlierRuns = new Map<string, Promise<Run | undefined>>();
  const runOf = (runId: string) => {
    const read = earlierRuns.get(runId) ?? deps.runs.get(runId);
    earlierRuns.set(runId, read);
    return read;
  };
  const owed = await mapLimit(claims, 16, async (claim): Promise<ChargeRecord | undefined> => {
    const result = await deps.charges.claim(claim);
    if (result.claimed) {
      made.push(claim);
      return claim;
    }
    // Claimed before (by this run before a crash, or by an earlier run whose charge is still unanswered): a
    // resolved charge whose change did not reach the subscription is applied again by the charge consumer.
    return ownedClaim(deps, run, result.existing, runOf);
  });
  if (claims.length > 0) await deps.checkpoint?.('after-claims');
  const confirmed = await confirm(made.length);
  if (!confirmed) {
    await mapLimit(made, 16, (claim) => deps.charges.withdraw(refOf(claim), run.runId));
    return undefined;
  }
  if (claims.length > 0) {
    await deps.chargeQueue.send(
      owed.flatMap((charge) => (charge ? [chargeMessageOf(charge, run.runId)] : [])),
    );
    await deps.checkpoint?.('after-send');
  }
  // Held, not owed: a `processing` charge (an answer; polled until it settles), or another run's charge still
  // unanswered (sent again above, but never holding this run: that run waits for it, this one does not).
  const held =
    settled +
    owed.filter(
      (charge) =>
        charge !== undefined &&
        (charge.status === 'processing' || (charge.status === 'pending' && charge.runId !== run.runId)),
    ).length;
  return { run: confirmed, claimed: made.length, held };
}

/**
 * The page's subscriptions that are to be charged, once those that must not be (subscription-changes.ts
 * `dueAction`) are settled: a pause whose `resumesAt` came is resumed (and charged here if its next period is due
 * too), an `endAt` reached ends it, a hard decline's wait that ran out takes the final action. Each settlement is a
 * fenced write (`replace`), safe to repeat and to race: one that lost to another change leaves the subscription due,
 * and the next sweep reads it again. @returns those to claim, and how many of the page are settled (not owed).
 */
async function settleDue(
  deps: RunWorkDeps,
  run: Run,
  subscriptions: readonly Subscription[],
): Promise<{ chargeable: Subscription[]; settled: number }> {
  const policy = { finalAction: deps.dunningFinalAction ?? 'cancel' };
  const actions = subscriptions.map((subscription) => ({
    subscription,
    action: dueAction(subscription, run.asOf, policy),
  }));
  if (actions.every(({ action }) => action.kind === 'charge')) {
    return { chargeable: [...subscriptions], settled: 0 };
  }
  const results = await mapLimit(actions, 16, async ({ subscription, action }) => {
    if (action.kind === 'charge') return subscription;
    if (action.kind === 'skip') return undefined;
    if (!(await deps.subscriptions.replace(subscription, action.next))) return subscription.dueAt;
    const next = action.next;
    return next.status === 'active' && next.dueAt !== undefined && next.dueAt <= run.asOf ? next : undefined;
  });
  const chargeable = results.filter((result): result is Subscription => typeof result === 'object');
  // A settlement that lost a race stays owed (counted as such), and is read again by the next sweep.
  const lost = results.filter((result) => typeof result === 'string').length;
  return { chargeable, settled: subscriptions.length - chargeable.length - lost };
}

/** The message for one charge. */
export function chargeMessageOf(charge: ChargeRecord, runId: string): ChargeMessage {
  return { ...refOf(charge), runId };
}

/**
 * An existing claim as this run sees it. A pending claim never asked, of a run that completed without it (left by
 * a holder that lost its lease and crashed before withdrawing it), is adopted: it becomes this run's, in its
 * manifest and datafeed. Any other stays its run's.
 */
async function ownedClaim(
  deps: RunWorkDeps,
  run: Run,
  existing: ChargeRecord,
  runOf: (runId: string) => Promise<Run | undefined>,
): Promise<ChargeRecord> {
  if (existing.status !== 'pending' || existing.runId === run.runId || existing.firstAskedAt) return existing;
  const earlier = await runOf(existing.runId);
  if (earlier && earlier.status !== 'completed') return existing;
  return (await deps.charges.adopt(refOf(existing), existing.runId, run.runId)) ?? existing;
}

export function pageIdOf(after: Readonly<Record<string, unknown>> | undefined): string {
  return after ? createHash('sha256').update(JSON.stringify(after)).digest('hex').slice(0, 16) : 'start';
}
