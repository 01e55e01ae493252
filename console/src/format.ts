/** How the console writes times, durations, counts and amounts. Pure: no DOM, testable in node. */

export type Zone = 'local' | 'utc';

const DASH = '—';

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** `2025-03-01 14:03:22` in the browser's zone (or UTC), or a dash for no time. */
export function formatDateTime(iso: string | number | null | undefined, zone: Zone = 'local'): string {
  if (iso === null || iso === undefined || iso === '') return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const utc = zone === 'utc';
  const year = utc ? date.getUTCFullYear() : date.getFullYear();
  const month = (utc ? date.getUTCMonth() : date.getMonth()) + 1;
  const day = utc ? date.getUTCDate() : date.getDate();
  return `${year}-${pad(month)}-${pad(day)} ${formatClock(date.getTime(), zone)}`;
}

/** `14:03:22` (or `14:03` with `seconds: false`). */
export function formatClock(time: number, zone: Zone = 'local', seconds = true): string {
  const date = new Date(time);
  const utc = zone === 'utc';
  const hours = utc ? date.getUTCHours() : date.getHours();
  const minutes = utc ? date.getUTCMinutes() : date.getMinutes();
  const secs = utc ? date.getUTCSeconds() : date.getSeconds();
  return seconds ? `${pad(hours)}:${pad(minutes)}:${pad(secs)}` : `${pad(hours)}:${pad(minutes)}`;
}

/** A duration in words a person reads at a glance: `45 s`, `3 min 20 s`, `2 h 5 min`, `1 d 3 h`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return total % 60 === 0 ? `${minutes} min` : `${minutes} min ${total % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}

/** Milliseconds, as an attempt's duration: `850 ms`, `2.4 s`. */
export function formatMillis(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const counts = new Intl.NumberFormat('en-US');

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? DASH : counts.format(value);
}

/** A run's rate: `12.5 per minute`. */
export function formatRate(perMinute: number | null | undefined): string {
  if (perMinute === null || perMinute === undefined || !Number.isFinite(perMinute)) return DASH;
  return `${perMinute.toFixed(1)} per minute`;
}

/** A share of a whole, as a whole percent (never 100 % before it is all). */
export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '0 %';
  const percent = (part / whole) * 100;
  return `${part < whole ? Math.min(99, Math.floor(percent)) : Math.round(percent)} %`;
}

/**
 * An amount in a currency's minor unit (docs/api.md section 3), as money: `$19.99`, `¥1,500`. An unknown code is
 * written as the integer and the code.
 */
export function formatAmount(minor: number | null | undefined, currency: string | null | undefined): string {
  if (minor === null || minor === undefined || !Number.isFinite(minor)) return DASH;
  const code = (currency ?? '').toUpperCase();
  try {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: code });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
  } catch {
    return `${minor} ${code}`.trim();
  }
}

/** A subscription's interval: `every month`, `every 3 weeks`. */
export function formatInterval(interval: string | undefined, count: number | undefined = 1): string {
  if (!interval) return '';
  return count && count > 1 ? `every ${count} ${interval}s` : `every ${interval}`;
}

/**
 * The value of an `<input type="datetime-local">` (`2025-03-01T14:03`, the browser's zone) as an ISO time, or
 * undefined when it is empty or not a time.
 */
export function localInputToIso(value: string): string | undefined {
  if (!value.trim()) return undefined;
  const time = new Date(value).getTime();
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** What a failed call tells a person: the problem's `title` and `detail` (RFC 9457), or the status. */
export function problemText(status: number, body: unknown): { title: string; detail?: string } {
  const problem = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const title = typeof problem.title === 'string' && problem.title ? problem.title : `HTTP ${status}`;
  const parts: string[] = [];
  if (typeof problem.detail === 'string' && problem.detail) parts.push(problem.detail);
  if (Array.isArray(problem.errors)) {
    for (const error of problem.errors) {
      if (error && typeof error === 'object') {
        const { field, message } = error as Record<string, unknown>;
        if (typeof message === 'string')
          parts.push(typeof field === 'string' ? `${field}: ${message}` : message);
      }
    }
  }
  return parts.length > 0 ? { title, detail: parts.join(' ') } : { title };
}
