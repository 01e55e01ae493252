import type { ChargeRecord } from './charge';
import { chargeMetadataOf, chargeRequestOf, type GatewayOutcome } from './gateway';
import type { ChargeDeps, ChargeSettings } from './process';

/** A charge whose key can no longer be trusted, reconciled by a search on its metadata, and rekeyed if need be. */

/**
 * The answer of a charge whose key can no longer be trusted, from a search on its metadata: a PaymentIntent found
 * is the answer (one that moved money first); none found, once the search can be believed, means no ask moved
 * money, so the charge is asked under its next key (or released, if its subscription no longer owes it).
 */
export async function reconcileBySearch(
  deps: ChargeDeps,
  settings: ChargeSettings,
  charge: ChargeRecord,
  owed: boolean,
): Promise<GatewayOutcome | { kind: 'released' }> {
  const found = await deps.gateway.search(chargeMetadataOf(charge));
  if (found.kind !== 'found') return found;
  const metadata = chargeMetadataOf(charge);
  const mine = found.intents.filter((intent) =>
    Object.entries(metadata).every(([name, value]) => intent.metadata[name] === value),
  );
  const moved =
    mine.find((intent) => intent.status === 'succeeded') ??
    mine.find((intent) => intent.status === 'processing');
  if (moved) {
    return moved.status === 'succeeded'
      ? { kind: 'succeeded', paymentIntentId: moved.id }
      : { kind: 'processing', paymentIntentId: moved.id };
  }
  const declined = mine.find((intent) => intent.status === 'requires_payment_method');
  if (declined) {
    return {
      kind: 'declined',
      paymentIntentId: declined.id,
      ...(declined.declineCode ? { declineCode: declined.declineCode } : {}),
      message: declined.failureMessage ?? 'The payment failed.',
    };
  }
  if (mine.length > 0) {
    const statuses = mine.map((intent) => `${intent.id} ${intent.status}`).join(', ');
    return { kind: 'unknown', cause: 'unknown-status', reason: `found ${statuses}` };
  }
  const lastAskedAt = charge.lastAskedAt ?? charge.firstAskedAt;
  // A key that replays a stored 5xx created whatever it created before the replay was first seen; otherwise any
  // ask up to the last one may have.
  const believedFrom = charge.serverErrorAt ?? lastAskedAt;
  if (!lastAskedAt || !believedFrom || deps.now() - Date.parse(believedFrom) < settings.searchSettleMs) {
    return {
      kind: 'unknown',
      cause: 'search-not-settled',
      reason: `nothing found yet; a search is believed ${settings.searchSettleMs} ms after the last ask`,
    };
  }
  const seen = { idempotencyKey: charge.idempotencyKey, lastAskedAt };
  if (!owed) {
    if (await deps.charges.release(charge, seen)) return { kind: 'released' };
    return { kind: 'unknown', cause: 'changed', reason: 'the claim changed meanwhile' };
  }
  const generation = (charge.keyGeneration ?? 0) + 1;
  const rekeyed = await deps.charges.rekey(charge, seen, generation, new Date(deps.now()).toISOString());
  // Another copy asked or moved it on first (or resolved it): its ask is the one; this copy comes back later.
  if (rekeyed?.status !== 'pending' || rekeyed.keyGeneration !== generation) {
    return { kind: 'unknown', cause: 'changed', reason: 'another process asked under a new key first' };
  }
  return deps.gateway.charge(chargeRequestOf(rekeyed));
}
