/**
 * The runs of the last days (`GET /v1/admin/subscription-runs?days=`, `/v1/admin/reconciliations?days=`,
 * `/v1/datafeeds/subscriptions?days=`): runs are named by their UTC date, so the last `days` dates name every run
 * that can exist in them, read by key (no scan, no index).
 */

export const DEFAULT_HISTORY_DAYS = 30;
/** A year, leap day included. */
export const MAX_HISTORY_DAYS = 366;

const DAY_MS = 86_400_000;

/** The run ids (UTC dates, YYYY-MM-DD) of the last `days` days, today's first. */
export function lastRunIds(now: number, days: number): string[] {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  return Array.from({ length: days }, (_, back) =>
    new Date(today - back * DAY_MS).toISOString().slice(0, 10),
  );
}

/** Newest first, by run id (a date: its text sorts as the date). */
export function newestRunFirst<T>(runIdOf: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => runIdOf(b).localeCompare(runIdOf(a));
}
