import { parseScheduleExpression, ScheduleExpressionError } from '../../../local/runtime/schedule-expression';

const at = (iso: string) => new Date(iso);
const nextAfter = (expression: string, after: string) =>
  parseScheduleExpression(expression, at('2030-01-01T00:00:00Z')).next(at(after))?.toISOString();

describe('schedule expressions', () => {
  it.each([
    ['rate(1 minute)', '2030-01-01T00:00:30Z', '2030-01-01T00:01:00.000Z'],
    ['rate(5 minutes)', '2030-01-01T00:05:00Z', '2030-01-01T00:10:00.000Z'],
    ['rate(2 hours)', '2030-01-01T01:00:00Z', '2030-01-01T02:00:00.000Z'],
    ['cron(0 12 * * ? *)', '2030-01-01T12:00:00Z', '2030-01-02T12:00:00.000Z'],
    ['cron(0/15 * * * ? *)', '2030-01-01T00:16:00Z', '2030-01-01T00:30:00.000Z'],
    ['cron(0 18 ? * MON-FRI *)', '2030-01-04T19:00:00Z', '2030-01-07T18:00:00.000Z'],
    ['cron(0 8 1 * ? *)', '2030-01-01T09:00:00Z', '2030-02-01T08:00:00.000Z'],
    ['cron(0 0 L * ? *)', '2030-02-01T00:00:00Z', '2030-02-28T00:00:00.000Z'],
    ['cron(0 10 ? * 6#3 *)', '2030-01-01T00:00:00Z', '2030-01-18T10:00:00.000Z'],
    ['cron(0 10 ? * 2L *)', '2030-01-01T00:00:00Z', '2030-01-28T10:00:00.000Z'],
    ['cron(0 9 15W * ? *)', '2030-06-01T00:00:00Z', '2030-06-14T09:00:00.000Z'],
    ['cron(30 1 1 JAN ? 2031)', '2030-01-01T00:00:00Z', '2031-01-01T01:30:00.000Z'],
    ['at(2030-03-01T10:00:00)', '2030-01-01T00:00:00Z', '2030-03-01T10:00:00.000Z'],
  ])('%s after %s is %s', (expression, after, expected) => {
    expect(nextAfter(expression, after)).toBe(expected);
  });

  it('has no next firing for a past at() or a cron of past years', () => {
    expect(nextAfter('at(2029-01-01T00:00:00)', '2030-01-01T00:00:00Z')).toBeUndefined();
    expect(nextAfter('cron(0 0 1 1 ? 2029)', '2030-01-01T00:00:00Z')).toBeUndefined();
  });

  it.each([
    'rate(1 minutes)',
    'rate(5 minute)',
    'rate(0 minutes)',
    'cron(0 12 * * *)',
    'cron(0 12 * * * *)',
    'cron(61 12 * * ? *)',
    'every 5 minutes',
  ])('rejects %s', (expression) => {
    expect(() => parseScheduleExpression(expression)).toThrow(ScheduleExpressionError);
  });
});
