import { type ChargeRecord, chargeRefFromString } from '../charges/charge';
import { buildDatafeed, type DatafeedSubscription, datafeedWindows } from '../datafeed';
import { factEventId } from '../event-ids';
import type { RunWorkDeps } from './ports';
import type { Run, RunFence } from './run';

/** A run's completion: its datafeeds, its exact counts, then `datafeed.ready` for each store. */

/** The charges this run claimed, from its manifest. */
export async function chargesOfRun(deps: RunWorkDeps, run: Run): Promise<ChargeRecord[]> {
  const refs = (await deps.runs.manifest(run.runId)).map(chargeRefFromString);
  return (await deps.charges.getMany(refs)).filter((charge) => charge.runId === run.runId);
}

/** The subscriptions of the run's charges, as they stand after the run, for the datafeeds (none without the port). */
async function chargedSubscriptions(
  deps: RunWorkDeps,
  charges: readonly ChargeRecord[],
): Promise<DatafeedSubscription[]> {
  if (!deps.datafeedSubscriptions) return [];
  const keys = new Map(
    charges.map(({ storeId, subscriptionId }) => [
      `${storeId}#${subscriptionId}`,
      { storeId, subscriptionId },
    ]),
  );
  return deps.datafeedSubscriptions.getMany([...keys.values()]);
}

/**
 * Completes the run once every charge it claimed is answered and nothing is due any more: the datafeeds first
 * (never before every charge is in), then the completion with exact counts; `datafeed.ready` follows.
 */
export async function finish(
  deps: RunWorkDeps,
  fence: RunFence,
  run: Run,
  charges: readonly ChargeRecord[],
): Promise<Run | undefined> {
  const completedAt = new Date(deps.now()).toISOString();
  const stores = [...new Set(charges.map((charge) => charge.storeId))].sort();
  // Under this holder's version: the put is not fenced, so a holder that loses its lease right here and writes
  // late cannot overwrite the datafeeds of the one that completes (found by the chaos test); the completion, which
  // is fenced, names the version that counts.
  const charged = await chargedSubscriptions(deps, charges);
  const windows = datafeedWindows(run.runId);
  for (const storeId of stores) {
    const ofWindows = (await deps.datafeedSubscriptions?.ofWindows(storeId, windows)) ?? [];
    const xml = buildDatafeed({
      runId: run.runId,
      storeId,
      generatedAt: completedAt,
      charges,
      subscriptions: [...charged, ...ofWindows],
      ...(deps.manageUrlOf ? { manageUrlOf: deps.manageUrlOf } : {}),
    });
    await deps.datafeeds.put(run.runId, storeId, xml, fence.version);
  }
  await deps.checkpoint?.('after-datafeeds');
  const count = (status: ChargeRecord['status']) =>
    charges.filter((charge) => charge.status === status).length;
  const completed = await deps.runs.complete(fence, {
    total: charges.length,
    succeeded: count('succeeded'),
    failed: count('failed'),
    processing: count('processing'),
    completedAt,
    stores,
    datafeedVersion: fence.version,
  });
  if (completed) await deps.checkpoint?.('after-complete');
  return completed;
}

/** `datafeed.ready` for each store of the completed run, with ids fixed by (run, store): repeats store nothing. */
export async function announce(deps: RunWorkDeps, fence: RunFence, run: Run): Promise<boolean> {
  const completedAt = run.completedAt ?? run.updatedAt;
  for (const storeId of run.stores ?? []) {
    await deps.events.put(
      {
        id: factEventId(Date.parse(completedAt), `datafeed.ready:${run.runId}:${storeId}`),
        type: 'datafeed.ready',
        createdAt: completedAt,
        storeId,
        data: {
          runId: run.runId,
          url: `/v1/datafeeds/subscriptions/${run.runId}`,
          contentType: 'application/xml',
          completedAt,
        },
      },
      'direct',
    );
  }
  await deps.onCompleted?.(run);
  return deps.runs.markAnnounced(fence);
}
