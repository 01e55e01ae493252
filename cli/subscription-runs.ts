import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from 'commander';
import * as z from 'zod';
import { ApiError, callApi } from './api-client';
import type { Target } from './target';

/**
 * The subscription-run routes of the admin API (docs/api.md section 3) for `pipeline run` and `pipeline runs`,
 * and the checks of their arguments, made before any request so that a typo never reaches the API.
 */

/** A run's progress as `GET /v1/admin/subscription-runs/{runId}` answers it. */
export interface SubscriptionRun {
  readonly runId: string;
  /** `running` or `completed`; kept a string so that a status added later is shown rather than refused. */
  readonly status: string;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly completedAt?: string;
  /** The time the run charges what is due at; its date is the run id. */
  readonly asOf?: string;
  /** When the run should be complete (the missed-deadline alarm's time). */
  readonly deadlineAt?: string;
  /** Unknown (null) until the run has charged something. */
  readonly ratePerMinute?: number | null;
  readonly etaSeconds?: number | null;
}

/** A decoded answer with the body as it came, for `--json`. */
export interface Answer<T> {
  readonly value: T;
  readonly raw: unknown;
}

const count = z.number().int().nonnegative();
const runSchema = z.object({
  runId: z.string(),
  status: z.string(),
  total: count,
  succeeded: count,
  failed: count,
  pending: count,
  startedAt: z.string(),
  updatedAt: z.string(),
  completedAt: z.string().optional(),
  asOf: z.string().optional(),
  deadlineAt: z.string().optional(),
  ratePerMinute: z.number().nonnegative().nullable().optional(),
  etaSeconds: z.number().nonnegative().nullable().optional(),
});
/** `outcome` is beyond the contract's `{runId, status}`: shown when the API tells it (started, joined...). */
const startedSchema = z.object({ runId: z.string(), status: z.string(), outcome: z.string().optional() });

/** A 404 on a run id: the message says so plainly, with what the API said. */
export class RunNotFoundError extends Error {
  constructor(runId: string, cause: ApiError) {
    super(
      `Run ${runId} does not exist: no subscription run was started for that date ` +
        `(${cause.message.split('\n')[0]}). Start one with \`pipeline run --as-of ${runId}T00:00:00Z\`.`,
    );
    this.name = 'RunNotFoundError';
  }
}

/** `POST /v1/admin/subscription-runs`: starts the run of `asOf`'s date, or answers the run that has it. */
export async function startRun(
  target: Target,
  options: { asOf?: string; idempotencyKey?: string } = {},
): Promise<Answer<z.infer<typeof startedSchema>>> {
  const raw = await callApi(target, 'POST', '/v1/admin/subscription-runs', {
    body: options.asOf === undefined ? {} : { asOf: options.asOf },
    idempotencyKey: options.idempotencyKey ?? randomUUID(),
  });
  return { value: decode(startedSchema, raw, 'POST /v1/admin/subscription-runs'), raw };
}

/** `GET /v1/admin/subscription-runs/{runId}`. */
export async function getRun(target: Target, runId: string): Promise<Answer<SubscriptionRun>> {
  const path = `/v1/admin/subscription-runs/${encodeURIComponent(runId)}`;
  let raw: unknown;
  try {
    raw = await callApi(target, 'GET', path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) throw new RunNotFoundError(runId, error);
    throw error;
  }
  return { value: decode(runSchema, raw, `GET ${path}`), raw };
}

function decode<T>(schema: z.ZodType<T>, raw: unknown, request: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  // A proxy's page or another API version: say what was wrong rather than print NaN.
  const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  throw new Error(`Unexpected answer to ${request}: ${issues.join('; ')}`);
}

/** `<runId>`: the run's UTC date, `YYYY-MM-DD`, a real calendar day. For commander's argParser. */
export function parseRunId(text: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || !isCalendarDate(text)) {
    throw new InvalidArgumentError('A run id is the UTC date of the run, YYYY-MM-DD (e.g. 2026-01-15).');
  }
  return text;
}

/**
 * `--as-of`: an ISO 8601 date-time with a zone (`Z` or `±hh:mm`), sent as UTC. A zone is required because the
 * run id is the UTC date of `asOf`: a time without one would pick a date by this machine's zone.
 */
export function parseAsOf(text: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-](\d{2}):(\d{2}))$/i.exec(
    text,
  );
  const [, date = '', hours, minutes, seconds = '0', , offsetHours = '0', offsetMinutes = '0'] = match ?? [];
  const valid =
    match !== null &&
    isCalendarDate(date) &&
    Number(hours) <= 23 &&
    Number(minutes) <= 59 &&
    Number(seconds) <= 59 &&
    Number(offsetHours) <= 23 &&
    Number(offsetMinutes) <= 59;
  if (!valid) {
    throw new InvalidArgumentError(
      'Expected an ISO 8601 date-time with a time zone, e.g. 2026-01-15T06:00:00Z or 2026-01-15T08:00:00+02:00.',
    );
  }
  return new Date(text).toISOString();
}

/** `--interval`: seconds between two polls, more than 0 and at most an hour; fractions allowed. */
export function parseIntervalSeconds(text: string): number {
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || seconds <= 0 || seconds > 3600) {
    throw new InvalidArgumentError('Expected a number of seconds, more than 0 and at most 3600.');
  }
  return seconds;
}

function isCalendarDate(date: string): boolean {
  const parsed = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === date;
}
