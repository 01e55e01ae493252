import { apiBaseFrom, apiPath, segment } from '../../console/src/base-path';
import { addPoint, chartModel, niceMax, niceStep, timeStep, timeTicks } from '../../console/src/chart-scale';
import {
  formatAmount,
  formatDateTime,
  formatDuration,
  formatInterval,
  formatMillis,
  formatPercent,
  formatRate,
  problemText,
} from '../../console/src/format';

// The console's DOM-free logic: where the API is, how values are written, how the run chart is scaled.

describe('the API base of the console', () => {
  it.each([
    ['/console', '/'],
    ['/console/', '/'],
    ['/prod/console', '/prod/'],
    ['/prod/console/', '/prod/'],
    ['/a/b/console', '/a/b/'],
    ['/prod/other', '/prod/'],
  ])('from %s is %s', (pathname, base) => {
    expect(apiBaseFrom(pathname)).toBe(base);
  });

  it('makes relative API paths with a query, leaving out empty values', () => {
    expect(apiPath('/prod/', 'v1/webhooks')).toBe('/prod/v1/webhooks');
    expect(apiPath('/', 'v1/subscriptions', { status: '', limit: 25, cursor: undefined })).toBe(
      '/v1/subscriptions?limit=25',
    );
    expect(apiPath('/', `v1/webhooks/${segment('ep/../x?y')}/attempts`)).toBe(
      '/v1/webhooks/ep%2F..%2Fx%3Fy/attempts',
    );
  });
});

describe('formatting', () => {
  it('writes times and durations', () => {
    expect(formatDateTime('2025-03-01T14:03:22.123Z', 'utc')).toBe('2025-03-01 14:03:22');
    expect(formatDateTime(undefined)).toBe('—');
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(7500)).toBe('2 h 5 min');
    expect(formatDuration(97_200)).toBe('1 d 3 h');
    expect(formatDuration(null)).toBe('—');
    expect(formatMillis(850)).toBe('850 ms');
    expect(formatMillis(2400)).toBe('2.4 s');
    expect(formatRate(12.25)).toBe('12.3 per minute');
  });

  it('writes amounts in the currency minor unit, and an unknown code as it is', () => {
    expect(formatAmount(1999, 'usd')).toBe('$19.99');
    expect(formatAmount(1500, 'JPY')).toBe('¥1,500');
    expect(formatAmount(1000, 'KWD')).toMatch(/^KWD\s1\.000$/);
    expect(formatAmount(5, 'ZZZ1')).toBe('5 ZZZ1');
    expect(formatInterval('month', 1)).toBe('every month');
    expect(formatInterval('week', 3)).toBe('every 3 weeks');
  });

  it('never shows 100 % before all is done', () => {
    expect(formatPercent(999, 1000)).toBe('99 %');
    expect(formatPercent(1000, 1000)).toBe('100 %');
    expect(formatPercent(0, 0)).toBe('0 %');
  });

  it("takes a problem's title, detail and field errors", () => {
    expect(problemText(401, { title: 'Unauthorized', detail: 'Missing or wrong key.' })).toEqual({
      title: 'Unauthorized',
      detail: 'Missing or wrong key.',
    });
    expect(
      problemText(400, { title: 'Invalid request', errors: [{ field: 'since', message: 'must be a time' }] }),
    ).toEqual({ title: 'Invalid request', detail: 'since: must be a time' });
    expect(problemText(502, 'Bad gateway')).toEqual({ title: 'HTTP 502' });
  });
});

describe('the run chart scale', () => {
  const start = Date.parse('2025-03-01T10:00:00.000Z');
  const base = { startedAt: start, width: 640, height: 280 };

  it('picks round steps', () => {
    expect(niceStep(40)).toBe(10);
    expect(niceMax(40)).toEqual({ step: 10, top: 40 });
    expect(niceMax(37)).toEqual({ step: 10, top: 40 });
    expect(niceMax(1)).toEqual({ step: 1, top: 1 });
    expect(niceMax(12_345)).toEqual({ step: 5000, top: 15_000 });
    expect(timeStep(60_000)).toBe(10_000);
    expect(timeStep(3_600_000)).toBe(600_000);
    expect(timeTicks(start + 1, start + 35_000, 10_000)).toEqual([
      start + 10_000,
      start + 20_000,
      start + 30_000,
    ]);
  });

  it('starts at (startedAt, 0), ends at the last point, and scales done to the total', () => {
    const model = chartModel({
      ...base,
      total: 40,
      points: [
        { at: start, done: 0 },
        { at: start + 20_000, done: 10 },
        { at: start + 40_000, done: 20 },
      ],
    });

    expect(model.plotted).toBe(3);
    expect(model.yMax).toBe(40);
    expect(model.line.startsWith(`M${model.plot.left} ${model.plot.bottom}`)).toBe(true);
    // Half the total is half the plot's height.
    expect(model.last?.y).toBeCloseTo((model.plot.top + model.plot.bottom) / 2, 0);
    expect(model.totalY).toBe(model.plot.top);
    expect(model.xTicks.length).toBeGreaterThan(1);
    expect(model.yTicks.map((tick) => tick.label)).toEqual(['0', '10', '20', '30', '40']);
  });

  it('draws the deadline to scale when it is near, and as a note when it is far', () => {
    const points = [
      { at: start, done: 0 },
      { at: start + 60_000, done: 5 },
    ];
    const near = chartModel({ ...base, total: 10, points, deadlineAt: start + 120_000 });
    const far = chartModel({ ...base, total: 10, points, deadlineAt: start + 6 * 3_600_000 });

    expect(near.deadline?.kind).toBe('line');
    if (near.deadline?.kind === 'line') {
      expect(near.deadline.x).toBeGreaterThan(near.last?.x ?? 0);
      expect(near.deadline.x).toBeLessThanOrEqual(near.plot.right);
    }
    expect(far.deadline).toEqual({ kind: 'off-chart' });
    expect(far.xDomain[1] - far.xDomain[0]).toBeLessThan(3_600_000);
  });

  it('projects from the last point to the total at the projected end', () => {
    const model = chartModel({
      ...base,
      total: 10,
      points: [
        { at: start, done: 0 },
        { at: start + 30_000, done: 5 },
      ],
      projectedEndAt: start + 60_000,
    });

    expect(model.projection).toMatchObject({ x1: model.last?.x, y1: model.last?.y, y2: model.totalY });
    expect(model.projection?.x2).toBeGreaterThan(model.projection?.x1 ?? 0);
  });

  it('keeps one point per time, and thins a long series keeping its ends', () => {
    expect(
      addPoint(
        [
          { at: start, done: 0 },
          { at: start + 1000, done: 3 },
        ],
        { at: start + 1000, done: 4 },
      ),
    ).toEqual([
      { at: start, done: 0 },
      { at: start + 1000, done: 4 },
    ]);
    const long = Array.from({ length: 10 }, (_, index) => ({ at: start + index, done: index }));
    const thinned = addPoint(long, { at: start + 10, done: 10 }, 10);
    expect(thinned.length).toBeLessThan(10);
    expect(thinned[0]).toEqual({ at: start, done: 0 });
    expect(thinned.at(-1)).toEqual({ at: start + 10, done: 10 });
  });
});
