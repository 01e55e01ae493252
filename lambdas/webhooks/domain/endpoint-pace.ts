/**
 * The per-endpoint delivery limit (docs/api.md sections 3 and 4, docs/rate-limiter.md "The endpoint limit"): an
 * endpoint with `rateLimit` never receives more than that many deliveries a second, whatever the backlog, across
 * every delivery environment; endpoints without one pay nothing for it.
 *
 * It is the gateway limit's algorithm (billing/domain/gateway-pace.ts), GCRA on one shared value per endpoint:
 * `nextAt`, the earliest time the endpoint's next delivery may be sent. A delivery reserves its send time with one
 * conditional write (`EndpointSchedule.reserve`): `max(now, nextAt)`, and `nextAt` moves on by `interval`. Unlike
 * the gateway path, a delivery does not wait in the function for a far turn: its reservation goes with its message
 * (`rateSlot`), which is sent back to the queue to come back just before that time (`SLOT_LEAD_MS` early, SQS delays
 * being whole seconds), and the consumer then sleeps the rest (at most `MAX_SLEEP_MS`) and sends. So a backlog waits
 * in the queue, in the order its reservations were taken, costing one write per delivery (plus one per slot missed),
 * and no consumer waits long; the other messages of a batch run concurrently and are not slowed.
 *
 * - `interval` = 1000 / (0.95 × rateLimit): a headroom of 5% (210.5 ms at 5/s).
 * - A slot is used only up to `LATE_TOLERANCE_MS` after its time (checked right before the POST); one missed (the
 *   message came back late, the lease write or a timer was slow) is given up (nothing gives it back: that errs on
 *   the slow side) and the delivery reserves again, at the back of the line.
 * - The bound: reserved times are at least `interval` apart, and each send is within [slot, slot + 50 ms), so any
 *   rateLimit + 1 sends span at least rateLimit × interval − 50 ms = 1052.6 − 50 > 1000 ms: at most `rateLimit` in
 *   any second (sliding, half-open) at the sender, at most rateLimit + 1 counting both ends, to within the
 *   environments' clock skew and the network's spread.
 * - Waiting for the limit is not a failure: the message keeps its attempt number (the retry schedule is not spent),
 *   no failure is recorded, and nothing is logged above debug.
 * - A rateLimit lowered by PATCH: a carried slot reserved under a higher limit is not used (the delivery reserves
 *   again); raised: carried slots stay valid (they are further apart than needed).
 * - When the schedule cannot be reached (a write fails or does not answer within `maxSyncWaitMs`), nothing is sent:
 *   the delivery goes back to the queue for a second or two ("fail closed": the limit protects the merchant's
 *   server), the caller counts it.
 */

/** The share of `rateLimit` deliveries are paced at: the rest is headroom for a slot used late. */
const PACED_SHARE = 0.95;
/** How late after its reserved time a delivery may still be sent (< 1000 × (1 / 0.95 − 1) = 52.6 ms). */
export const LATE_TOLERANCE_MS = 50;
/** A send time at most this far ahead is waited for in the function; a later one goes back to the queue. */
export const MAX_SLEEP_MS = 2_000;
/** How long before its slot a message waiting in the queue is due: SQS delays are whole seconds, and polls lag. */
export const SLOT_LEAD_MS = 1_500;
/** How many reservations one delivery makes at most in one go (each is a fresh slot after a missed one). */
const MAX_RESERVATIONS = 3;

/** The interval between two reserved send times of an endpoint limited to `rateLimit` deliveries a second. */
export function slotIntervalMs(rateLimit: number): number {
  if (!(rateLimit > 0))
    throw new Error(`An endpoint's rate limit must be greater than 0 (got ${rateLimit}).`);
  return 1000 / (rateLimit * PACED_SHARE);
}

/** A reserved send time, carried by the delivery's message; `limit` is the rateLimit it was reserved under. */
export interface RateSlot {
  readonly at: number;
  readonly limit: number;
}

/** Port: the shared schedule of each limited endpoint (adapters/dynamo-endpoint-schedule.ts). */
export interface EndpointSchedule {
  /**
   * Reserves the endpoint's next send time: `max(now, nextAt)`, and moves `nextAt` to it plus `intervalMs`, in one
   * atomic step across every environment. Throws when the schedule cannot be reached.
   */
  reserve(endpointId: string, now: number, intervalMs: number): Promise<number>;
}

export type PaceDecision =
  /** Send at `sendAt` (now, or within MAX_SLEEP_MS: sleep until then). */
  | { readonly kind: 'send'; readonly sendAt: number; readonly slot: RateSlot }
  /** Go back to the queue carrying `slot`, due SLOT_LEAD_MS before it. */
  | { readonly kind: 'wait'; readonly slot: RateSlot }
  /** The schedule could not be reached: try again shortly, nothing reserved. */
  | { readonly kind: 'unavailable'; readonly error: unknown };

export interface EndpointPaceOptions {
  /** @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default 1000 */
  readonly maxSyncWaitMs?: number;
}

/** One per execution environment: it keeps the schedule's smoothed answer time. */
export class EndpointPace {
  /** Slots given up because the schedule's answer came back too late to use them. */
  missed = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxSyncWaitMs: number;
  private writeLatencyMs = 0;

  constructor(
    private readonly schedule: EndpointSchedule,
    options: EndpointPaceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref?.()));
    this.maxSyncWaitMs = options.maxSyncWaitMs ?? 1000;
  }

  /** When a delivery to an endpoint limited to `rateLimit` may be sent, given the slot its message carries. */
  async decide(endpointId: string, rateLimit: number, carried: RateSlot | undefined): Promise<PaceDecision> {
    const now = this.now();
    if (carried !== undefined && carried.limit <= rateLimit && now <= carried.at + LATE_TOLERANCE_MS) {
      return carried.at - now <= MAX_SLEEP_MS
        ? { kind: 'send', sendAt: carried.at, slot: carried }
        : { kind: 'wait', slot: carried };
    }
    if (carried !== undefined) this.missed += 1;
    const interval = slotIntervalMs(rateLimit);
    for (let reservation = 0; reservation < MAX_RESERVATIONS; reservation += 1) {
      const asked = this.now();
      // Asked for a time twice the usual answer time ahead, so that an idle schedule's slot is not already past
      // when its answer arrives.
      const lead = 2 * this.writeLatencyMs;
      let sendAt: number | undefined;
      try {
        sendAt = await Promise.race([
          this.schedule.reserve(endpointId, asked + lead, interval),
          this.sleep(this.maxSyncWaitMs).then(() => undefined),
        ]);
      } catch (error) {
        return { kind: 'unavailable', error };
      }
      if (sendAt === undefined) {
        return { kind: 'unavailable', error: new Error('the endpoint schedule did not answer in time') };
      }
      const answeredAt = this.now();
      this.writeLatencyMs = 0.7 * this.writeLatencyMs + 0.3 * (answeredAt - asked);
      const slot = { at: sendAt, limit: rateLimit };
      if (answeredAt > sendAt + LATE_TOLERANCE_MS) {
        this.missed += 1;
        continue;
      }
      return sendAt - answeredAt <= MAX_SLEEP_MS ? { kind: 'send', sendAt, slot } : { kind: 'wait', slot };
    }
    return { kind: 'unavailable', error: new Error(`no usable slot after ${MAX_RESERVATIONS} reservations`) };
  }
}
