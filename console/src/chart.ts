import { addPoint, chartModel, mergePoints, type ProgressPoint } from './chart-scale';
import { fill, h, s } from './dom';
import {
  formatClock,
  formatCount,
  formatDateTime,
  formatDuration,
  formatPercent,
  formatRate,
} from './format';
import { answered, type RunView } from './types';

const WIDTH = 640;
const HEIGHT = 280;

/**
 * What the chart keeps between polls: the run's logged progress (the API's `progress`, from (startedAt, 0)) and the
 * points seen since the run was opened.
 */
export interface RunSeries {
  readonly runId: string;
  points: ProgressPoint[];
}

export function newSeries(run: RunView): RunSeries {
  const started = Date.parse(run.startedAt);
  return { runId: run.runId, points: [{ at: started, done: 0 }] };
}

/** Adds a poll's answer at the time it was seen (the run's completion time once it is complete). */
export function observe(series: RunSeries, run: RunView, now: number): void {
  const started = Date.parse(run.startedAt);
  if (run.progress) {
    const logged = run.progress.map((point) => ({ at: Date.parse(point.at), done: point.answered }));
    series.points = mergePoints(series.points, logged);
  }
  const at =
    run.status === 'completed' && run.completedAt ? Date.parse(run.completedAt) : Math.max(now, started);
  series.points = addPoint(series.points, { at, done: answered(run) });
}

function projectedEnd(run: RunView, now: number): number | undefined {
  if (run.status === 'completed' || run.etaSeconds === null || run.etaSeconds === undefined) return undefined;
  return now + run.etaSeconds * 1000;
}

/** One sentence that says what the chart shows, for everyone and for screen readers. */
export function runSummary(run: RunView, now: number): string {
  const done = answered(run);
  const head = `Run ${run.runId} is ${run.status}: ${formatCount(done)} of ${formatCount(run.total)} charges answered (${formatPercent(done, run.total)}): ${formatCount(run.succeeded)} succeeded, ${formatCount(run.failed)} failed, ${formatCount(run.processing ?? 0)} processing, ${formatCount(run.pending)} pending.`;
  const deadline = run.deadlineAt ? Date.parse(run.deadlineAt) : undefined;
  if (run.status === 'completed') {
    const took = run.completedAt
      ? (Date.parse(run.completedAt) - Date.parse(run.startedAt)) / 1000
      : undefined;
    const inTime =
      deadline !== undefined && run.completedAt
        ? Date.parse(run.completedAt) <= deadline
          ? ' It finished before its deadline.'
          : ' It finished after its deadline.'
        : '';
    return `${head} Completed at ${formatDateTime(run.completedAt)} after ${formatDuration(took)}, ${formatRate(run.ratePerMinute)}.${inTime}`;
  }
  const end = projectedEnd(run, now);
  const pace =
    end === undefined
      ? ' Nothing has been answered recently, so there is no estimate yet.'
      : ` At ${formatRate(run.ratePerMinute)}, about ${formatDuration(run.etaSeconds)} left (done near ${formatClock(end)}).`;
  const verdict =
    deadline === undefined
      ? ''
      : end === undefined
        ? ` Deadline ${formatDateTime(deadline)}, in ${formatDuration((deadline - now) / 1000)}.`
        : end <= deadline
          ? ` On track for its deadline ${formatDateTime(deadline)} (in ${formatDuration((deadline - now) / 1000)}).`
          : ` Behind: at this rate it ends after its deadline ${formatDateTime(deadline)}.`;
  return `${head}${pace}${verdict}`;
}

/** Draws the series into `container` as an SVG: the done line, the total, the projection and the deadline. */
export function drawRunChart(container: Element, series: RunSeries, run: RunView, now: number): void {
  const deadlineAt = run.deadlineAt ? Date.parse(run.deadlineAt) : undefined;
  const end = projectedEnd(run, now);
  const model = chartModel({
    startedAt: Date.parse(run.startedAt),
    points: series.points,
    total: run.total,
    ...(deadlineAt !== undefined ? { deadlineAt } : {}),
    ...(end !== undefined ? { projectedEndAt: end } : {}),
    width: WIDTH,
    height: HEIGHT,
    timeLabel: (time, step) => formatClock(time, 'local', step < 60_000),
  });
  const { plot } = model;
  const done = answered(run);
  const svg = s(
    'svg',
    {
      id: 'run-chart',
      class: 'chart',
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: 'img',
      'aria-labelledby': 'run-chart-title run-chart-desc',
      'data-points': model.plotted,
      'data-done': done,
    },
    s('title', { id: 'run-chart-title' }, `Progress of run ${run.runId}: charges answered over time`),
    s('desc', { id: 'run-chart-desc' }, runSummary(run, now)),
    ...model.yTicks.map((tick) =>
      s(
        'g',
        { class: 'tick' },
        s('line', { class: 'grid', x1: plot.left, x2: plot.right, y1: tick.position, y2: tick.position }),
        s('text', { x: plot.left - 8, y: tick.position + 4, 'text-anchor': 'end' }, tick.label),
      ),
    ),
    ...model.xTicks.map((tick) =>
      s(
        'g',
        { class: 'tick' },
        s('line', { class: 'grid', x1: tick.position, x2: tick.position, y1: plot.top, y2: plot.bottom }),
        s('text', { x: tick.position, y: plot.bottom + 16, 'text-anchor': 'middle' }, tick.label),
      ),
    ),
    s('line', { class: 'axis', x1: plot.left, x2: plot.right, y1: plot.bottom, y2: plot.bottom }),
    s('line', { class: 'axis', x1: plot.left, x2: plot.left, y1: plot.top, y2: plot.bottom }),
    s(
      'text',
      { class: 'axis-title', x: (plot.left + plot.right) / 2, y: HEIGHT - 4, 'text-anchor': 'middle' },
      'time',
    ),
    s(
      'text',
      {
        class: 'axis-title',
        x: 0,
        y: 0,
        transform: `translate(14 ${(plot.top + plot.bottom) / 2}) rotate(-90)`,
        'text-anchor': 'middle',
      },
      'charges answered',
    ),
    s('line', { class: 'total', x1: plot.left, x2: plot.right, y1: model.totalY, y2: model.totalY }),
    s(
      'text',
      { class: 'total-label', x: plot.right - 4, y: model.totalY - 6, 'text-anchor': 'end' },
      `total ${formatCount(run.total)}`,
    ),
    model.deadline?.kind === 'line'
      ? s(
          'g',
          { class: 'deadline' },
          s('line', { x1: model.deadline.x, x2: model.deadline.x, y1: plot.top, y2: plot.bottom }),
          s('text', { x: model.deadline.x - 4, y: plot.top + 12, 'text-anchor': 'end' }, 'deadline'),
        )
      : model.deadline?.kind === 'off-chart' && deadlineAt !== undefined
        ? s(
            'text',
            { class: 'deadline-note', x: plot.right, y: plot.bottom - 8, 'text-anchor': 'end' },
            `deadline ${formatClock(deadlineAt, 'local', false)} →`,
          )
        : null,
    model.projection
      ? s('line', {
          class: 'projection',
          x1: model.projection.x1,
          y1: model.projection.y1,
          x2: model.projection.x2,
          y2: model.projection.y2,
        })
      : null,
    s('path', { class: 'done-line', d: model.line }),
    model.last ? s('circle', { class: 'done-point', cx: model.last.x, cy: model.last.y, r: 4 }) : null,
  );
  fill(
    container,
    svg,
    h(
      'ul',
      { class: 'legend', 'aria-hidden': 'true' },
      h('li', { class: 'legend-done' }, 'answered'),
      model.projection ? h('li', { class: 'legend-projection' }, 'projection at the current rate') : null,
      model.deadline?.kind === 'line' ? h('li', { class: 'legend-deadline' }, 'deadline') : null,
    ),
  );
}
