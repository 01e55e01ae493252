import fc from 'fast-check';
import { claimFor } from '../../lambdas/billing/domain/charges/charge';
import { processCharge } from '../../lambdas/billing/domain/charges/process';
import { emptyEffects, subscriptionChangeEffects } from '../../lambdas/billing/domain/outbox-effects';
import { type Subscription, subscriptionView } from '../../lambdas/billing/domain/subscription';
import {
  applyPatch,
  dueAction,
  type SubscriptionPatch,
  subscriptionPatch,
} from '../../lambdas/billing/domain/subscription-changes';
import { updateSubscription } from '../../lambdas/billing/domain/update';
import { billingWorld, T0 } from './support/billing-world';

const DAY = 86_400_000;
const runIdAt = (time: number) => new Date(time).toISOString().slice(0, 10);

/** A world with one monthly subscription `s` (first charge just before T0), and a PATCH through the domain. */
async function world(overrides: Parameters<ReturnType<typeof billingWorld>['subscribe']>[1] = {}) {
  const w = billingWorld();
  await w.subscribe('s', overrides);
  let events = 0;
  const patch = (body: SubscriptionPatch) =>
    updateSubscription({ subscriptions: w.subscriptions, charges: w.charges }, 'acme', 's', body, {
      now: w.clock.now,
      eventId: `evt_patch_${++events}`,
    });
  /** Triggers the run of the clock's day and drains it. */
  const run = async () => {
    const { run } = await w.trigger('primary', new Date(w.clock.now).toISOString());
    const owner = w.runQueue.messages.at(-1)?.message.owner ?? '';
    return { runId: run.runId, result: await w.drain(run.runId, owner) };
  };
  const get = async () => (await w.subscriptions.get('acme', 's')) as Subscription;
  return { ...w, patch, run, get };
}

describe('PATCH /v1/subscriptions/{id}: the patch', () => {
  const base = async () => (await world()).get();

  it('refuses unknown fields, an empty patch, a zero or negative amount and a payment method of the wrong form', () => {
    const fields = (body: unknown) => {
      const result = subscriptionPatch.safeParse(body);
      return result.success
        ? []
        : [...new Set(result.error.issues.map((issue) => issue.path.join('.') || '(body)'))];
    };
    expect(fields({ amount: 0 })).toEqual(['amount']);
    expect(fields({ amount: -5 })).toEqual(['amount']);
    expect(fields({ amount: 1.5 })).toEqual(['amount']);
    expect(fields({ amount: '100' })).toEqual(['amount']);
    expect(fields({ paymentMethod: 'pm card' })).toEqual(['paymentMethod']);
    expect(fields({ paymentMethod: '' })).toEqual(['paymentMethod']);
    expect(fields({ paymentMethod: 42 })).toEqual(['paymentMethod']);
    expect(fields({ status: 'active' })).toEqual(['(body)']);
    expect(fields({})).toEqual(['(body)']);
    expect(fields({ pause: { resumesAt: 'tomorrow' } })).toEqual(['pause.resumesAt']);
    expect(fields({ pause: { until: '2030-01-01T00:00:00Z' } })).toEqual(['pause']);
    expect(fields({ endAt: 'soon' })).toEqual(['endAt']);
    expect(fields({ pause: null, endAt: null, amount: 5, plan: 'p', paymentMethod: 'pm_x' })).toEqual([]);
  });

  it('refuses an endAt or resumesAt in the past (400, naming the field), and any change of a canceled one (409)', async () => {
    const s = await base();
    const past = new Date(T0 - 1000).toISOString();
    expect(applyPatch(s, { endAt: past }, T0, 'e')).toMatchObject({
      kind: 'refused',
      refusal: { status: 400, field: 'endAt' },
    });
    expect(applyPatch(s, { pause: { resumesAt: past } }, T0, 'e')).toMatchObject({
      kind: 'refused',
      refusal: { status: 400, field: 'pause.resumesAt' },
    });
    const canceled: Subscription = { ...s, status: 'canceled', canceledAt: past, cancelReason: 'requested' };
    expect(applyPatch(canceled, { amount: 5 }, T0, 'e')).toMatchObject({
      kind: 'refused',
      refusal: { status: 409 },
    });
    const pastDue: Subscription = {
      ...s,
      status: 'past_due',
      attempt: 1,
      dunning: { attempt: 1, nextRetryAt: past },
    };
    expect(applyPatch(pastDue, { pause: {} }, T0, 'e')).toMatchObject({
      kind: 'refused',
      refusal: { status: 409, field: 'pause' },
    });
  });

  it('changes nothing, and announces nothing, when the patch asks for what is already so', async () => {
    const s = await base();
    expect(
      applyPatch(s, { amount: s.amount, plan: s.plan, paymentMethod: s.paymentMethod, pause: null }, T0, 'e'),
    ).toEqual({ kind: 'unchanged' });
  });

  it('announces each change once, as subscription.updated, .paused or .resumed, naming what changed', async () => {
    const w = await world();
    const before = await w.get();
    const updated = await w.patch({ amount: 2500, plan: 'gold' });
    const paused = await w.patch({ pause: {} });
    const resumed = await w.patch({ pause: null });
    const events = [
      [before, updated],
      [updated, paused],
      [paused, resumed],
    ].flatMap(([from, to]) => {
      const effects = emptyEffects();
      subscriptionChangeEffects(
        effects,
        from && 'subscription' in from ? from.subscription : (from as Subscription),
        to && 'subscription' in to ? to.subscription : undefined,
      );
      return effects.events.map((event) => ({ id: event.id, type: event.type, data: event.data }));
    });
    expect(events).toEqual([
      {
        id: 'evt_patch_1',
        type: 'subscription.updated',
        data: expect.objectContaining({ changed: ['amount', 'plan'] }),
      },
      {
        id: 'evt_patch_2',
        type: 'subscription.paused',
        data: expect.objectContaining({ changed: ['status', 'pause'] }),
      },
      { id: 'evt_patch_3', type: 'subscription.resumed', data: expect.anything() },
    ]);
  });
});

describe('amount, plan and payment method apply from the next charge not yet sent', () => {
  it('a claim made before the change and not yet asked is charged with the new terms, under its one key', async () => {
    // Prepare: the run claimed the charge; the change comes before the charge function asks.
    const w = await world();
    const { run } = await w.trigger('primary', new Date(w.clock.now).toISOString());
    await w.step(run.runId, w.runQueue.messages.at(-1)?.message.owner ?? '');
    expect(w.chargeQueue.messages.length).toBeGreaterThan(0);
    await w.patch({ amount: 4200, plan: 'gold', paymentMethod: 'pm_card_mastercard' });

    // Act
    await w.work();

    // Assess
    const moved = w.gateway.moneyMoved({ subscription_id: 's' });
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({ amount: 4200, paymentMethod: 'pm_card_mastercard' });
    const charge = (await w.charges.listForSubscription('acme', 's'))[0];
    expect(charge).toMatchObject({ amount: 4200, plan: 'gold', status: 'succeeded' });
  });

  it('a charge already asked keeps what it was sent with; the change applies to the next period', async () => {
    const w = await world();
    const s = await w.get();
    const claim = claimFor(s, runIdAt(T0), w.clock.now);
    await w.charges.claim(claim);
    // The ask is marked (the charge function is about to send), then the change comes.
    await w.charges.markFirstAsk(claim, new Date(w.clock.now).toISOString());
    await w.patch({ amount: 4200 });
    await processCharge(w.chargeDeps, claim);
    expect(w.gateway.moneyMoved({ subscription_id: 's' }).map((entry) => entry.amount)).toEqual([1000]);
    expect((await w.get()).amount).toBe(4200);
    // Next period: the new amount.
    w.clock.now = Date.parse((await w.get()).nextChargeAt) + 1000;
    await w.run();
    expect(w.gateway.moneyMoved({ subscription_id: 's' }).map((entry) => entry.amount)).toEqual([1000, 4200]);
  });
});

describe('decline-aware dunning', () => {
  it('retries a soft decline on DUNNING_SCHEDULE with the same payment method', async () => {
    const w = await world({ paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' });
    await w.run();
    const s = await w.get();
    expect(s).toMatchObject({ status: 'past_due', attempt: 1 });
    expect(s.dunning).toMatchObject({ attempt: 1, declineCode: 'insufficient_funds' });
    expect(s.dunning?.waitingForPaymentMethod).toBeUndefined();
    expect(Date.parse(s.dunning?.nextRetryAt ?? '') - w.clock.now).toBeLessThanOrEqual(DAY);
    w.clock.now += DAY + 1000;
    await w.run();
    expect(await w.get()).toMatchObject({ status: 'past_due', attempt: 2 });
    expect(
      w.gateway.simulator.ledger().filter((entry) => entry.metadata.subscription_id === 's'),
    ).toHaveLength(2);
  });

  it('never asks a hard-declined payment method again: it waits for a new one, which is charged at once as a new attempt', async () => {
    // Prepare: a stolen card.
    const w = await world({ paymentMethod: 'pm_card_chargeDeclinedStolenCard' });
    await w.run();
    const waiting = await w.get();
    expect(waiting).toMatchObject({ status: 'past_due', attempt: 1 });
    expect(waiting.dunning).toMatchObject({ waitingForPaymentMethod: true, declineCode: 'stolen_card' });
    // Waits until the last scheduled retry's time: 1 day + 3 days after the failure.
    expect(Date.parse(waiting.dunning?.nextRetryAt ?? '') - w.clock.now).toBeGreaterThan(3 * DAY);
    expect(subscriptionView(waiting).dunning).toMatchObject({ waitingForPaymentMethod: true });

    // Runs on the days of the soft schedule do not ask the gateway again.
    w.clock.now += DAY + 1000;
    await w.run();
    const asked = () =>
      w.gateway.simulator.ledger().filter((entry) => entry.metadata.subscription_id === 's');
    expect(asked()).toHaveLength(1);
    // The same card again is refused.
    expect(await w.patch({ paymentMethod: 'pm_card_chargeDeclinedStolenCard' })).toMatchObject({
      outcome: 'conflict',
      status: 409,
      field: 'paymentMethod',
    });

    // Act: a new payment method.
    const patched = await w.patch({ paymentMethod: 'pm_card_visa' });
    expect(patched).toMatchObject({ outcome: 'updated', changed: true });
    expect(patched).toMatchObject({ subscription: { dueAt: new Date(w.clock.now).toISOString() } });
    // Due at once: the next run (the next day's; today's is done) charges it.
    w.clock.now += DAY;
    await w.run();

    // Assess: charged at once, as attempt 1 with its own key.
    expect(asked()).toHaveLength(2);
    expect(asked()[1]).toMatchObject({ outcome: 'succeeded', paymentMethod: 'pm_card_visa' });
    expect(asked()[1]?.metadata.attempt).toBe('1');
    expect(asked()[1]?.idempotencyKey).not.toBe(asked()[0]?.idempotencyKey);
    const s = await w.get();
    expect(s).toMatchObject({ status: 'active', attempt: 0, cycle: 1 });
    expect(s.dunning).toBeUndefined();
  });

  it('takes the final action when the wait for a new payment method runs out', async () => {
    const w = await world({ paymentMethod: 'pm_card_chargeDeclinedExpiredCard' });
    await w.run();
    const waiting = await w.get();
    w.clock.now = Date.parse(waiting.dunning?.nextRetryAt ?? '') + 1000;
    const { result } = await w.run();
    expect(result).toBe('completed');
    const s = await w.get();
    expect(s).toMatchObject({ status: 'canceled', cancelReason: 'payment_failed' });
    expect(s.dueShard).toBeUndefined();
    expect(subscriptionView(s).cancelReason).toBe('dunning');
    expect(
      w.gateway.simulator.ledger().filter((entry) => entry.metadata.subscription_id === 's'),
    ).toHaveLength(1);
    const effects = emptyEffects();
    subscriptionChangeEffects(effects, waiting, s);
    expect(effects.events).toEqual([
      expect.objectContaining({
        type: 'subscription.canceled',
        data: expect.objectContaining({ reason: 'payment_failed' }),
      }),
    ]);
  });

  it('with DUNNING_FINAL_ACTION=unpaid, leaves it unpaid instead', async () => {
    const w = await world({ paymentMethod: 'pm_card_chargeDeclinedExpiredCard' });
    await w.run();
    const waiting = await w.get();
    const action = dueAction(
      waiting,
      new Date(Date.parse(waiting.dunning?.nextRetryAt ?? '') + 1).toISOString(),
      {
        finalAction: 'unpaid',
      },
    );
    expect(action).toMatchObject({
      kind: 'settle',
      next: { status: 'unpaid', changeType: 'subscription.updated' },
    });
  });
});

describe('pause and resume', () => {
  it('skips the periods that fall due while paused: not charged, not owed', async () => {
    // Prepare: charged for the first period, then paused.
    const w = await world();
    await w.run();
    const first = await w.get();
    expect(first.cycle).toBe(1);
    await w.patch({ pause: {} });
    expect((await w.get()).dueShard).toBeUndefined();
    expect(subscriptionView(await w.get())).toMatchObject({ status: 'paused', nextChargeAt: null });

    // Act: two due dates pass while paused.
    w.clock.now = Date.parse(first.nextChargeAt) + 1000;
    const { result } = await w.run();
    w.clock.now += 31 * DAY;
    await w.run();

    // Assess: nothing charged; resumed at the next period still ahead, then charged once for it.
    expect(result).toBe('completed');
    expect(w.gateway.moneyMoved({ subscription_id: 's' })).toHaveLength(1);
    const resumed = await w.patch({ pause: null });
    expect(resumed).toMatchObject({
      outcome: 'updated',
      subscription: { status: 'active', cycle: 3, attempt: 0 },
    });
    const s = await w.get();
    expect(Date.parse(s.nextChargeAt)).toBeGreaterThan(w.clock.now);
    w.clock.now = Date.parse(s.nextChargeAt) + 1000;
    await w.run();
    const moved = w.gateway.moneyMoved({ subscription_id: 's' });
    expect(moved.map((entry) => entry.metadata.period)).toEqual([
      first.anchor.slice(0, 10),
      s.nextChargeAt.slice(0, 10),
    ]);
  });

  it('resumes by itself at resumesAt, from the first period at or after it', async () => {
    const w = await world();
    await w.run();
    const first = await w.get();
    const resumesAt = new Date(Date.parse(first.nextChargeAt) + 10 * DAY).toISOString();
    await w.patch({ pause: { resumesAt } });
    expect((await w.get()).dueAt).toBe(resumesAt);
    // The skipped period's due date: not charged.
    w.clock.now = Date.parse(first.nextChargeAt) + 1000;
    await w.run();
    expect(w.gateway.moneyMoved({ subscription_id: 's' })).toHaveLength(1);
    // The run after resumesAt resumes it (its next period is a month later).
    w.clock.now = Date.parse(resumesAt) + 1000;
    await w.run();
    const s = await w.get();
    expect(s).toMatchObject({ status: 'active', cycle: 2, changeType: 'subscription.resumed' });
    expect(s.pause).toBeUndefined();
    expect(s.nextChargeAt > resumesAt).toBe(true);
    expect(w.gateway.moneyMoved({ subscription_id: 's' })).toHaveLength(1);
  });

  it('a pause written before the charge is asked wins: the claim is released and nothing is charged', async () => {
    const w = await world();
    const { run } = await w.trigger('primary', new Date(w.clock.now).toISOString());
    await w.step(run.runId, w.runQueue.messages.at(-1)?.message.owner ?? '');
    const claimed = await w.charges.listForSubscription('acme', 's');
    expect(claimed).toHaveLength(1);
    await w.patch({ pause: {} });
    await w.work();
    expect(w.gateway.simulator.ledger()).toHaveLength(0);
    expect(await w.charges.listForSubscription('acme', 's')).toHaveLength(0);
    // The holder counted its claim; the release took it back, and the stall sweep finds nothing owed.
    w.clock.now += 11 * 60_000;
    expect(await w.drain(run.runId, w.runQueue.messages.at(-1)?.message.owner ?? '')).toBe('completed');
  });
});

describe('a pause or a change between the ask’s mark and the ask', () => {
  /** A world whose charge of `s` is claimed, and whose next first-ask mark lets `between` write first after it. */
  async function markedThen(between: (w: Awaited<ReturnType<typeof world>>) => Promise<unknown>) {
    const w = await world();
    const claim = claimFor(await w.get(), runIdAt(T0), w.clock.now);
    await w.charges.claim(claim);
    const markFirstAsk = w.charges.markFirstAsk.bind(w.charges);
    w.charges.markFirstAsk = async (ref, at) => {
      const marked = await markFirstAsk(ref, at);
      await between(w);
      return marked;
    };
    return { w, claim, outcome: await processCharge(w.chargeDeps, claim) };
  }

  it('a pause written after the mark, before the subscription is read: seen, released, nothing sent', async () => {
    const { w, claim, outcome } = await markedThen((w) => w.patch({ pause: {} }));
    expect(outcome).toEqual({ outcome: 'released' });
    expect(w.gateway.calls.charge).toBe(0);
    expect(await w.charges.get(claim)).toBeUndefined();
  });

  it('an amount written after the mark, before the subscription is read: sent with the new amount', async () => {
    const { w, outcome } = await markedThen((w) => w.patch({ amount: 777 }));
    expect(outcome).toMatchObject({ outcome: 'succeeded' });
    expect(w.gateway.moneyMoved().map((entry) => entry.amount)).toEqual([777]);
  });
});

describe('endAt', () => {
  it('charges no period at or after endAt, then ends the subscription ("ended")', async () => {
    const w = await world({ interval: 'week' });
    await w.run();
    const first = await w.get();
    // Ends between the second and the third charge.
    const endAt = new Date(Date.parse(first.nextChargeAt) + 2 * DAY).toISOString();
    await w.patch({ endAt });
    w.clock.now = Date.parse(first.nextChargeAt) + 1000;
    await w.run();
    expect(w.gateway.moneyMoved({ subscription_id: 's' })).toHaveLength(2);
    expect(subscriptionView(await w.get()).nextChargeAt).toBeNull();
    const before = await w.get();
    w.clock.now = Date.parse(before.nextChargeAt) + 1000;
    const { result } = await w.run();
    expect(result).toBe('completed');
    expect(w.gateway.moneyMoved({ subscription_id: 's' })).toHaveLength(2);
    const ended = await w.get();
    expect(ended).toMatchObject({
      status: 'canceled',
      cancelReason: 'ended',
      canceledAt: before.nextChargeAt,
    });
    expect(subscriptionView(ended).cancelReason).toBe('ended');
    const effects = emptyEffects();
    subscriptionChangeEffects(effects, before, ended);
    expect(effects.events.map((event) => [event.type, (event.data as { reason: string }).reason])).toEqual([
      ['subscription.canceled', 'ended'],
    ]);
  });

  it('endAt: null takes the end back', async () => {
    const w = await world();
    await w.patch({ endAt: new Date(T0 + 40 * DAY).toISOString() });
    const result = await w.patch({ endAt: null });
    expect(result).toMatchObject({ outcome: 'updated', changed: true });
    expect((await w.get()).endAt).toBeUndefined();
  });
});

describe('changes racing the charge path (property)', () => {
  type Op = 'step' | 'work' | 'pause' | 'resume' | 'amount' | 'method' | 'day';
  it('never moves money twice for a charge, never charges a paused subscription after the pause was written before the ask, and loses no change', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Op>('step', 'work', 'pause', 'resume', 'amount', 'method', 'day'), {
          minLength: 4,
          maxLength: 24,
        }),
        async (ops) => {
          const w = await world();
          let owner = '';
          let runId = '';
          let amount = 1000;
          const startRun = async () => {
            const { run } = await w.trigger('primary', new Date(w.clock.now).toISOString());
            runId = run.runId;
            owner = w.runQueue.messages.at(-1)?.message.owner ?? owner;
          };
          await startRun();
          for (const op of ops) {
            if (op === 'step') await w.step(runId, owner);
            if (op === 'work') await w.work();
            if (op === 'pause') await w.patch({ pause: {} });
            if (op === 'resume') await w.patch({ pause: null });
            if (op === 'amount') {
              amount += 1;
              await w.patch({ amount });
            }
            if (op === 'method') await w.patch({ paymentMethod: `pm_card_${amount}` });
            if (op === 'day') {
              w.clock.now += 16 * DAY;
              await startRun();
            }
          }
          // Invariants: one successful PaymentIntent per (period, attempt), and each matches its claim's terms.
          const moved = w.gateway.moneyMoved({ subscription_id: 's' });
          const keys = moved.map((entry) => `${entry.metadata.period}#${entry.metadata.attempt}`);
          expect(new Set(keys).size).toBe(keys.length);
          for (const entry of moved) {
            const charge = (await w.charges.listForSubscription('acme', 's')).find(
              (c) => c.period === entry.metadata.period && String(c.attempt) === entry.metadata.attempt,
            );
            expect(charge).toMatchObject({ amount: entry.amount, paymentMethod: entry.paymentMethod });
          }
          // The last amount written is the subscription's: no change lost to a charge's outcome.
          expect((await w.get()).amount).toBe(amount);
          // A paused subscription has no charge asked after its pause was written (its due entry is gone).
          const s = await w.get();
          if (s.status === 'paused') expect(s.dueShard).toBeUndefined();
        },
      ),
      { numRuns: 60, verbose: 1 },
    );
  });
});
