/**
 * Durations as the contract writes them: a whole number and a unit (`ms`, `s`, `m`, `h`, `d`), e.g. `5m`.
 * Hand-written because the well-known parsers (ms, parse-duration) accept forms the contract does not
 * (`1.5h`, `2 hours`, bare numbers), and a config value that means something else than it says is worse than
 * one that is refused.
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+)(ms|s|m|h|d)$/;

/** Parses one duration into milliseconds. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new Error(
      `"${text.trim()}" is not a duration: use a whole number and a unit (ms, s, m, h, d), e.g. 5m`,
    );
  }
  const value = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (!Number.isSafeInteger(value)) throw new Error(`"${text.trim()}" is too long a duration`);
  return value;
}

/** Parses a comma-separated list of durations (at least one) into milliseconds. */
export function parseDurationList(text: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length === 0 || parts.every((part) => part === '')) {
    throw new Error('must list at least one duration, e.g. 0s,5s,5m');
  }
  return parts.map(parseDuration);
}

/** Formats milliseconds in the largest unit that divides it exactly (the inverse of parseDuration). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}
