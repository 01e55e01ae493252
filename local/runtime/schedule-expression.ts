/**
 * EventBridge (Scheduler) schedule expressions: `rate(5 minutes)`, `cron(0 12 * * ? *)` in AWS's six-field form
 * (minutes hours day-of-month month day-of-week year, with `?`, `L`, `W` and `#`), and Scheduler's one-time
 * `at(2030-01-01T00:00:00)`. Times are UTC. AWS's cron dialect is not the Unix one (six fields, 1-7 for SUN-SAT,
 * `?`, `L`, `W`, `#`), so common cron parsers do not read it.
 */
export interface Schedule {
  /** The first firing time strictly after `after`, or undefined when there is none. */
  next(after: Date): Date | undefined;
}

export class ScheduleExpressionError extends Error {
  constructor(expression: string, reason: string) {
    super(`Invalid schedule expression "${expression}": ${reason}`);
    this.name = 'ScheduleExpressionError';
  }
}

const MINUTE_MS = 60_000;
const RATE_UNITS_MS: Readonly<Record<string, number>> = {
  minute: MINUTE_MS,
  hour: 60 * MINUTE_MS,
  day: 1440 * MINUTE_MS,
};

/**
 * @param createdAt the start of a rate schedule: it fires every interval from then on, as in AWS.
 */
export function parseScheduleExpression(expression: string, createdAt = new Date()): Schedule {
  const [, kind, body] = /^(rate|cron|at)\((.*)\)$/.exec(expression.trim()) ?? [];
  if (kind === 'rate') return parseRate(expression, body ?? '', createdAt);
  if (kind === 'cron') return parseCron(expression, body ?? '');
  if (kind === 'at') {
    const at = new Date(`${body}Z`);
    if (Number.isNaN(at.getTime()))
      throw new ScheduleExpressionError(expression, 'expected at(yyyy-mm-ddThh:mm:ss)');
    return { next: (after) => (at > after ? at : undefined) };
  }
  throw new ScheduleExpressionError(expression, 'expected rate(...), cron(...) or at(...)');
}

function parseRate(expression: string, body: string, createdAt: Date): Schedule {
  const [, count, unit] = /^(\d+)\s+(minute|hour|day)s?$/.exec(body.trim()) ?? [];
  const value = Number(count);
  if (!unit || !(value > 0))
    throw new ScheduleExpressionError(expression, 'expected rate(<n> minute(s)|hour(s)|day(s))');
  if ((value === 1) !== !body.trim().endsWith('s')) {
    throw new ScheduleExpressionError(
      expression,
      'use the singular unit for 1 and the plural otherwise, as AWS does',
    );
  }
  const intervalMs = value * (RATE_UNITS_MS[unit] ?? MINUTE_MS);
  return {
    next: (after) => {
      const elapsed = Math.max(0, after.getTime() - createdAt.getTime());
      return new Date(createdAt.getTime() + (Math.floor(elapsed / intervalMs) + 1) * intervalMs);
    },
  };
}

interface CronField {
  readonly values: ReadonlySet<number>;
  readonly any: boolean;
}

interface DayRules {
  /** `L` in day-of-month: the last day of the month. */
  readonly lastDayOfMonth: boolean;
  /** `15W`: the weekday nearest the 15th, within the month. */
  readonly nearestWeekday?: number;
  /** `6#3`: the third Friday (AWS counts 1 = SUN). */
  readonly nthWeekday?: { weekday: number; nth: number };
  /** `6L`: the last Friday of the month. */
  readonly lastWeekday?: number;
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function parseCron(expression: string, body: string): Schedule {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) throw new ScheduleExpressionError(expression, 'AWS cron has six fields');
  const [minuteText, hourText, domText, monthText, dowText, yearText] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if ((domText === '?') === (dowText === '?')) {
    throw new ScheduleExpressionError(expression, 'exactly one of day-of-month and day-of-week must be "?"');
  }
  const fail = (reason: string) => new ScheduleExpressionError(expression, reason);
  const minutes = parseField(minuteText, 0, 59, [], fail);
  const hours = parseField(hourText, 0, 23, [], fail);
  const months = parseField(monthText, 1, 12, MONTH_NAMES, fail);
  const years = parseField(yearText, 1970, 2199, [], fail);
  const rules: DayRules = {
    lastDayOfMonth: domText === 'L',
    nearestWeekday: /^\d+W$/.test(domText) ? Number(domText.slice(0, -1)) : undefined,
    nthWeekday: /^\w+#\d$/.test(dowText)
      ? { weekday: dayNumber(dowText.split('#')[0] ?? '', fail), nth: Number(dowText.split('#')[1]) }
      : undefined,
    lastWeekday: /^\w+L$/.test(dowText) ? dayNumber(dowText.slice(0, -1), fail) : undefined,
  };
  const special = rules.lastDayOfMonth || rules.nearestWeekday !== undefined;
  const specialDow = rules.nthWeekday !== undefined || rules.lastWeekday !== undefined;
  const daysOfMonth = domText === '?' || special ? undefined : parseField(domText, 1, 31, [], fail);
  const daysOfWeek = dowText === '?' || specialDow ? undefined : parseField(dowText, 1, 7, DAY_NAMES, fail);

  const dayMatches = (date: Date): boolean => {
    const year = date.getUTCFullYear();
    const month = date.getUTCMonth();
    const day = date.getUTCDate();
    const weekday = date.getUTCDay() + 1;
    const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    if (rules.lastDayOfMonth) return day === lastDay;
    if (rules.nearestWeekday !== undefined) return day === nearestWeekday(year, month, rules.nearestWeekday);
    if (rules.nthWeekday)
      return weekday === rules.nthWeekday.weekday && Math.ceil(day / 7) === rules.nthWeekday.nth;
    if (rules.lastWeekday !== undefined) return weekday === rules.lastWeekday && day + 7 > lastDay;
    if (daysOfMonth) return daysOfMonth.any || daysOfMonth.values.has(day);
    return !daysOfWeek || daysOfWeek.any || daysOfWeek.values.has(weekday);
  };

  return {
    next: (after) => {
      // Day by day, then the first matching time of day: at most a few years of days, never every minute.
      const start = new Date(Math.floor(after.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS);
      const day = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
      for (let i = 0; i < 366 * 5; i += 1, day.setUTCDate(day.getUTCDate() + 1)) {
        if (
          !matches(years, day.getUTCFullYear()) ||
          !matches(months, day.getUTCMonth() + 1) ||
          !dayMatches(day)
        ) {
          continue;
        }
        for (let hour = 0; hour < 24; hour += 1) {
          if (!matches(hours, hour)) continue;
          for (let minute = 0; minute < 60; minute += 1) {
            if (!matches(minutes, minute)) continue;
            const candidate = new Date(day.getTime() + (hour * 60 + minute) * MINUTE_MS);
            if (candidate >= start) return candidate;
          }
        }
      }
      return undefined;
    },
  };
}

function matches(field: CronField, value: number): boolean {
  return field.any || field.values.has(value);
}

/** `*`, lists, ranges, steps (`0/15`, `10-50/10`) and names (JAN, MON). */
function parseField(
  text: string,
  min: number,
  max: number,
  names: readonly string[],
  fail: (reason: string) => Error,
): CronField {
  if (text === '*' || text === '?') return { values: new Set(), any: true };
  const values = new Set<number>();
  const toNumber = (token: string): number => {
    const named = names.indexOf(token.toUpperCase());
    const value = named >= 0 ? named + min : Number(token);
    if (!Number.isInteger(value) || value < min || value > max)
      throw fail(`"${token}" is not in ${min}-${max}`);
    return value;
  };
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!(step > 0)) throw fail(`bad step in "${part}"`);
    const [fromText = '', toText] = range.split('-');
    const from = range === '*' ? min : toNumber(fromText);
    const to =
      range === '*' || (stepText !== undefined && toText === undefined) ? max : toNumber(toText ?? fromText);
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return { values, any: false };
}

function dayNumber(token: string, fail: (reason: string) => Error): number {
  const named = DAY_NAMES.indexOf(token.toUpperCase());
  const value = named >= 0 ? named + 1 : Number(token);
  if (!Number.isInteger(value) || value < 1 || value > 7)
    throw fail(`"${token}" is not a day of the week (1-7, SUN-SAT)`);
  return value;
}

/** The weekday nearest to `target` in the month, never crossing into another month (Quartz's `W`). */
function nearestWeekday(year: number, month: number, target: number): number {
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(target, lastDay);
  const weekday = new Date(Date.UTC(year, month, day)).getUTCDay();
  if (weekday === 6) return day === 1 ? 3 : day - 1;
  if (weekday === 0) return day === lastDay ? day - 2 : day + 1;
  return day;
}
