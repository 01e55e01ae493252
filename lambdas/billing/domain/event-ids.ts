import { createHash } from 'node:crypto';
import { eventIdFor } from '../../events/domain/events';

/**
 * Billing's events carry ids fixed by the fact they announce (a charge's outcome, a run's datafeed for a store):
 * a fact announced again, after a crash or by a stream record processed twice, is stored once.
 */

/** The SHA-256 digest of `seed`. */
export function digest(seed: string): Uint8Array {
  return createHash('sha256').update(seed).digest();
}

/** The id of the event, at `time` (epoch ms), that announces the fact named by `seed`. */
export function factEventId(time: number, seed: string): string {
  return eventIdFor(time, digest(seed));
}
