import type { AttemptsPage, AttemptsQuery } from './attempt-log';
import type { DeliveryTrigger } from './messages';

/** The attempt log: one item per delivery attempt (docs/api.md `GET /v1/webhooks/{id}/attempts`). */
export interface DeliveryAttempt {
  readonly endpointId: string;
  readonly eventId: string;
  /** Set on attempts made by a replay (refeed): they are a new delivery of the same event. */
  readonly replayId?: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly status: 'succeeded' | 'failed';
  /** What asked for the delivery. Absent on attempts recorded before it was kept: read as 'scheduled' or 'replay'. */
  readonly trigger?: DeliveryTrigger;
  readonly responseStatus?: number;
  /** The start of the receiver's answer as safe text (attempt-log.ts `responseBodyToKeep`). */
  readonly responseBody?: string;
  readonly durationMs: number;
  /** Why it failed, for people: `timeout`, `connection refused`, `HTTP 500`, `redirect not followed`, ... */
  readonly error?: string;
  /** ISO time the attempt started. */
  readonly at: string;
}

/** One delivery: what every copy of its queue messages and every one of its attempts share. */
export interface DeliveryRef {
  readonly endpointId: string;
  readonly eventId: string;
  readonly replayId?: string;
}

/** Just the delivery's identity, out of a message or an attempt (for keys and logs). */
export function deliveryRef(of: DeliveryRef): DeliveryRef {
  return {
    endpointId: of.endpointId,
    eventId: of.eventId,
    ...(of.replayId !== undefined ? { replayId: of.replayId } : {}),
  };
}

/**
 * The right to make the next attempt of a delivery, taken before the POST (docs/webhooks-design.md, "sent once").
 * A holder is a processing of one message copy; it ends its lease by recording a success (which replaces it) or by
 * releasing it after a failure.
 */
export interface SendingLease {
  /** Unique to one processing of one message copy. */
  readonly holder: string;
  /**
   * Epoch ms after which the holder is certainly gone (its invocation has ended) and had time to hand over a
   * record it could not write: only then may another copy take the lease over.
   */
  readonly until: number;
  readonly attempt: number;
  /** ISO time the lease was taken. */
  readonly at: string;
}

export type ClaimResult =
  /** The lease is ours: send. `tookOver` when it was a lease whose holder is gone (and may have sent). */
  | { readonly kind: 'claimed'; readonly tookOver: boolean }
  /** The delivery succeeded already: a copy must not send it again. */
  | { readonly kind: 'succeeded' }
  /** Another copy holds the lease until `until` (epoch ms). */
  | { readonly kind: 'held'; readonly until: number; readonly holder: string };

/** Port: the attempts table. */
export interface AttemptsRepository {
  /**
   * Takes the delivery's sending lease, in one conditional write: when nobody holds it, or its holder's lease ended
   * at `now` or before; never over a success.
   */
  claim(delivery: DeliveryRef, lease: SendingLease, now: number): Promise<ClaimResult>;
  /**
   * Records an attempt. A success replaces the delivery's lease, whoever holds it; a success already on record
   * stays (the first wins).
   */
  record(attempt: DeliveryAttempt): Promise<void>;
  /** Ends the lease after a failed attempt, so that its retry (or a copy) can take it; no-op unless `holder` has it. */
  release(delivery: DeliveryRef, holder: string): Promise<void>;
  /** Whether the delivery succeeded: strongly consistent. */
  hasSucceeded(endpointId: string, eventId: string, replayId?: string): Promise<boolean>;
  /**
   * The events from `firstEventId` to `lastEventId` (inclusive, by id) with a delivery to the endpoint that succeeded,
   * whatever asked for it (fan-out, replay, recover, resend): what a recover leaves out. One key range of the
   * endpoint's attempts, not a scan; strongly consistent.
   */
  succeededEventIds(
    endpointId: string,
    firstEventId: string,
    lastEventId: string,
  ): Promise<ReadonlySet<string>>;
  /**
   * A page of the attempt log in `attemptPosition` order, newest first (attempt-log.ts). Leases are not attempts:
   * never listed. A page reads a bounded number of items, so it may hold fewer than `limit` attempts with a `next`.
   */
  list(endpointId: string, query: AttemptsQuery): Promise<AttemptsPage>;
}
