import fc from 'fast-check';
import { formatDuration, parseDuration, parseDurationList } from '../../lambdas/platform/duration';

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['0s', 0],
    ['5s', 5_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['5d', 432_000_000],
    [' 10h ', 36_000_000],
  ])('parses %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', 's', '1.5h', '-1s', '5 m', '5M', '2 hours', '1w', '99999999999999999d'])(
    'refuses %j',
    (text) => {
      expect(() => parseDuration(text)).toThrow();
    },
  );

  it('parses lists and refuses empty members', () => {
    expect(parseDurationList('0s,5s,5m')).toEqual([0, 5_000, 300_000]);
    expect(() => parseDurationList('')).toThrow(/at least one/);
    expect(() => parseDurationList('5s,')).toThrow();
  });

  it('formats any whole duration back to the same value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 12 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });
});
