import type { NotifiableEventType } from './notification-message';

/**
 * Port: the sent-once records of notifications, one per event id. A sender claims a notification before sending
 * (a conditional write holding a lease), and records how it ended: `sent`, or `rejected` when the mail server
 * refused it for good. A failed send records nothing: its lease runs out and a later receive of the message takes
 * the notification over.
 */

export type NotificationRecord =
  /** A sender holds it until `leaseUntil` (epoch ms); after that anyone may take it over. */
  | { readonly status: 'sending'; readonly leaseUntil: number }
  | { readonly status: 'sent'; readonly sentAt: string }
  | { readonly status: 'rejected'; readonly rejectedAt: string; readonly reason: string };

export interface NotificationClaim {
  readonly eventId: string;
  readonly storeId: string;
  readonly type: NotifiableEventType;
  /** Epoch ms: a lease that ended at or before this is taken over. */
  readonly now: number;
  /** Epoch ms: the end of the lease this claim takes. */
  readonly leaseUntil: number;
  /** Epoch seconds, for the table's TTL: when the record may disappear. */
  readonly expiresAt: number;
}

export type ClaimResult =
  /** `tookOver`: the record was a lease that had run out (a sender that failed, or died, before it). */
  | { readonly claimed: true; readonly tookOver: boolean }
  /** Nothing was written; `current` is what stood in the way: a live lease, or an outcome. */
  | { readonly claimed: false; readonly current: NotificationRecord };

export type NotificationOutcome =
  | { readonly status: 'sent'; readonly at: string; readonly messageId: string }
  | { readonly status: 'rejected'; readonly at: string; readonly reason: string };

export interface NotificationLog {
  /**
   * Creates the record as `sending` until `leaseUntil`, or takes over a `sending` record whose lease has ended;
   * otherwise writes nothing and answers with the record. One conditional write.
   */
  claim(claim: NotificationClaim): Promise<ClaimResult>;
  /**
   * Records the outcome unless an outcome is recorded already (the first one stays).
   * @returns whether this call recorded it.
   */
  finish(eventId: string, outcome: NotificationOutcome, expiresAt: number): Promise<boolean>;
}
