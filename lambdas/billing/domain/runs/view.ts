import { answeredOf, type Run, type RunStatus } from './run';

/** A run as the admin API and the run's metrics show it. */

export interface RunView {
  readonly runId: string;
  readonly status: RunStatus;
  readonly asOf: string;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  /** Answered `processing`, not settled yet: an answer for the run. */
  readonly processing: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly completedAt?: string;
  readonly deadlineAt: string;
  readonly ratePerMinute: number;
  /** Null while nothing is moving (no rate to extrapolate from). */
  readonly etaSeconds: number | null;
}

/** The shortest stretch of samples a moving rate is computed over. */
const MIN_RATE_WINDOW_MS = 30_000;

/** The run as the admin API shows it: counters, the moving rate (over about the last 5 minutes) and the ETA. */
export function runView(run: Run, now: number): RunView {
  const done = answeredOf(run);
  const pending = Math.max(0, run.total - done);
  let ratePerMinute = 0;
  if (run.status === 'completed') {
    const minutes = (Date.parse(run.completedAt ?? run.updatedAt) - Date.parse(run.startedAt)) / 60_000;
    ratePerMinute = minutes > 0 ? done / minutes : done;
  } else {
    const window = run.samples.filter((sample) => sample.at >= now - 5 * 60_000);
    const base = window[0] ?? run.samples[run.samples.length - 1];
    const started = Date.parse(run.startedAt);
    if (base && now - base.at >= MIN_RATE_WINDOW_MS) {
      ratePerMinute = Math.max(0, (done - base.done) / ((now - base.at) / 60_000));
    } else if (now - started >= 1_000) {
      // Too few seconds of samples for a moving rate (the run just began): the average since the start, which a
      // first burst of fast answers cannot blow up.
      ratePerMinute = done / (Math.max(now - started, MIN_RATE_WINDOW_MS) / 60_000);
    }
  }
  ratePerMinute = Math.round(ratePerMinute * 10) / 10;
  const etaSeconds =
    run.status === 'completed' ? 0 : ratePerMinute > 0 ? Math.ceil((pending / ratePerMinute) * 60) : null;
  return {
    runId: run.runId,
    status: run.status,
    asOf: run.asOf,
    total: run.total,
    succeeded: run.succeeded,
    failed: run.failed,
    pending,
    processing: run.processing ?? 0,
    startedAt: run.startedAt,
    updatedAt: run.updatedAt,
    ...(run.completedAt ? { completedAt: run.completedAt } : {}),
    deadlineAt: run.deadlineAt,
    ratePerMinute,
    etaSeconds,
  };
}
