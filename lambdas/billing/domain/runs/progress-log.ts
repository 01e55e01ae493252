import { answeredOf, type ProgressSample, type Run } from './run';

/**
 * A run's progress over its whole life, for the console's chart (done against time): points logged by a step's
 * heartbeat when the count has moved and enough time has passed since the last point. The gap grows with the run's
 * age (a hundredth of it, at least MIN_GAP_MS), so a run of any length keeps a few hundred points (a 4-hour run
 * about 370, some 7 KB), and logging is one small write beside the run item, never a bigger run item: the run item
 * is rewritten by every counter update, and its size is what each of those writes costs. A heartbeat that finds
 * the count where the last point left it logs nothing; when the count moves again, the last heartbeat before (the
 * end of the flat stretch) is logged with the new point, so the chart draws a stall as a stall, not as slow progress.
 */
const MIN_GAP_MS = 10_000;

/** The points a heartbeat at `now`, finding `done` charges answered, adds to the log (none, one or two). */
export function progressPointsToLog(
  run: Pick<Run, 'startedAt' | 'progressLogged' | 'samples'>,
  now: number,
  done: number,
): ProgressSample[] {
  const last = run.progressLogged;
  if (!last) return [{ at: now, done }];
  if (done === last.done) return [];
  const age = now - Date.parse(run.startedAt);
  if (now - last.at < Math.max(MIN_GAP_MS, age / 100)) return [];
  const previous = run.samples[run.samples.length - 1];
  const flatEnd =
    previous && previous.done === last.done && previous.at > last.at && previous.at < now ? [previous] : [];
  return [...flatEnd, { at: now, done }];
}

/** A point of the progress log as the API shows it. */
export interface ProgressPoint {
  readonly at: string;
  readonly answered: number;
}

/**
 * The run's progress from its start: (startedAt, 0), the logged points in time order (a point logged twice, by a
 * step that lost its lease, or out of order, is shown once and in order), and the run's present count, at its
 * completion or its last update.
 */
export function runProgress(run: Run, logged: readonly ProgressSample[]): ProgressPoint[] {
  const started = Date.parse(run.startedAt);
  const end = Date.parse(run.completedAt ?? run.updatedAt);
  const points = [
    { at: started, done: 0 },
    ...logged.filter((point) => point.at > started && point.at < end),
    { at: Math.max(end, started), done: answeredOf(run) },
  ].sort((a, b) => a.at - b.at);
  const shown: ProgressSample[] = [];
  for (const point of points) {
    const previous = shown[shown.length - 1];
    // Answers only add up: a point below an earlier one is a late write of an older count.
    const done = Math.max(point.done, previous?.done ?? 0);
    if (previous && previous.at === point.at) shown[shown.length - 1] = { at: point.at, done };
    else shown.push({ at: point.at, done });
  }
  return shown.map((point) => ({ at: new Date(point.at).toISOString(), answered: point.done }));
}
