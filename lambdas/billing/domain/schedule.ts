/**
 * Billing dates. Every charge time is computed from the subscription's anchor (its first charge) and the cycle
 * number, never from the previous charge, so months do not drift: an anchor on Jan 31 bills Feb 28 (or 29), then
 * Mar 31, as Stripe's billing anchor does.
 */

export const INTERVALS = ['day', 'week', 'month', 'year'] as const;
export type Interval = (typeof INTERVALS)[number];

/** The largest `intervalCount` per interval: at most three years between charges, as Stripe allows. */
export const MAX_INTERVAL_COUNT: Readonly<Record<Interval, number>> = {
  day: 1095,
  week: 156,
  month: 36,
  year: 3,
};

/** The time (ISO) of charge number `cycle` (0 = the first) of a subscription anchored at `anchor`. */
export function chargeTimeAt(
  anchor: string,
  interval: Interval,
  intervalCount: number,
  cycle: number,
): string {
  const start = new Date(anchor);
  const steps = intervalCount * cycle;
  if (interval === 'day' || interval === 'week') {
    const days = interval === 'day' ? steps : steps * 7;
    return new Date(start.getTime() + days * 86_400_000).toISOString();
  }
  const months = interval === 'month' ? steps : steps * 12;
  const year = start.getUTCFullYear();
  const month = start.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(start.getUTCDate(), lastDay);
  return new Date(
    Date.UTC(
      year,
      month,
      day,
      start.getUTCHours(),
      start.getUTCMinutes(),
      start.getUTCSeconds(),
      start.getUTCMilliseconds(),
    ),
  ).toISOString();
}

/**
 * The first cycle after `cycle` whose charge time is later than `after` (ISO). Periods missed while a subscription
 * was in dunning are skipped, not charged in a burst once the card works again.
 */
export function nextCycleAfter(
  anchor: string,
  interval: Interval,
  intervalCount: number,
  cycle: number,
  after: string,
): number {
  const limit = Date.parse(after);
  let next = cycle + 1;
  // Jump close first (a daily subscription after a long outage), then step: no loop runs for years of days.
  const periodMs = approximatePeriodMs(interval, intervalCount);
  const elapsed = limit - Date.parse(chargeTimeAt(anchor, interval, intervalCount, next));
  if (elapsed > periodMs) next += Math.floor(elapsed / periodMs) - 1;
  while (Date.parse(chargeTimeAt(anchor, interval, intervalCount, next)) <= limit) next += 1;
  return next;
}

/** The longest a period can be: a jump by it never passes the cycle sought. */
function approximatePeriodMs(interval: Interval, intervalCount: number): number {
  const days = { day: 1, week: 7, month: 31, year: 366 }[interval];
  return days * intervalCount * 86_400_000;
}

/** The period a charge time belongs to: its UTC date, which names the period in charges and datafeeds. */
export function periodOf(chargeTime: string): string {
  return chargeTime.slice(0, 10);
}

/** A run's id: the UTC date of its `asOf`. */
export function runIdOf(asOf: string | number): string {
  return new Date(asOf).toISOString().slice(0, 10);
}

export const RUN_ID_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Whether `runId` is a real calendar date in the run id format. */
export function isRunId(runId: string): boolean {
  if (!RUN_ID_PATTERN.test(runId)) return false;
  const time = Date.parse(`${runId}T00:00:00.000Z`);
  return Number.isFinite(time) && new Date(time).toISOString().slice(0, 10) === runId;
}
