import fc from 'fast-check';
import {
  chargeTimeAt,
  isRunId,
  nextCycleAfter,
  periodOf,
  runIdOf,
} from '../../lambdas/billing/domain/schedule';
import {
  afterDecline,
  afterSuccess,
  dueShardOf,
  newSubscription,
  type Subscription,
  subscriptionInput,
} from '../../lambdas/billing/domain/subscription';

const DAY = 86_400_000;

describe('billing dates', () => {
  it('keeps the anchor day across short months and leap years', () => {
    const anchor = '2024-01-31T09:30:00.000Z';
    expect(chargeTimeAt(anchor, 'month', 1, 1)).toBe('2024-02-29T09:30:00.000Z');
    expect(chargeTimeAt(anchor, 'month', 1, 2)).toBe('2024-03-31T09:30:00.000Z');
    expect(chargeTimeAt(anchor, 'month', 1, 13)).toBe('2025-02-28T09:30:00.000Z');
    expect(chargeTimeAt('2024-02-29T00:00:00.000Z', 'year', 1, 1)).toBe('2025-02-28T00:00:00.000Z');
    expect(chargeTimeAt(anchor, 'week', 2, 1)).toBe('2024-02-14T09:30:00.000Z');
    expect(chargeTimeAt(anchor, 'day', 3, 2)).toBe('2024-02-06T09:30:00.000Z');
  });

  it('moves on to the first cycle still ahead, skipping periods missed in dunning', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }),
        fc.constantFrom('day' as const, 'week' as const, 'month' as const, 'year' as const),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 2000 }),
        (start, interval, count, cycle, lateDays) => {
          const anchor = start.toISOString();
          const after = new Date(
            Date.parse(chargeTimeAt(anchor, interval, count, cycle)) + lateDays * DAY,
          ).toISOString();
          const next = nextCycleAfter(anchor, interval, count, cycle, after);
          expect(next).toBeGreaterThan(cycle);
          expect(Date.parse(chargeTimeAt(anchor, interval, count, next))).toBeGreaterThan(Date.parse(after));
          // The first such cycle: the one before it is not ahead (or is the current one).
          if (next - 1 > cycle) {
            expect(Date.parse(chargeTimeAt(anchor, interval, count, next - 1))).toBeLessThanOrEqual(
              Date.parse(after),
            );
          }
        },
      ),
    );
  });

  it('names periods and runs by UTC date and refuses impossible dates', () => {
    expect(periodOf('2026-11-22T23:59:59.999Z')).toBe('2026-11-22');
    expect(runIdOf('2026-11-23T00:30:00+02:00')).toBe('2026-11-22');
    expect(isRunId('2026-02-28')).toBe(true);
    for (const bad of ['2026-02-30', '2026-13-01', '26-01-01', '2026-1-1', 'yesterday', '']) {
      expect(isRunId(bad)).toBe(false);
    }
  });
});

describe('subscriptions', () => {
  const base = {
    customer: { id: 'cus_1', email: 'c@example.com' },
    plan: 'p',
    amount: 1000,
    currency: 'USD',
    interval: 'month',
    paymentMethod: 'pm_card_visa',
  };

  it('refuses unknown intervals, non-positive amounts, unsupported currencies and missing payment methods', () => {
    const problems = (body: unknown) =>
      subscriptionInput.safeParse(body).error?.issues.map((issue) => issue.path.join('.')) ?? [];
    expect(problems(base)).toEqual([]);
    expect(problems({ ...base, interval: 'fortnight' })).toEqual(['interval']);
    expect(problems({ ...base, amount: 0 })).toEqual(['amount']);
    expect(problems({ ...base, amount: -5 })).toEqual(['amount']);
    expect(problems({ ...base, amount: 10.5 })).toEqual(['amount']);
    expect(problems({ ...base, currency: 'XYZ' })).toEqual(['currency']);
    // Either case, as Stripe users write it; answered in upper case.
    expect(problems({ ...base, currency: 'usd' })).toEqual([]);
    expect(subscriptionInput.parse({ ...base, currency: 'usd' }).currency).toBe('USD');
    expect(problems({ ...base, paymentMethod: undefined })).toEqual(['paymentMethod']);
    expect(problems({ ...base, paymentMethod: '' })).toEqual(['paymentMethod']);
    expect(problems({ ...base, interval: 'year', intervalCount: 4 })).toEqual(['intervalCount']);
    expect(problems({ ...base, startAt: 'tomorrow' })).toEqual(['startAt']);
    expect(problems({ ...base, extra: true })).toEqual(['']);
  });

  it('spreads one day of subscriptions over the due shards', () => {
    const shards = new Set(Array.from({ length: 2000 }, (_, i) => dueShardOf('store', `sub_${i}`)));
    expect(shards.size).toBe(16);
  });

  const subscription = (overrides: Partial<Subscription> = {}): Subscription => ({
    ...newSubscription({
      storeId: 's',
      subscriptionId: 'sub',
      body: subscriptionInput.parse({ ...base, startAt: '2026-01-15T10:00:00.000Z' }),
      fingerprint: 'f',
      now: Date.parse('2026-01-01T00:00:00.000Z'),
      createdEventId: 'evt_x',
    }),
    ...overrides,
  });
  const policy = { scheduleMs: [DAY, 3 * DAY], finalAction: 'cancel' as const };

  it('is first due at startAt, and a success schedules the next period', () => {
    const sub = subscription();
    expect(sub).toMatchObject({ status: 'active', dueAt: '2026-01-15T10:00:00.000Z', cycle: 0, attempt: 0 });
    expect(afterSuccess(sub, '2026-01-15T10:05:00.000Z')).toEqual({
      status: 'active',
      cycle: 1,
      attempt: 0,
      nextChargeAt: '2026-02-15T10:00:00.000Z',
      dueAt: '2026-02-15T10:00:00.000Z',
    });
  });

  it('walks the dunning schedule, then applies the final action', () => {
    const first = afterDecline(subscription(), '2026-01-15T10:05:00.000Z', policy);
    expect(first).toMatchObject({
      status: 'past_due',
      attempt: 1,
      dueAt: '2026-01-16T10:05:00.000Z',
      dunning: { attempt: 1, nextRetryAt: '2026-01-16T10:05:00.000Z' },
    });
    const second = afterDecline(
      subscription({ attempt: 1, status: 'past_due' }),
      '2026-01-16T10:05:00.000Z',
      policy,
    );
    expect(second).toMatchObject({ status: 'past_due', attempt: 2, dueAt: '2026-01-19T10:05:00.000Z' });
    const last = afterDecline(
      subscription({ attempt: 2, status: 'past_due' }),
      '2026-01-19T10:05:00.000Z',
      policy,
    );
    expect(last).toMatchObject({ status: 'canceled', canceledAt: '2026-01-19T10:05:00.000Z' });
    expect(last.dueAt).toBeUndefined();
    const unpaid = afterDecline(
      subscription({ attempt: 2, status: 'past_due' }),
      '2026-01-19T10:05:00.000Z',
      {
        ...policy,
        finalAction: 'unpaid',
      },
    );
    expect(unpaid).toMatchObject({ status: 'unpaid' });
    expect(unpaid.dueAt).toBeUndefined();
  });

  it('recovers from dunning to active at the next period still ahead', () => {
    const recovered = afterSuccess(
      subscription({ attempt: 2, status: 'past_due' }),
      '2026-02-20T00:00:00.000Z',
    );
    expect(recovered).toMatchObject({
      status: 'active',
      attempt: 0,
      nextChargeAt: '2026-03-15T10:00:00.000Z',
    });
    expect(recovered.dunning).toBeUndefined();
  });
});
