import {
  SharedStoreThrottle,
  type StoreWindowCounters,
  sharedDecision,
  type WindowCounts,
  type WindowCountsUpdate,
} from '../../stores/domain/shared-store-throttle';

/**
 * The payment gateway's request limit, shared by every execution environment that asks it (the charge function's,
 * and the run function's reconciliation), so that a run charges as fast as the gateway allows and never faster
 * (docs/rate-limiter.md, "The gateway limit"). Where the API *refuses* a store over its limit, the gateway path
 * *waits for its turn*: a charge is never failed for want of one.
 *
 * It is the API's shared limiter (stores/domain/shared-store-throttle.ts) by composition, under one key for the
 * gateway: each environment counts the requests it lets through in short windows and adds them to one shared record
 * (an ADD whose answer carries every environment's counts). It is set up to pace exactly, not to absorb bursts:
 * - rate `pacedRate(limit)`: PAYMENT_GATEWAY_RATE_LIMIT less a headroom of 5% (at least one request a second);
 * - burst 1: after a pause, one request may go at once, then one every 1/rate seconds;
 * - windows of 50 ms over a horizon of 2 s, so that the shared check (tested on intervals that start at a window
 *   boundary) is within 50 ms' worth of a true token bucket's, and the sustained rate within rate + 1/2 s;
 * - confirmed turns: an environment syncs every request it lets through at once (one UpdateItem), and sends it only
 *   once the record's answer, which counts every request ADDed before it, shows it within the allowance; a request
 *   the answer shows over it waits until the allowance reaches its place in the record's order (DynamoDB applies
 *   the ADDs one at a time: the order is one for every environment, and later requests see it counted). No
 *   environment has more than one request on the way to the record. That costs one write per gateway request
 *   (the API limiter makes one per 250 ms): the gateway's limit is small (about 100/s at Stripe), and exceeded by
 *   a single request, not by a few hundred.
 *
 * The bound. Every environment together send, in any span of whole windows within the horizon, at most
 * `1 + rate × span` (the shared check's condition, held for the sum of all environments by the confirmation),
 * so in any second, sliding, at most `1 + rate × 1.05` (a window's worth of slack), which is below `limit + 1` at
 * every limit: 20 at 20/s (rate 19), 80 at 80/s (rate 76). A request the record put behind another is counted in
 * the window it was let through and sent a little later, so intervals that start in between miss it: at most one
 * more per other environment waiting so, and only then (the bench's 20/s run, 3 environments, against a gateway
 * that refuses the 21st request of any second: 0 to 2 such 429s in 25 s of steady state). It holds while the record answers
 * within a second (past that, a request goes on what its environment knows) and while environments' clocks agree
 * to a few milliseconds (in AWS they do); the gateway sees a request some milliseconds after it was let through.
 * That is what the headroom is for.
 *
 * When the shared record cannot be reached (a sync fails), each environment falls back to its own bucket at the
 * same rate, unconfirmed (the shared limiter fails open): the gateway may then see up to E × rate from E
 * environments, answers 429, and each 429 holds its environment's asks back (`holdOff`). Nothing is failed either
 * way: a request that finds no turn within `maxWaitMs` is not sent, and its caller tries later (a charge goes back
 * to the queue, with its retries intact).
 */

/** 50 ms windows over a horizon of 2 s: over longer spans, at most rate + 1/2 s (the burst of 1 per horizon). */
const WINDOW_MS = 50;
const HORIZON_WINDOWS = 40;
const LIMITS_BURST = 1;

/** The shared record's key: one for the whole gateway (its limit is per account, across every endpoint). */
export const GATEWAY_LIMIT_KEY = 'payment-gateway';

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
   * since the shared counts evidently miss something (another client of the account, or a lower limit).
   */
  holdOff(ms: number): void;
}

export interface GatewayPacerOptions {
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** In [0, 1). @default Math.random */
  readonly random?: () => number;
  /**
   * How long a request may wait for its turn before it is given up (not sent). The charge function's timeout has
   * 15 s beyond its gateway requests (lib/features/billing.ts); the wait takes part of it.
   * @default 5000
   */
  readonly maxWaitMs?: number;
  /**
   * How long a request may wait for the shared record's answer confirming its turn; past it, it goes on what this
   * environment knows. @default 1000
   */
  readonly maxSyncWaitMs?: number;
  /** Told of each failed sync of the shared record (the caller logs it and counts a metric). */
  readonly onSyncFailure?: (error: unknown) => void;
}

export class GatewayPacer implements GatewayPace {
  /** Requests per second let through, across environments. */
  readonly rate: number;
  /** Turns the shared record's answer put later (another environment's request came first in its order). */
  deferred = 0;
  private readonly throttle: SharedStoreThrottle;
  private readonly counters: ConfirmingCounters;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly maxWaitMs: number;
  private readonly maxSyncWaitMs: number;
  /** The last request in line: each waits for the one before it, so turns go in order of asking. */
  private line: Promise<void> = Promise.resolve();
  private heldUntil = 0;
  /** When this environment last had a turn: its own bucket (burst 1) has its next token 1/rate later. */
  private lastTurnAt = Number.NEGATIVE_INFINITY;

  constructor(limit: number, counters: StoreWindowCounters, options: GatewayPacerOptions = {}) {
    this.rate = pacedRate(limit);
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref?.()));
    this.random = options.random ?? Math.random;
    this.maxWaitMs = options.maxWaitMs ?? 5000;
    this.maxSyncWaitMs = options.maxSyncWaitMs ?? 1000;
    this.counters = new ConfirmingCounters(counters);
    this.throttle = new SharedStoreThrottle(
      { rateLimit: this.rate, burstLimit: LIMITS_BURST },
      this.counters,
      {
        now: this.now,
        windowMs: WINDOW_MS,
        horizonWindows: HORIZON_WINDOWS,
        // Every request it lets through is synced at once, and one at a time.
        syncIntervalMs: 0,
        maxUnsynced: 1,
        maxSyncWaitMs: this.maxSyncWaitMs,
        onSyncFailure: (_key, error) => options.onSyncFailure?.(error),
      },
    );
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
        const syncBefore = this.counters.last;
        const decision = await this.throttle.take(GATEWAY_LIMIT_KEY);
        const interval = 1000 / this.rate;
        if (decision.allowed) {
          const at = this.now();
          this.lastTurnAt = at;
          // The sync of this very request (none while the record is failing: the limiter fails open).
          const sync = this.counters.last !== syncBefore ? this.counters.last : undefined;
          const due = sync ? await this.dueTime(sync, at, deadline) : at;
          if (due === undefined) return { granted: false, retryAfterMs: 1000 };
          if (due > this.now()) {
            // Others' requests came first in the record's order: this one goes when the allowance reaches it.
            this.deferred += 1;
            await this.sleep(due - this.now());
          }
          return { granted: true, waitedMs: this.now() - start };
        }
        // Asked again when this environment's own token is due (a later look would waste the bucket's time: it
        // holds one token), or, when the others took the shared allowance, about half a token's time later,
        // jittered so that environments waiting together do not look in step. (The shared limiter's Retry-After is
        // in whole seconds, too coarse to pace.)
        const step = Math.max(
          this.lastTurnAt + interval - this.now(),
          interval * (0.25 + 0.5 * this.random()),
        );
        if (this.now() + step > deadline) {
          const retryAfterSeconds = decision.allowed ? 1 : decision.retryAfterSeconds;
          return { granted: false, retryAfterMs: Math.max(1000, retryAfterSeconds * 1000) };
        }
        await this.sleep(step);
      }
    } catch {
      // The shared limiter never throws; a broken clock or sleep must not fail a charge either: it goes later.
      return { granted: false, retryAfterMs: 1000 };
    } finally {
      leave();
    }
  }

  holdOff(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.heldUntil = Math.max(this.heldUntil, this.now() + ms);
  }

  /**
   * When this request may go: at once if the record, counting every request ADDed before it and this one, keeps it
   * within the allowance at `at`; otherwise when the allowance reaches its place in that order (later requests
   * see it counted, and wait behind it). Undefined: not before `deadline` (it is not sent; it stays counted, which
   * errs on the slow side). A failed or late answer lets it go at once (fail open, as the shared limiter does).
   */
  private async dueTime(
    sync: Promise<SyncAnswer | undefined>,
    at: number,
    deadline: number,
  ): Promise<number | undefined> {
    const answer = await Promise.race([sync, this.sleep(this.maxSyncWaitMs).then(() => undefined)]);
    if (!answer) return at;
    // The record's counts without this request: it is the one more the check asks about.
    const before = (window: number) =>
      (answer.counts.get(window) ?? 0) - (answer.increments.get(window) ?? 0);
    const limits = { rateLimit: this.rate, burstLimit: LIMITS_BURST };
    const step = 1000 / this.rate / 8;
    for (let due = Math.max(at, this.now()); due <= deadline; due += step) {
      if (sharedDecision(limits, before, due, WINDOW_MS, HORIZON_WINDOWS).allowed) return due;
    }
    return undefined;
  }
}

/** What one sync added and what the record held right after it. */
interface SyncAnswer {
  readonly increments: WindowCounts;
  readonly counts: WindowCounts;
}

/** The shared record, with the answer of its last sync kept: how a turn is confirmed. */
class ConfirmingCounters implements StoreWindowCounters {
  last?: Promise<SyncAnswer | undefined>;

  constructor(private readonly inner: StoreWindowCounters) {}

  add(key: string, update: WindowCountsUpdate): Promise<WindowCounts> {
    const added = this.inner.add(key, update);
    this.last = added.then(
      (counts) => ({ counts, increments: update.increments }),
      () => undefined,
    );
    return added;
  }
}
