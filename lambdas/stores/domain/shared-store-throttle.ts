import { StoreThrottle, type StoreThrottleLimits, type ThrottleDecision } from './store-throttle';

/**
 * Each store's request limit across every API execution environment, without a write per request.
 *
 * Every environment counts the requests it admits per store in fixed windows (1 s) and, at most every
 * `syncIntervalMs` per active store, adds those counts to a record shared by all environments (one atomic ADD)
 * and learns the store's global count of every recent window from the answer. A request is admitted when
 *   1. the global counts learned + this environment's counts not yet acknowledged keep, for every window j of the
 *      last `horizonWindows`: admitted in [start of j, now] + 1 <= burstLimit + rateLimit x (now - start of j);
 *   2. the environment's own token bucket (StoreThrottle, unchanged) has a token.
 * Check 1 is a token bucket's condition, tested on the intervals that start at a window boundary only, so it never
 * refuses traffic a single (rateLimit, burstLimit) bucket would accept: a store within its limit is never refused,
 * however its requests are spread over environments. What it lets through, in any span of whole windows j..c within
 * the horizon: burstLimit + rateLimit x span, plus what other environments admitted and had not synced yet.
 *
 * That slack is bounded: an environment with `maxUnsynced` requests admitted and not yet acknowledged by the shared
 * record waits for a sync (at most `maxSyncWaitMs`) before admitting more of that store. So the documented bound:
 *   admitted in windows j..c (within the horizon) <= burstLimit + rateLimit x span + (environments - 1) x maxUnsynced
 * (the environment that decides on the newest view is exact; each other one may have admitted up to maxUnsynced on
 * an older view). It holds while syncs answer within maxSyncWaitMs; past that, requests are decided on what is known.
 * The default maxUnsynced is what the store's rate brings in one sync interval, so an environment that admits no
 * more than the store's rate never waits: only bursts (and a hot store's first requests in a new environment) do.
 *
 * Fail open: when a sync fails (throttled, timed out, DynamoDB down) the environment falls back to its own bucket
 * for that store (the behaviour before the shared limit), reports the failure, waits for no sync, and tries again
 * every `failureBackoffMs` in the background. A DynamoDB outage never turns into 429s, nor into slow requests.
 *
 * Syncs are not awaited (except as above): in Lambda, one starts as a request is admitted, before its route runs,
 * so it usually ends within that request; one still open when the environment is frozen ends when it next runs (or
 * times out and counts as a failed sync). Written by hand: rate-limiter-flexible's RateLimiterDynamo (the well-kept
 * npm option with DynamoDB) writes on every request it admits (its in-memory block spares writes only once a key is
 * over), and in-memory limiters are what StoreThrottle already is; none batches counts into a periodic ADD.
 */
export interface SharedStoreThrottleOptions {
  /** Clock (epoch ms). Environments' clocks differ by milliseconds in AWS, which moves a few requests a window. */
  readonly now?: () => number;
  /**
   * Length of a counting window. Every environment must use the same (the shared record is keyed by window number).
   * @default 1000
   */
  readonly windowMs?: number;
  /**
   * How many windows back check 1 looks: over longer spans the sustained rate stays within
   * rateLimit + burstLimit / (horizonWindows x windowMs), e.g. 120/s for the default 100/s with a burst of 200.
   * @default 10
   */
  readonly horizonWindows?: number;
  /** How often at most an environment syncs a store's counts when it is under `maxUnsynced`. @default 250 */
  readonly syncIntervalMs?: number;
  /**
   * Requests of a store an environment may admit that the shared record has not acknowledged yet: its share of
   * the slack above. @default max(1, ceil(rateLimit x syncIntervalMs / 1000))
   */
  readonly maxUnsynced?: number;
  /**
   * How long after a sync began requests may wait for it; after that they are decided on what is known.
   * @default 100
   */
  readonly maxSyncWaitMs?: number;
  /** After a failed sync: local bucket only for the store, and the next sync this much later. @default 1000 */
  readonly failureBackoffMs?: number;
  /** Stores tracked at most per environment (least recently used first out). @default 10000 */
  readonly maxStores?: number;
  /** Told of every failed sync (the caller logs it and counts a metric); the request is not affected. */
  readonly onSyncFailure?: (storeId: string, error: unknown) => void;
}

/** Window number → requests admitted in it. */
export type WindowCounts = ReadonlyMap<number, number>;

/** What one sync asks of the shared record of a store. */
export interface WindowCountsUpdate {
  /** Requests this environment admitted per window since its last sync: added atomically. */
  readonly increments: WindowCounts;
  /** Windows past the horizon the record still held at the last sync: removed, so the record stays small. */
  readonly forget: readonly number[];
  /** When the record may be deleted (epoch ms): once no environment has synced the store for a while. */
  readonly expiresAt: number;
}

/** The record shared by every environment: per store, the global count of each recent window. */
export interface StoreWindowCounters {
  /** Applies `update` atomically and answers every window count the store's record holds afterwards. */
  add(storeId: string, update: WindowCountsUpdate): Promise<WindowCounts>;
}

/** Slack for floating point: the local bucket sums refills, check 1 multiplies; neither may refuse what the other admits. */
const EPSILON = 1e-6;

/**
 * Check 1 above: admits one more request at `now` given `admitted(window)` (every request known to be admitted in
 * that window), or says how many seconds until it would be admitted if nothing else came.
 */
export function sharedDecision(
  limits: StoreThrottleLimits,
  admitted: (window: number) => number,
  now: number,
  windowMs: number,
  horizonWindows: number,
): ThrottleDecision {
  const current = Math.floor(now / windowMs);
  let sinceStart = 0;
  let waitSeconds = 0;
  for (let back = 0; back < horizonWindows; back += 1) {
    const window = current - back;
    sinceStart += admitted(window);
    const allowance = limits.burstLimit + (limits.rateLimit * (now - window * windowMs)) / 1000;
    const excess = sinceStart + 1 - allowance;
    if (excess > EPSILON) waitSeconds = Math.max(waitSeconds, excess / limits.rateLimit);
  }
  if (waitSeconds === 0) return { allowed: true };
  // Past the horizon nothing counted now is looked at any more.
  const horizonSeconds = Math.ceil((horizonWindows * windowMs) / 1000);
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.min(horizonSeconds, Math.ceil(waitSeconds))) };
}

interface StoreState {
  /** Global counts learned from the shared record (they include this environment's acknowledged ones). */
  readonly known: Map<number, number>;
  /** Admitted here, in the sync under way. */
  readonly inFlight: Map<number, number>;
  /** Admitted here, not sent yet. */
  readonly unsynced: Map<number, number>;
  /** Windows past the horizon the record held at the last sync. */
  readonly expired: Set<number>;
  syncing?: Promise<void>;
  lastSyncAt: number;
  /** False from a failed sync until one succeeds: local bucket only, no waiting. */
  healthy: boolean;
}

export class SharedStoreThrottle {
  private readonly local: StoreThrottle;
  private readonly stores = new Map<string, StoreState>();
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly horizonWindows: number;
  private readonly syncIntervalMs: number;
  private readonly maxUnsynced: number;
  private readonly maxSyncWaitMs: number;
  private readonly failureBackoffMs: number;
  private readonly maxStores: number;

  constructor(
    private readonly limits: StoreThrottleLimits,
    private readonly counters: StoreWindowCounters,
    private readonly options: SharedStoreThrottleOptions = {},
  ) {
    this.maxStores = options.maxStores ?? 10_000;
    this.local = new StoreThrottle(limits, { maxStores: this.maxStores });
    this.now = options.now ?? Date.now;
    this.windowMs = options.windowMs ?? 1000;
    this.horizonWindows = options.horizonWindows ?? 10;
    this.syncIntervalMs = options.syncIntervalMs ?? 250;
    this.maxUnsynced =
      options.maxUnsynced ?? Math.max(1, Math.ceil((limits.rateLimit * this.syncIntervalMs) / 1000));
    this.maxSyncWaitMs = options.maxSyncWaitMs ?? 100;
    this.failureBackoffMs = options.failureBackoffMs ?? 1000;
    if (!(this.windowMs > 0) || !(this.horizonWindows >= 1) || !(this.maxUnsynced >= 1)) {
      throw new Error('SharedStoreThrottle: windowMs must be > 0, horizonWindows and maxUnsynced >= 1.');
    }
  }

  /** Admits one request of `storeId` now, or says how long to wait. Never throws, whatever the shared record does. */
  async take(storeId: string): Promise<ThrottleDecision> {
    const state = this.stateOf(storeId);
    // Too much admitted here that no other environment can see yet: let the shared record catch up first, for at
    // most maxSyncWaitMs after the sync began (a sync that hangs delays the requests of its first 100 ms only).
    while (state.healthy && total(state.inFlight) + total(state.unsynced) >= this.maxUnsynced) {
      const sync = state.syncing ?? this.startSync(storeId, state, this.now());
      const remaining = state.lastSyncAt + this.maxSyncWaitMs - this.now();
      if (remaining <= 0 || !(await settlesWithin(sync, remaining))) break;
    }

    const now = this.now();
    const current = Math.floor(now / this.windowMs);
    prune(state, current - this.horizonWindows + 1);
    if (state.healthy) {
      const shared = sharedDecision(
        this.limits,
        (window) =>
          (state.known.get(window) ?? 0) +
          (state.inFlight.get(window) ?? 0) +
          (state.unsynced.get(window) ?? 0),
        now,
        this.windowMs,
        this.horizonWindows,
      );
      if (!shared.allowed) return shared;
    }
    const local = this.local.take(storeId, now);
    if (!local.allowed) return local;
    state.unsynced.set(current, (state.unsynced.get(current) ?? 0) + 1);
    const interval = state.healthy ? this.syncIntervalMs : this.failureBackoffMs;
    if (!state.syncing && now - state.lastSyncAt >= interval) void this.startSync(storeId, state, now);
    return { allowed: true };
  }

  private stateOf(storeId: string): StoreState {
    let state = this.stores.get(storeId);
    if (state) {
      // Re-inserted so the map's order is least recently used first, for the eviction below.
      this.stores.delete(storeId);
    } else {
      state = {
        known: new Map(),
        inFlight: new Map(),
        unsynced: new Map(),
        expired: new Set(),
        lastSyncAt: Number.NEGATIVE_INFINITY,
        healthy: true,
      };
    }
    this.stores.set(storeId, state);
    if (this.stores.size > this.maxStores) {
      const oldest = this.stores.keys().next().value;
      if (oldest !== undefined) this.stores.delete(oldest);
    }
    return state;
  }

  /** Sends what is unsynced; the promise never rejects (a failure is reported and the store falls back). */
  private startSync(storeId: string, state: StoreState, now: number): Promise<void> {
    for (const [window, count] of state.unsynced) {
      state.inFlight.set(window, (state.inFlight.get(window) ?? 0) + count);
    }
    const increments = new Map(state.unsynced);
    state.unsynced.clear();
    const forget = [...state.expired];
    state.expired.clear();
    state.lastSyncAt = now;
    const current = Math.floor(now / this.windowMs);
    const update: WindowCountsUpdate = {
      increments,
      forget,
      // The horizon, and a minute more so that a store that pauses briefly finds its counts.
      expiresAt: (current + this.horizonWindows + 1) * this.windowMs + 60_000,
    };
    const sync = (async () => {
      try {
        const counts = await this.counters.add(storeId, update);
        const keepFrom = Math.floor(this.now() / this.windowMs) - this.horizonWindows + 1;
        state.inFlight.clear();
        for (const [window, count] of counts) {
          if (window < keepFrom) state.expired.add(window);
          else state.known.set(window, Math.max(state.known.get(window) ?? 0, count));
        }
        state.healthy = true;
      } catch (error) {
        // Whether the ADD was applied is unknown: its counts are dropped rather than sent twice (an undercount
        // errs towards admitting, as failing open does).
        state.inFlight.clear();
        state.healthy = false;
        try {
          this.options.onSyncFailure?.(storeId, error);
        } catch {
          // Reporting must not break the request path either.
        }
      } finally {
        state.syncing = undefined;
      }
    })();
    state.syncing = sync;
    return sync;
  }
}

function total(counts: ReadonlyMap<number, number>): number {
  let sum = 0;
  for (const count of counts.values()) sum += count;
  return sum;
}

/** Drops the windows before `keepFrom` (in flight ones go when their sync ends). */
function prune(state: StoreState, keepFrom: number): void {
  for (const counts of [state.known, state.unsynced]) {
    for (const window of counts.keys()) if (window < keepFrom) counts.delete(window);
  }
}

/** Whether `promise` settles within `ms` (an infinite wait, for tests that step time themselves, never times out). */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  if (!Number.isFinite(ms)) {
    await promise;
    return true;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
