import type { Subscription, SubscriptionChange } from '../subscription';
import type { ChargeRecord, ChargeRef } from './charge';

/** The tables the charge path writes: its charges, and the subscriptions their outcomes change. */

/** Port: the charges table. */
export interface ChargesRepository {
  /**
   * Writes the claim unless the charge exists (one conditional put). A run fences its claims as a page, with a
   * checkpoint after them (runs/claims.ts `claimAndSend`). @returns the existing charge when it does.
   */
  claim(charge: ChargeRecord): Promise<{ claimed: true } | { claimed: false; existing: ChargeRecord }>;
  /**
   * Deletes the claim if it is still pending, still `runId`'s, and was never asked: a run holder that lost its
   * lease takes back the claims it made after losing it. @returns whether it deleted it.
   */
  withdraw(ref: ChargeRef, runId: string): Promise<boolean>;
  /**
   * Makes a pending, never-asked claim of run `fromRunId` the claim of run `toRunId`. @returns the adopted claim,
   * or undefined when it was not (asked, resolved or adopted meanwhile).
   */
  adopt(ref: ChargeRef, fromRunId: string, toRunId: string): Promise<ChargeRecord | undefined>;
  /** A strongly consistent read. */
  get(ref: ChargeRef): Promise<ChargeRecord | undefined>;
  /**
   * Marks a pending claim never asked as asked for the first time (`firstAskedAt`, `lastAskedAt`, `asks = 1`),
   * in the same write that reads it back. @returns whether this call was that first ask, and the claim as stored
   * (undefined when there is none).
   */
  markFirstAsk(
    ref: ChargeRef,
    at: string,
  ): Promise<{ readonly first: boolean; readonly charge?: ChargeRecord }>;
  /**
   * Records that the current key is about to be asked (`lastAskedAt`, and `firstAskedAt` unless already set), if
   * the claim is still pending. From then on it can be neither withdrawn nor released unasked.
   * @returns the claim as stored (possibly resolved by another copy meanwhile); undefined when there is none.
   */
  markAsked(ref: ChargeRef, at: string): Promise<ChargeRecord | undefined>;
  /**
   * Gives a pending claim marked asked exactly once (`asks = 1`: only the caller meant to ask, and nothing was sent
   * yet) the subscription's current terms, changed since the claim (`PATCH` amount, plan or payment method).
   * @returns the claim as stored after, or undefined when it was not (another process marked it, or it moved on).
   */
  reprice(ref: ChargeRef, terms: ChargeTerms): Promise<ChargeRecord | undefined>;
  /**
   * Deletes a pending claim marked asked exactly once (`asks = 1`): the one process that marked it found the
   * subscription no longer owing it before sending anything. @returns whether it did.
   */
  releaseUnsent(ref: ChargeRef): Promise<boolean>;
  /**
   * Records that the current key `idempotencyKey` replays a stored 5xx (`serverErrorAt`, kept if already set), if
   * the claim is still pending under it. @returns the claim as stored.
   */
  markServerError(ref: ChargeRef, idempotencyKey: string, at: string): Promise<ChargeRecord | undefined>;
  /**
   * Moves a pending charge to key generation `generation` (its key derived from the charge), asked from `at`, if
   * it is still under `seen`'s key and nobody asked since `seen.lastAskedAt`. @returns the claim as stored after.
   */
  rekey(ref: ChargeRef, seen: AskedKey, generation: number, at: string): Promise<ChargeRecord | undefined>;
  /**
   * Deletes a pending claim whose subscription no longer owes it: only while it was never asked, or (after a
   * believed search found nothing) while it is still as `asked` saw it. @returns whether it did.
   */
  release(ref: ChargeRef, asked?: AskedKey): Promise<boolean>;
  /**
   * Records the outcome if the charge is still `from` (pending, or processing for a settlement). @returns the
   * stored charge: this resolution, or the one that came first; undefined if the claim is gone.
   */
  resolve(
    ref: ChargeRef,
    resolution: ChargeResolution,
    from?: 'pending' | 'processing',
  ): Promise<ChargeRecord | undefined>;
  /** Every charge of a subscription, oldest period first. */
  listForSubscription(storeId: string, subscriptionId: string): Promise<ChargeRecord[]>;
  /** Many charges by reference (missing ones are left out). */
  getMany(refs: readonly ChargeRef[]): Promise<ChargeRecord[]>;
}

/** What a charge asks the gateway for, of what a subscription's PATCH can change. */
export interface ChargeTerms {
  readonly amount: number;
  readonly plan: string;
  readonly paymentMethod: string;
}

/** A claim's key as a process saw it, and when it was last asked: what rekeying and releasing are conditional on. */
export interface AskedKey {
  readonly idempotencyKey: string;
  readonly lastAskedAt: string;
}

export interface ChargeResolution {
  /** `processing` only from pending; `succeeded` / `failed` from pending or processing. */
  readonly status: 'processing' | 'succeeded' | 'failed';
  /** When the final answer came; for `processing`, use `processingSince`. */
  readonly resolvedAt?: string;
  readonly processingSince?: string;
  readonly processingEventId?: string;
  readonly paymentIntentId?: string;
  readonly declineCode?: string;
  readonly failureMessage?: string;
  readonly change?: SubscriptionChange;
  /** The id of the event that announces the final outcome. */
  readonly eventId?: string;
}

/** Port: the subscriptions table, as the charge path uses it. */
export interface SubscriptionStateRepository {
  get(storeId: string, subscriptionId: string): Promise<Subscription | undefined>;
  /**
   * Applies a charge's change if the subscription is still at that charge's cycle and attempt and has not ended
   * (the fence: a repeated or late application changes nothing). @returns whether it applied.
   */
  applyChange(
    storeId: string,
    subscriptionId: string,
    at: { readonly cycle: number; readonly attempt: number },
    change: SubscriptionChange,
  ): Promise<boolean>;
}
