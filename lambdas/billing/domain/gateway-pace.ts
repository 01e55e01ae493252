/**
 * The payment gateway's request limit, shared by every execution environment that asks it (the charge function's,
 * and the run function's reconciliation), so that a run charges as fast as the gateway allows and never faster
 * (docs/rate-limiter.md, "The gateway limit"). Where the API *refuses* a store over its limit, the gateway path
 * *waits for its turn*: a charge is never failed for want of one.
 *
 * It is the generic cell rate algorithm (GCRA) on one shared schedule: a single value `nextAt`, the earliest time
 * (epoch ms) the next request may be sent, across every environment. A request reserves its send time with one
 * conditional write to it (`GatewaySchedule.reserve`, in DynamoDB one UpdateItem): when `nextAt` is now or later,
 * its send time is `nextAt`, and `nextAt` moves on by `interval`; when it is in the past (or unset), its send time
 * is now, and `nextAt` becomes now + `interval`. The environment then sleeps until its send time. The requests are
 * not counted in windows: they are given times, in the one order in which the shared item took the writes.
 * - `interval` = 1000 / `pacedRate(limit)`: PAYMENT_GATEWAY_RATE_LIMIT less a headroom of 5% (at least one request
 *   a second): 52.6 ms at 20/s (19/s), 13.2 ms at 80/s (76/s).
 * - A request whose send time would be later than its wait budget (`maxWaitMs`, counted from its ask) reserves
 *   nothing (the write's condition refuses it) and is not sent: `granted: false`, to ask again once the schedule
 *   reaches it. A slot reserved but not used passes unused (nothing gives it back; that errs on the slow side): one
 *   whose answer came back more than a quarter of the headroom ((limit - rate) / 4 intervals, 13 ms) after its send
 *   time, or after `maxSyncWaitMs` (a failure, below). The request then asks again, for a later slot. To be answered
 *   before its time, an environment asks for a time twice the schedule's usual answer time ahead (`:now` + 2 × the
 *   smoothed answer time: 10 to 20 ms in AWS), so that its requests go on a timer, at their reserved times.
 *
 * The bound. Any two reserved send times are at least `interval` apart (each write moves `nextAt` to at least the
 * send time it gives plus `interval`, and the next send time is at least `nextAt`), so in any sliding second there
 * are at most ceil(1000 / interval) = ceil(rate) reservations counting one end of it, floor(rate) + 1 counting both:
 * 19 / 20 at 20/s, 76 / 77 at 80/s, within the limit at every limit, in any span of time, from the first request on,
 * however many environments. It holds to within the
 * environments' clock skew (milliseconds in AWS) and the spread of the time between a send time and its arrival at
 * the gateway (a slot used late, at most a quarter of the headroom; a timer's lateness; the network): moving one
 * request by up to `limit - rate` intervals (1 at 20/s: 52 ms) is within the limit. That is what the headroom is for.
 *
 * One write per gateway request (the API limiter makes one per 250 ms): the gateway's limit is small (about 100/s at
 * Stripe), and exceeded by a single request. One environment has at most one reservation on the way at a time (its
 * requests ask in order, each after the one before it has its time).
 *
 * When the shared schedule cannot be reached (a write fails or does not answer within `maxSyncWaitMs`), the
 * environment counts it (`onSyncFailure`) and paces alone, on its own schedule at the same rate, for a second
 * (jittered), then tries the shared one again: the gateway may then see up to E × rate from E environments, answers
 * 429, and each 429 holds its environment's asks back (`holdOff`). Nothing is failed either way: a request that finds
 * no turn within `maxWaitMs` is not sent, and its caller tries later (a charge goes back to the queue, with its
 * retries intact).
 */

/** The shared schedule's key: one for the whole gateway (its limit is per account, across every endpoint). */
export const GATEWAY_LIMIT_KEY = 'payment-gateway';

/** How long an environment paces alone after a failed write to the shared schedule, before it tries it again. */
const SHARED_RETRY_MS = 1000;

/** The rate requests are let through at: `limit` less a headroom of 5%, at least 1/s (and at least half the limit). */
export function pacedRate(limit: number): number {
  if (!(limit > 0)) throw new Error(`The gateway rate limit must be greater than 0 (got ${limit}).`);
  return Math.max(limit / 2, limit - Math.max(1, limit * 0.05));
}

/** The outcome of waiting for a turn at the gateway. */
export type GatewayTurn =
  | { readonly granted: true; readonly waitedMs: number }
  /** No turn within the wait budget: the request is not sent; ask again after `retryAfterMs` at the earliest. */
  | { readonly granted: false; readonly retryAfterMs: number };

/** Port: what an adapter asks before each gateway request. */
export interface GatewayPace {
  /** Waits for this request's turn (in order of asking, within this environment). Never throws. */
  turn(): Promise<GatewayTurn>;
  /**
   * The gateway answered 429: this environment's requests wait `ms` more (Retry-After, or the caller's backoff),
   * since the shared schedule evidently misses something (another client of the account, or a lower limit).
   */
  holdOff(ms: number): void;
}

/**
 * Port: the shared schedule (adapters/dynamo-gateway-schedule.ts), one value `nextAt` for every environment, changed
 * by one atomic conditional write at a time.
 */
export interface GatewaySchedule {
  /**
   * Reserves the next send time: `max(now, nextAt)`, and moves `nextAt` to it plus `intervalMs`, if that send time
   * is no later than `latest`. @returns the send time; one later than `latest` says nothing was reserved (it is when
   * the schedule's next slot is). Throws when the schedule cannot be reached.
   */
  reserve(now: number, intervalMs: number, latest: number): Promise<number>;
}

export interface GatewayPacerOptions {
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): jitters the retry of the shared schedule after a failure. @default Math.random */
  readonly random?: () => number;
  /**
   * How long a request may wait for its turn before it is given up (not sent). The charge function's timeout has
   * 15 s beyond its gateway requests (lib/features/billing.ts); the wait takes part of it.
   * @default 5000
   */
  readonly maxWaitMs?: number;
  /**
   * How long a request may wait for the shared schedule's answer; past it, the write counts as failed (a slot it may
   * have reserved passes unused) and the request goes on this environment's own schedule. @default 1000
   */
  readonly maxSyncWaitMs?: number;
  /** Told of each failed write to the shared schedule (the caller logs it and counts a metric). */
  readonly onSyncFailure?: (error: unknown) => void;
}

export class GatewayPacer implements GatewayPace {
  /** Requests per second let through, across environments. */
  readonly rate: number;
  /** ms between two reserved send times: 1000 / rate. */
  readonly intervalMs: number;
  /** Turns the shared schedule put later than their ask (another request had the slot before). */
  deferred = 0;
  /** Slots given up because the shared schedule's answer came back too late to use them. */
  late = 0;
  private readonly schedule: GatewaySchedule;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly maxWaitMs: number;
  private readonly maxSyncWaitMs: number;
  private readonly onSyncFailure?: (error: unknown) => void;
  /**
   * How late after its send time a request may still go: a quarter of the headroom, (limit - rate) / 4 intervals
   * (13 ms at 20/s and 80/s), the rest left to the way from here to the gateway.
   */
  private readonly lateToleranceMs: number;
  /** The last request in line: each waits for the one before it, so turns go in order of asking. */
  private line: Promise<void> = Promise.resolve();
  private heldUntil = 0;
  /** This environment's own schedule (GCRA alone), used while the shared one is failing. */
  private ownNextAt = Number.NEGATIVE_INFINITY;
  /** While the shared schedule is failing: when to try it again. */
  private sharedRetryAt = Number.NEGATIVE_INFINITY;
  /** The shared schedule's answer time, smoothed: when it is long, turns are asked for that far ahead. */
  private writeLatencyMs = 0;

  constructor(limit: number, schedule: GatewaySchedule, options: GatewayPacerOptions = {}) {
    this.rate = pacedRate(limit);
    this.intervalMs = 1000 / this.rate;
    this.lateToleranceMs = ((limit - this.rate) * this.intervalMs) / 4;
    this.schedule = schedule;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref?.()));
    this.random = options.random ?? Math.random;
    this.maxWaitMs = options.maxWaitMs ?? 5000;
    this.maxSyncWaitMs = options.maxSyncWaitMs ?? 1000;
    this.onSyncFailure = options.onSyncFailure;
  }

  async turn(): Promise<GatewayTurn> {
    const start = this.now();
    const deadline = start + this.maxWaitMs;
    const before = this.line;
    let leave = () => {};
    this.line = new Promise((resolve) => {
      leave = resolve;
    });
    try {
      await before;
      for (;;) {
        const now = this.now();
        if (this.heldUntil > now) {
          if (this.heldUntil > deadline) return { granted: false, retryAfterMs: this.heldUntil - now };
          await this.sleep(this.heldUntil - now);
          continue;
        }
        if (now > deadline) return { granted: false, retryAfterMs: 1000 };
        const sendAt = await this.reserve(now, deadline);
        if (sendAt === undefined) {
          this.late += 1;
          continue;
        }
        if (sendAt > deadline) {
          // Nothing reserved: the schedule is further ahead than this request may wait.
          return { granted: false, retryAfterMs: Math.max(1000, sendAt - this.now()) };
        }
        const wait = sendAt - this.now();
        if (wait > 0) {
          if (sendAt > now) this.deferred += 1;
          await this.sleep(wait);
        }
        return { granted: true, waitedMs: this.now() - start };
      }
    } catch {
      // A broken clock or sleep must not fail a charge: it goes later.
      return { granted: false, retryAfterMs: 1000 };
    } finally {
      leave();
    }
  }

  holdOff(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.heldUntil = Math.max(this.heldUntil, this.now() + ms);
  }

  /**
   * This request's send time, on the shared schedule, or on this environment's own while the shared one is failing.
   * A send time later than `latest` reserved nothing. Undefined: the shared schedule's answer came back more than
   * the headroom after the send time it gave (a slow write), so the slot is not used (it passes), and the request
   * asks again: sent that late, it could come closer to the next than the bound allows.
   */
  private async reserve(now: number, latest: number): Promise<number | undefined> {
    if (now >= this.sharedRetryAt) {
      try {
        // Asked for a time twice the schedule's usual answer time ahead, so that the answer comes before the time it
        // gives and the request goes on a timer, on time: else an idle schedule's "now" is late by the answer time.
        const lead = 2 * this.writeLatencyMs;
        if (now + lead > latest) return now + lead;
        const sendAt = await Promise.race([
          this.schedule.reserve(now + lead, this.intervalMs, latest),
          this.sleep(this.maxSyncWaitMs).then(() => undefined),
        ]);
        if (sendAt === undefined) throw new Error('the shared gateway schedule did not answer in time');
        const answeredAt = this.now();
        this.writeLatencyMs = 0.7 * this.writeLatencyMs + 0.3 * (answeredAt - now);
        this.sharedRetryAt = Number.NEGATIVE_INFINITY;
        if (sendAt > latest) return sendAt;
        this.ownNextAt = Math.max(this.ownNextAt, sendAt + this.intervalMs);
        return answeredAt - sendAt > this.lateToleranceMs ? undefined : sendAt;
      } catch (error) {
        this.onSyncFailure?.(error);
        this.sharedRetryAt = this.now() + SHARED_RETRY_MS * (0.5 + this.random());
      }
    }
    // Alone: the same algorithm on this environment's own schedule.
    const sendAt = Math.max(this.now(), this.ownNextAt);
    if (sendAt > latest) return sendAt;
    this.ownNextAt = sendAt + this.intervalMs;
    return sendAt;
  }
}
