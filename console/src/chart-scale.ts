/**
 * The geometry of a run's progress chart (done against time), as numbers and path strings: pure, so that the
 * scaling is tested in node and the DOM code only draws what this computes.
 */

export interface ProgressPoint {
  /** Epoch ms. */
  readonly at: number;
  /** Charges answered so far (succeeded + failed + processing). */
  readonly done: number;
}

export interface ChartInput {
  readonly startedAt: number;
  readonly points: readonly ProgressPoint[];
  readonly total: number;
  /** When the run must be done by; may lie far beyond the data. */
  readonly deadlineAt?: number;
  /** When the run would be done at its current rate (now + ETA); absent while nothing moves. */
  readonly projectedEndAt?: number;
  readonly width: number;
  readonly height: number;
  readonly margin?: {
    readonly top: number;
    readonly right: number;
    readonly bottom: number;
    readonly left: number;
  };
  /** Writes a tick's time; the step tells how fine (ms). */
  readonly timeLabel?: (time: number, stepMs: number) => string;
}

export interface Tick {
  readonly position: number;
  readonly label: string;
}

export interface ChartModel {
  readonly plot: {
    readonly left: number;
    readonly top: number;
    readonly right: number;
    readonly bottom: number;
  };
  readonly xDomain: readonly [number, number];
  readonly yMax: number;
  /** The `d` of the done line (M x y L x y …), empty without points. */
  readonly line: string;
  /** The last point, where the done label sits. */
  readonly last?: { readonly x: number; readonly y: number };
  readonly plotted: number;
  /** Dashed line from the last point to the projected end at the total. */
  readonly projection?: {
    readonly x1: number;
    readonly y1: number;
    readonly x2: number;
    readonly y2: number;
  };
  /** The deadline as a vertical line, or `off-chart` when it lies too far right to draw to scale. */
  readonly deadline?: { readonly kind: 'line'; readonly x: number } | { readonly kind: 'off-chart' };
  /** The total, as a horizontal line. */
  readonly totalY: number;
  readonly xTicks: readonly Tick[];
  readonly yTicks: readonly Tick[];
}

const DEFAULT_MARGIN = { top: 16, right: 24, bottom: 40, left: 56 };
/** The shortest time span the x axis shows, so that a run just started is not a vertical smear. */
const MIN_SPAN_MS = 10_000;
/** A deadline further than this many times the data's span is drawn as an arrow at the edge, not to scale. */
const DEADLINE_SPAN_FACTOR = 3;

const TIME_STEPS_MS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
].map((seconds) => seconds * 1000);

/** A step from 1, 2 or 5 × 10^n giving at most `maxTicks` ticks over [0, max]. */
export function niceStep(max: number, maxTicks = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / maxTicks;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 5, 10]) {
    const step = factor * power;
    if (step >= raw) return Math.max(1, step);
  }
  return Math.max(1, 10 * power);
}

/** The smallest 1-2-5 step that covers `max` in at most `maxTicks` ticks, and the axis top it gives. */
export function niceMax(max: number, maxTicks = 5): { step: number; top: number } {
  const step = niceStep(max, maxTicks);
  return { step, top: Math.max(step, Math.ceil(max / step) * step) };
}

/** A time step (1 s … 1 d) giving at most `maxTicks` ticks over the span. */
export function timeStep(spanMs: number, maxTicks = 6): number {
  return TIME_STEPS_MS.find((step) => spanMs / step <= maxTicks) ?? (TIME_STEPS_MS.at(-1) as number);
}

/** Tick times: every multiple of `step` within [from, to] (epoch multiples, so ticks fall on round times in UTC). */
export function timeTicks(from: number, to: number, step: number): number[] {
  const ticks: number[] = [];
  for (let tick = Math.ceil(from / step) * step; tick <= to; tick += step) ticks.push(tick);
  return ticks;
}

const defaultTimeLabel = (time: number, stepMs: number) => {
  const iso = new Date(time).toISOString();
  return stepMs >= 60_000 ? iso.slice(11, 16) : iso.slice(11, 19);
};

const round = (value: number) => Math.round(value * 10) / 10;

export function chartModel(input: ChartInput): ChartModel {
  const margin = input.margin ?? DEFAULT_MARGIN;
  const plot = {
    left: margin.left,
    top: margin.top,
    right: input.width - margin.right,
    bottom: input.height - margin.bottom,
  };
  const points = [...input.points].filter((point) => point.at >= input.startedAt).sort((a, b) => a.at - b.at);
  const lastAt = points.at(-1)?.at ?? input.startedAt;
  const dataEnd = Math.max(lastAt, input.projectedEndAt ?? 0, input.startedAt + MIN_SPAN_MS);
  const span = dataEnd - input.startedAt;
  let xEnd = dataEnd;
  let deadline: ChartModel['deadline'];
  if (input.deadlineAt !== undefined && Number.isFinite(input.deadlineAt)) {
    if (input.deadlineAt - input.startedAt <= span * DEADLINE_SPAN_FACTOR) {
      xEnd = Math.max(xEnd, input.deadlineAt);
    } else {
      deadline = { kind: 'off-chart' };
    }
  }
  // A little room on the right, so that the last point and the deadline are not on the frame.
  xEnd += (xEnd - input.startedAt) * 0.04;
  const xDomain: [number, number] = [input.startedAt, xEnd];
  const maxDone = Math.max(0, ...points.map((point) => point.done));
  const { step: yStep, top: yMax } = niceMax(Math.max(input.total, maxDone, 1));

  const x = (time: number) =>
    round(plot.left + ((time - xDomain[0]) / (xDomain[1] - xDomain[0])) * (plot.right - plot.left));
  const y = (value: number) => round(plot.bottom - (value / yMax) * (plot.bottom - plot.top));

  const line = points
    .map((point, index) => `${index === 0 ? 'M' : 'L'}${x(point.at)} ${y(point.done)}`)
    .join(' ');
  const lastPoint = points.at(-1);
  const last = lastPoint ? { x: x(lastPoint.at), y: y(lastPoint.done) } : undefined;
  const projection =
    last && lastPoint && input.projectedEndAt !== undefined && lastPoint.done < input.total
      ? { x1: last.x, y1: last.y, x2: x(Math.max(input.projectedEndAt, lastPoint.at)), y2: y(input.total) }
      : undefined;
  if (input.deadlineAt !== undefined && deadline === undefined && Number.isFinite(input.deadlineAt)) {
    deadline = { kind: 'line', x: x(input.deadlineAt) };
  }

  const stepMs = timeStep(xDomain[1] - xDomain[0]);
  const label = input.timeLabel ?? defaultTimeLabel;
  const xTicks = timeTicks(xDomain[0], xDomain[1], stepMs).map((time) => ({
    position: x(time),
    label: label(time, stepMs),
  }));
  const yTicks: Tick[] = [];
  for (let value = 0; value <= yMax; value += yStep)
    yTicks.push({ position: y(value), label: String(value) });

  return {
    plot,
    xDomain,
    yMax,
    line,
    ...(last ? { last } : {}),
    plotted: points.length,
    ...(projection ? { projection } : {}),
    ...(deadline ? { deadline } : {}),
    totalY: y(input.total),
    xTicks,
    yTicks,
  };
}

/**
 * Adds a poll's answer to the series: a point per poll (a flat stretch shows a stalled run, which is the point of
 * the chart), thinned to every other point once there are more than `max`, keeping the first and the last.
 */
export function addPoint(
  points: readonly ProgressPoint[],
  point: ProgressPoint,
  max = 1800,
): ProgressPoint[] {
  const previous = points.at(-1);
  const next =
    previous && point.at <= previous.at
      ? [...points.slice(0, -1), { at: previous.at, done: Math.max(previous.done, point.done) }]
      : [...points, point];
  if (next.length <= max) return next;
  return next.filter((_, index) => index === 0 || index === next.length - 1 || index % 2 === 0);
}

/** `points` and `more` as one series in time order (the run's logged history, and the polls seen here). */
export function mergePoints(
  points: readonly ProgressPoint[],
  more: readonly ProgressPoint[],
  max = 1800,
): ProgressPoint[] {
  let merged: ProgressPoint[] = [];
  for (const point of [...points, ...more].sort((a, b) => a.at - b.at)) merged = addPoint(merged, point, max);
  return merged;
}
