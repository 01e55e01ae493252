/**
 * Endpoint stats (docs/api.md `GET /v1/webhooks`): attempts that succeeded and failed over the last 24 h, the last
 * success, and `failingSince`, without a scan per read.
 *
 * Counts live in one counter item per endpoint and UTC hour (ADDed to, TTL'd), so a read is one Query of at most
 * 24 small items. The delivery path must not pay a write per delivery for them (the delivery write budget: the lease
 * and the success are the only writes of a healthy delivery), and an item of the attempt log cannot carry a counter
 * of another item. So each delivery execution environment tallies its attempts in memory and adds them to the hour's
 * item at most once per STATS_FLUSH_MS per endpoint and hour: one write per endpoint per 10 s per environment,
 * whatever the rate, instead of one per delivery. The price: the stats lag by up to 10 s, and an environment that
 * is shut down before its next flush loses its last seconds of counts (stats are an operator's view, not a ledger;
 * the attempt log is the record). `failingSince` is the endpoint's own failing state (WEBHOOK_DISABLE_AFTER).
 */

export const STATS_WINDOW_HOURS = 24;
/** How long a tally waits for more attempts before it is written. */
export const STATS_FLUSH_MS = 10_000;
const HOUR_MS = 3_600_000;

/** What an endpoint shows. */
export interface EndpointStats {
  /** ISO time the window starts: the start of the hour 23 hours before the current one. */
  readonly since: string;
  readonly succeeded: number;
  readonly failed: number;
  /** The last success within the window. */
  readonly lastSucceededAt?: string;
  readonly failingSince?: string;
}

/** One endpoint's counts of one UTC hour (`hour` as `YYYY-MM-DDTHH`). */
export interface HourCounts {
  readonly hour: string;
  readonly succeeded: number;
  readonly failed: number;
  readonly lastSucceededAt?: string;
}

/** Port: the hourly counters. */
export interface EndpointStatsRepository {
  /** Adds to the hour's counters (creating them), keeping the later `lastSucceededAt`. */
  add(endpointId: string, counts: HourCounts): Promise<void>;
  /** The endpoint's counters of the hours from `fromHour` on (inclusive): one bounded read. */
  hours(endpointId: string, fromHour: string): Promise<HourCounts[]>;
}

/** The UTC hour of an epoch ms time, as `YYYY-MM-DDTHH`. */
export function hourOf(time: number): string {
  return new Date(time).toISOString().slice(0, 13);
}

/** The window's first hour at `now`. */
export function windowStart(now: number): number {
  return Math.floor(now / HOUR_MS) * HOUR_MS - (STATS_WINDOW_HOURS - 1) * HOUR_MS;
}

/** The stats at `now` from the counters of the window's hours (any others are ignored). */
export function summarizeStats(
  hours: readonly HourCounts[],
  now: number,
  failingSince: string | undefined,
): EndpointStats {
  const start = windowStart(now);
  const first = hourOf(start);
  let succeeded = 0;
  let failed = 0;
  let lastSucceededAt: string | undefined;
  for (const counts of hours) {
    if (counts.hour < first) continue;
    succeeded += counts.succeeded;
    failed += counts.failed;
    if (counts.lastSucceededAt && (!lastSucceededAt || counts.lastSucceededAt > lastSucceededAt)) {
      lastSucceededAt = counts.lastSucceededAt;
    }
  }
  return {
    since: new Date(start).toISOString(),
    succeeded,
    failed,
    ...(lastSucceededAt ? { lastSucceededAt } : {}),
    ...(failingSince ? { failingSince } : {}),
  };
}

/** Reads one endpoint's stats: one Query of its window's counters. */
export async function endpointStats(
  repository: Pick<EndpointStatsRepository, 'hours'>,
  endpoint: { readonly id: string; readonly failingSince?: string },
  now: number,
): Promise<EndpointStats> {
  const hours = await repository.hours(endpoint.id, hourOf(windowStart(now)));
  return summarizeStats(hours, now, endpoint.failingSince);
}

/** Port of the delivery path: it notes each attempt made. */
export interface AttemptTally {
  note(endpointId: string, succeeded: boolean, at: number): void;
  /** Writes what has waited long enough (called at the end of each batch). */
  flushDue?(): Promise<void>;
}

interface Pending {
  endpointId: string;
  counts: HourCounts;
  /** Epoch ms of the first attempt noted since the last write. */
  since: number;
}

/**
 * One execution environment's tally, written every STATS_FLUSH_MS (a timer, and `flushDue` at the end of a batch,
 * for environments frozen between invocations). A write that fails is merged back and tried with the next one.
 */
export class BatchedEndpointStats implements AttemptTally {
  private readonly pending = new Map<string, Pending>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly now: () => number;
  private readonly flushAfterMs: number;

  constructor(
    private readonly repository: Pick<EndpointStatsRepository, 'add'>,
    private readonly options: {
      readonly now?: () => number;
      readonly flushAfterMs?: number;
      /** Told when a write fails (its counts are kept for the next). */
      readonly onError?: (error: unknown) => void;
      /** Whether to flush on a timer (the deliver function does; tests flush by hand). @default true */
      readonly timer?: boolean;
    } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.flushAfterMs = options.flushAfterMs ?? STATS_FLUSH_MS;
  }

  note(endpointId: string, succeeded: boolean, at: number): void {
    const hour = hourOf(at);
    const key = `${endpointId}#${hour}`;
    const entry = this.pending.get(key) ?? {
      endpointId,
      counts: { hour, succeeded: 0, failed: 0 },
      since: this.now(),
    };
    this.pending.set(key, { ...entry, counts: merge(entry.counts, tallyOf(hour, succeeded, at)) });
    if (this.options.timer !== false && this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushAfterMs);
      // A pending tally never keeps a process alive.
      this.timer.unref?.();
    }
  }

  /** Writes the tallies that have waited STATS_FLUSH_MS or more. */
  flushDue(): Promise<void> {
    const now = this.now();
    return this.write([...this.pending.entries()].filter(([, p]) => now - p.since >= this.flushAfterMs));
  }

  /** Writes every tally. */
  flush(): Promise<void> {
    return this.write([...this.pending.entries()]);
  }

  /** Counts not written yet (tests). */
  get pendingCount(): number {
    return this.pending.size;
  }

  private async write(entries: readonly [string, Pending][]): Promise<void> {
    for (const [key] of entries) this.pending.delete(key);
    await Promise.all(
      entries.map(async ([key, entry]) => {
        try {
          await this.repository.add(entry.endpointId, entry.counts);
        } catch (error) {
          this.options.onError?.(error);
          const now = this.pending.get(key);
          this.pending.set(key, now ? { ...entry, counts: merge(entry.counts, now.counts) } : entry);
        }
      }),
    );
  }
}

function tallyOf(hour: string, succeeded: boolean, at: number): HourCounts {
  return succeeded
    ? { hour, succeeded: 1, failed: 0, lastSucceededAt: new Date(at).toISOString() }
    : { hour, succeeded: 0, failed: 1 };
}

function merge(a: HourCounts, b: HourCounts): HourCounts {
  const last =
    a.lastSucceededAt && b.lastSucceededAt
      ? a.lastSucceededAt > b.lastSucceededAt
        ? a.lastSucceededAt
        : b.lastSucceededAt
      : (a.lastSucceededAt ?? b.lastSucceededAt);
  return {
    hour: a.hour,
    succeeded: a.succeeded + b.succeeded,
    failed: a.failed + b.failed,
    ...(last ? { lastSucceededAt: last } : {}),
  };
}
