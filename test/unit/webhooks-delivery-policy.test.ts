import fc from 'fast-check';
import {
  type AttemptResult,
  CoolDowns,
  decideOutcome,
  jittered,
  MAX_RETRY_AFTER_MS,
  MIN_RETRY_AFTER_MS,
  retryAfterDelay,
  startsCoolDown,
} from '../../lambdas/webhooks/domain/delivery-policy';

const schedule = [0, 5_000, 300_000, 1_800_000];
const now = Date.parse('2024-06-01T12:00:00.000Z');
const noJitter = () => 0.5;

function outcome(result: Partial<AttemptResult>, attempt = 1) {
  return decideOutcome({ durationMs: 10, ...result }, attempt, schedule, now, noJitter);
}

describe('delivery outcome policy', () => {
  it.each([200, 201, 204, 299])('HTTP %i is a success', (status) => {
    expect(outcome({ status })).toEqual({ kind: 'succeeded' });
  });

  it.each([
    [301, 'redirect not followed (HTTP 301)'],
    [302, 'redirect not followed (HTTP 302)'],
    [404, 'HTTP 404'],
    [500, 'HTTP 500'],
  ])('HTTP %i is a failure retried after the next delay of the schedule', (status, reason) => {
    expect(outcome({ status }, 2)).toEqual({ kind: 'retry', reason, delayMs: 300_000 });
  });

  it('a network failure is retried with its reason', () => {
    expect(outcome({ error: 'timeout' })).toEqual({ kind: 'retry', reason: 'timeout', delayMs: 5_000 });
  });

  it('410 ends the delivery and asks for the endpoint to be disabled, even with retries left', () => {
    expect(outcome({ status: 410 }, 1)).toEqual({ kind: 'gone', reason: 'HTTP 410' });
  });

  it('429 with Retry-After in seconds waits that long', () => {
    expect(outcome({ status: 429, retryAfter: '120' })).toMatchObject({ kind: 'retry', delayMs: 120_000 });
  });

  it('503 with Retry-After as an HTTP date waits until then', () => {
    const at = new Date(now + 90_000).toUTCString();
    expect(outcome({ status: 503, retryAfter: at })).toMatchObject({ kind: 'retry', delayMs: 90_000 });
  });

  it.each(['soon', '-5', '1.5', '', 'Mon, 99 Foo 2024 GMT', '2024-06-01'])(
    'a Retry-After that does not parse (%j) falls back to the schedule',
    (retryAfter) => {
      expect(outcome({ status: 429, retryAfter })).toMatchObject({ kind: 'retry', delayMs: 5_000 });
    },
  );

  it('Retry-After is bounded to [1 s, 1 h]', () => {
    expect(outcome({ status: 429, retryAfter: '0' })).toMatchObject({ delayMs: MIN_RETRY_AFTER_MS });
    expect(outcome({ status: 429, retryAfter: '86400' })).toMatchObject({ delayMs: MAX_RETRY_AFTER_MS });
    expect(outcome({ status: 503, retryAfter: new Date(now - 60_000).toUTCString() })).toMatchObject({
      delayMs: MIN_RETRY_AFTER_MS,
    });
  });

  it('Retry-After on other statuses is ignored', () => {
    expect(outcome({ status: 500, retryAfter: '120' })).toMatchObject({ delayMs: 5_000 });
  });

  it('a failure of the last attempt exhausts the delivery, Retry-After or not', () => {
    expect(outcome({ status: 500 }, schedule.length)).toEqual({ kind: 'exhausted', reason: 'HTTP 500' });
    expect(outcome({ status: 429, retryAfter: '5' }, schedule.length)).toMatchObject({ kind: 'exhausted' });
  });

  it('a success on the last attempt is still a success', () => {
    expect(outcome({ status: 200 }, schedule.length)).toEqual({ kind: 'succeeded' });
  });

  it('retryAfterDelay leaves absent headers alone', () => {
    expect(retryAfterDelay(undefined, now)).toBeUndefined();
  });
});

describe('jitter', () => {
  it('stays within ±10 % of the delay', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 36_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (delay, r) => {
          const value = jittered(delay, () => r);
          expect(value).toBeGreaterThanOrEqual(Math.floor(delay * 0.9));
          expect(value).toBeLessThanOrEqual(Math.ceil(delay * 1.1));
        },
      ),
    );
  });

  it('retries use it: the retry delays of one schedule step spread', () => {
    const delays = new Set(
      Array.from({ length: 50 }, (_, i) =>
        decideOutcome({ status: 500, durationMs: 1 }, 1, schedule, now, () => i / 50),
      ).map((o) => (o.kind === 'retry' ? o.delayMs : -1)),
    );
    expect(delays.size).toBeGreaterThan(40);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(4_500);
    for (const d of delays) expect(d).toBeLessThanOrEqual(5_500);
  });
});

describe('cool-down', () => {
  it('starts on a timeout or a refused connection, not on an HTTP answer', () => {
    expect(startsCoolDown({ durationMs: 1, error: 'timeout' })).toBe(true);
    expect(startsCoolDown({ durationMs: 1, error: 'connection refused' })).toBe(true);
    expect(startsCoolDown({ durationMs: 1, status: 500, error: 'HTTP 500' })).toBe(false);
    expect(startsCoolDown({ durationMs: 1, error: 'non-public address' })).toBe(false);
  });

  it('lasts its window', () => {
    const coolDowns = new CoolDowns(5_000);
    coolDowns.start('ep_1', 1_000);
    expect(coolDowns.isCoolingDown('ep_1', 5_999)).toBe(true);
    expect(coolDowns.isCoolingDown('ep_1', 6_000)).toBe(false);
    expect(coolDowns.isCoolingDown('ep_2', 2_000)).toBe(false);
  });
});
