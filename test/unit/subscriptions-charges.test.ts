import { outcomeOf } from '../../lambdas/billing/adapters/stripe-payment-gateway';
import { cancelSubscription } from '../../lambdas/billing/domain/cancel';
import {
  chargeRefFromString,
  chargeRefToString,
  claimFor,
} from '../../lambdas/billing/domain/charges/charge';
import { consumeChargeMessage } from '../../lambdas/billing/domain/charges/consumer';
import { DEFAULT_CHARGE_SETTINGS, processCharge } from '../../lambdas/billing/domain/charges/process';
import { buildDatafeed } from '../../lambdas/billing/domain/datafeed';
import {
  chargeChangeEffects,
  emptyEffects,
  subscriptionChangeEffects,
} from '../../lambdas/billing/domain/outbox-effects';
import { billingWorld, T0 } from './support/billing-world';

const runId = '2026-03-10';

async function claimed(world: ReturnType<typeof billingWorld>, id: string, overrides = {}) {
  const subscription = await world.subscribe(id, overrides);
  const claim = claimFor(subscription, runId, T0);
  await world.charges.claim(claim);
  return {
    subscription,
    claim,
    ref: { storeId: 'acme', subscriptionId: id, period: claim.period, attempt: 0 },
  };
}

const HOUR = 3_600_000;
const keyOf = (id: string) => `charge:acme:${id}:2026-03-10:0`;
/** The keys of the PaymentIntents that moved money at the gateway. */
const movedKeys = (world: ReturnType<typeof billingWorld>) =>
  world.gateway.moneyMoved().map((entry) => entry.idempotencyKey);

describe('processCharge', () => {
  it('charges a claim once: a duplicate message asks the gateway nothing and changes nothing', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    const first = await processCharge(world.chargeDeps, ref);
    const again = await processCharge(world.chargeDeps, ref);
    expect(first).toEqual({ outcome: 'succeeded', repeated: false, applied: true });
    expect(again).toEqual({ outcome: 'succeeded', repeated: true, applied: false });
    expect(world.gateway.calls.charge).toBe(1);
    expect(movedKeys(world)).toEqual([keyOf('a')]);
  });

  it('sends the metadata the reconciliation and the search find a charge by (store, subscription, period, attempt)', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    await processCharge(world.chargeDeps, ref);
    expect(world.gateway.moneyMoved()[0]?.metadata).toEqual({
      store_id: 'acme',
      subscription_id: 'a',
      period: '2026-03-10',
      attempt: '0',
    });
  });

  it('keeps the same Idempotency-Key for a charge across retries and runs, and a new one per dunning attempt', async () => {
    const world = billingWorld();
    const { subscription, claim } = await claimed(world, 'a');
    expect(claimFor(subscription, 'another-run', T0 + 5000).idempotencyKey).toBe(claim.idempotencyKey);
    expect(claimFor({ ...subscription, attempt: 1 }, runId, T0).idempotencyKey).not.toBe(
      claim.idempotencyKey,
    );
  });

  it('leaves a charge pending when the request hangs, and takes the first answer when asked again', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'commit-then-hang' };
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({
      outcome: 'pending',
      cause: 'timeout',
    });
    expect((await world.charges.get(ref))?.status).toBe('pending');
    expect((await world.subscriptions.get('acme', 'a'))?.cycle).toBe(0);
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
    expect(movedKeys(world)).toEqual([keyOf('a')]);
  });

  // Defect 1: Stripe stores a 5xx under its key and replays it; asking again under the same key can never tell.
  it('reconciles a charge whose key replays a stored 5xx by search: the PaymentIntent the 5xx hid is its answer', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'error500', commit: true };
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'pending' });
    // Asked again: the gateway replays the 500, so the charge is looked up, not asked under another key.
    world.clock.now += 2 * 60_000;
    expect(await processCharge(world.chargeDeps, ref)).toEqual({
      outcome: 'succeeded',
      repeated: false,
      applied: true,
    });
    expect(world.gateway.calls.search).toBe(1);
    expect(movedKeys(world)).toEqual([keyOf('a')]);
    expect((await world.charges.get(ref))?.paymentIntentId).toBe(
      world.gateway.moneyMoved()[0]?.paymentIntentId,
    );
  });

  it('asks under a new key derived from the charge only once a search, believed after its delay, finds nothing', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'error500' };
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'pending' });
    // Replayed 500, search finds nothing yet: too soon to believe it.
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({
      outcome: 'pending',
      cause: 'search-not-settled',
    });
    expect(world.gateway.calls.charge).toBe(2);
    world.clock.now += DEFAULT_CHARGE_SETTINGS.searchSettleMs;
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
    const charge = await world.charges.get(ref);
    expect(charge).toMatchObject({ keyGeneration: 1, idempotencyKey: `${keyOf('a')}:k1` });
    expect(movedKeys(world)).toEqual([`${keyOf('a')}:k1`]);
  });

  it('never sends a key older than 23 h again: Stripe prunes keys after 24 h, and the first ask may have charged', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    // The first ask charged, but its answer was lost; the charge then waited (a gateway outage, a stuck DLQ).
    world.gateway.nextFault = { kind: 'commit-then-hang' };
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'pending' });
    world.clock.now += 25 * HOUR;
    // Before the fix the same key was sent again, and the gateway (key pruned) charged a second time.
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
    expect(world.gateway.calls.charge).toBe(1);
    expect(world.gateway.moneyMoved({ subscription_id: 'a' })).toHaveLength(1);
  });

  it('asks a key just under 23 h old with the same key, and reconciles it a minute past 23 h', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'hang' };
    await processCharge(world.chargeDeps, ref);
    world.clock.now += 23 * HOUR - 60_000;
    world.gateway.nextFault = { kind: 'hang' };
    await processCharge(world.chargeDeps, ref);
    expect(world.gateway.calls).toMatchObject({ charge: 2, search: 0 });
    world.clock.now += 2 * 60_000;
    // Not sent again: looked up, and nothing found is believed only once the last ask has surely ended.
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ cause: 'search-not-settled' });
    expect(world.gateway.calls).toMatchObject({ charge: 2, search: 1 });
    world.clock.now += DEFAULT_CHARGE_SETTINGS.searchSettleMs;
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
    // Nothing was found: the second generation's key was asked, once.
    expect(world.gateway.calls).toMatchObject({ charge: 3, search: 2 });
    expect(movedKeys(world)).toEqual([`${keyOf('a')}:k1`]);
  });

  it('keeps the charge pending, unasked, when the gateway refuses the API key (401), and asks once it works', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    const key = world.gateway.apiKey;
    world.gateway.apiKey = 'sk_revoked';
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'refused' });
    expect((await world.charges.get(ref))?.status).toBe('pending');
    world.gateway.apiKey = key;
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
  });

  // Defect 3: a `processing` PaymentIntent (a bank debit) was mapped to a decline, and dunning charged again.
  it('records `processing` as its own status, polls it by id until it settles, and never asks again', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a', { paymentMethod: 'pm_test_processing_succeeds' });
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'processing', repeated: false });
    expect(await world.charges.get(ref)).toMatchObject({ status: 'processing' });
    expect((await world.subscriptions.get('acme', 'a'))?.status).toBe('active');
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'processing', repeated: true });
    world.clock.now += 60_000;
    expect(await processCharge(world.chargeDeps, ref)).toEqual({
      outcome: 'succeeded',
      repeated: false,
      applied: true,
    });
    expect(world.gateway.calls).toMatchObject({ charge: 1, retrieve: 2 });
    expect((await world.subscriptions.get('acme', 'a'))?.cycle).toBe(1);
  });

  it('records a processing debit that fails as a decline, then dunning', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a', { paymentMethod: 'pm_test_processing_fails' });
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'processing' });
    world.clock.now += 60_000;
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'failed' });
    expect(await world.charges.get(ref)).toMatchObject({ status: 'failed', declineCode: 'generic_decline' });
    expect((await world.subscriptions.get('acme', 'a'))?.status).toBe('past_due');
    expect(world.gateway.calls.charge).toBe(1);
  });

  it('applies a recorded outcome that did not reach its subscription (a crash between the two writes)', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    const apply = world.subscriptions.applyChange.bind(world.subscriptions);
    world.subscriptions.applyChange = async () => {
      throw new Error('crash before the subscription write');
    };
    await expect(processCharge(world.chargeDeps, ref)).rejects.toThrow('crash');
    world.subscriptions.applyChange = apply;
    expect(await processCharge(world.chargeDeps, ref)).toEqual({
      outcome: 'succeeded',
      repeated: true,
      applied: true,
    });
    expect(world.gateway.calls.charge).toBe(1);
    expect((await world.subscriptions.get('acme', 'a'))?.cycle).toBe(1);
  });

  // Defect 5: the subscription used to be read only after the gateway answered.
  it('releases the claim of a subscription canceled before the ask, and charges nothing', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    await world.subscriptions.cancel('acme', 'a', {
      canceledAt: new Date(T0).toISOString(),
      eventId: 'evt_c',
    });
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'released' });
    expect(await world.charges.get(ref)).toBeUndefined();
    expect(world.gateway.calls.charge).toBe(0);
    expect(await world.work()).toEqual([]);
  });

  // Found by the chaos test: the subscription was read before the ask was marked, and a cancel written in between
  // (its release then failing on the mark) was charged.
  it('sees a cancel written between the ask’s mark and the ask: reads the subscription after the mark', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    const markFirstAsk = world.charges.markFirstAsk.bind(world.charges);
    world.charges.markFirstAsk = async (r, at) => {
      const marked = await markFirstAsk(r, at);
      // DELETE /v1/subscriptions/a lands right here: its release fails (the claim is marked asked).
      await cancelSubscription(world, 'acme', 'a', { canceledAt: at, eventId: 'evt_c' });
      return marked;
    };
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'released' });
    expect(world.gateway.calls.charge).toBe(0);
    expect(await world.charges.get(ref)).toBeUndefined();
  });

  it('a cancel written before the ask’s mark releases the claim itself: the mark finds none', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    const markFirstAsk = world.charges.markFirstAsk.bind(world.charges);
    world.charges.markFirstAsk = async (r, at) => {
      await cancelSubscription(world, 'acme', 'a', { canceledAt: at, eventId: 'evt_c' });
      return markFirstAsk(r, at);
    };
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'missing-claim' });
    expect(world.gateway.calls.charge).toBe(0);
  });

  it('cancelSubscription releases a claim nobody asked about yet, so its message finds nothing to charge', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    await cancelSubscription(world, 'acme', 'a', {
      canceledAt: new Date(T0).toISOString(),
      eventId: 'evt_c',
    });
    expect(await world.charges.get(ref)).toBeUndefined();
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'missing-claim' });
    expect(world.gateway.calls.charge).toBe(0);
  });

  it('a cancel after the ask does not release the claim: what the ask did is found and recorded', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'commit-then-hang' };
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'pending' });
    await cancelSubscription(world, 'acme', 'a', {
      canceledAt: new Date(T0).toISOString(),
      eventId: 'evt_c',
    });
    expect((await world.charges.get(ref))?.status).toBe('pending');
    world.clock.now += DEFAULT_CHARGE_SETTINGS.searchSettleMs;
    // Not asked again (the subscription no longer owes it): found by search, recorded, the subscription untouched.
    expect(await processCharge(world.chargeDeps, ref)).toEqual({
      outcome: 'succeeded',
      repeated: false,
      applied: false,
    });
    expect(world.gateway.calls).toMatchObject({ charge: 1, search: 1 });
    expect((await world.subscriptions.get('acme', 'a'))?.status).toBe('canceled');
  });

  it('releases an asked claim of a canceled subscription once a believed search shows the ask moved nothing', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'hang' };
    await processCharge(world.chargeDeps, ref);
    await cancelSubscription(world, 'acme', 'a', {
      canceledAt: new Date(T0).toISOString(),
      eventId: 'evt_c',
    });
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ cause: 'search-not-settled' });
    world.clock.now += DEFAULT_CHARGE_SETTINGS.searchSettleMs;
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'released' });
    expect(world.gateway.moneyMoved()).toHaveLength(0);
  });

  it('answers missing-claim for a message without a claim (runs claim before they send)', async () => {
    const world = billingWorld();
    await world.subscribe('a');
    expect(
      await processCharge(world.chargeDeps, {
        storeId: 'acme',
        subscriptionId: 'a',
        period: '2026-03-10',
        attempt: 0,
      }),
    ).toEqual({ outcome: 'missing-claim' });
    expect(world.gateway.calls.charge).toBe(0);
  });

  // Defect 4: a fresh message asked the gateway without reading its claim, which a fenced holder had withdrawn.
  it('answers missing-claim for a claim withdrawn before the ask, and asks nothing', async () => {
    const world = billingWorld();
    const { ref, claim } = await claimed(world, 'a');
    expect(await world.charges.withdraw(ref, runId)).toBe(true);
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'missing-claim' });
    expect(world.gateway.calls.charge).toBe(0);
    // Claimed again (the subscription is still due), the same key gets the gateway's first answer: one charge.
    await world.charges.claim(claim);
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
    expect(movedKeys(world)).toEqual([keyOf('a')]);
  });

  it('cannot withdraw (or release) a claim once asked: money that moved always keeps its record', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    world.gateway.nextFault = { kind: 'commit-then-hang' };
    await processCharge(world.chargeDeps, ref);
    expect(await world.charges.withdraw(ref, runId)).toBe(false);
    expect(await world.charges.release(ref)).toBe(false);
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
    const [moved] = world.gateway.moneyMoved();
    expect(await world.charges.get(ref)).toMatchObject({
      status: 'succeeded',
      paymentIntentId: moved?.paymentIntentId,
    });
  });

  it("never takes an answer that does not carry the charge's metadata, nor an unknown status, as an outcome", () => {
    const metadata = { store_id: 'acme', subscription_id: 'a', period: '2026-03-10', attempt: '0' };
    const intent = { id: 'pi_1', object: 'payment_intent', amount: 1, currency: 'usd', created: 1, metadata };
    expect(outcomeOf({ ...intent, status: 'succeeded', metadata: {} }, metadata)).toMatchObject({
      kind: 'unknown',
      cause: 'foreign-metadata',
    });
    expect(outcomeOf({ ...intent, status: 'requires_action' }, metadata)).toMatchObject({
      kind: 'unknown',
      cause: 'unknown-status',
    });
    expect(outcomeOf('<html>', metadata)).toMatchObject({ kind: 'unknown', cause: 'malformed' });
    expect(outcomeOf({ ...intent, status: 'succeeded' }, metadata)).toEqual({
      kind: 'succeeded',
      paymentIntentId: 'pi_1',
    });
  });

  it('round-trips charge references (store and subscription ids cannot hold its separators "#" and "|")', () => {
    const ref = { storeId: 'shop_1-a', subscriptionId: 'sub.odd:id-1_x', period: '2026-03-10', attempt: 3 };
    expect(chargeRefFromString(chargeRefToString(ref))).toEqual(ref);
  });
});

describe('the charge consumer', () => {
  it('retries an unknown answer with doubling delays, then leaves it on the dead-letter queue', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    const queue = { retryLater: jest.fn(async () => {}), sendToDeadLetter: jest.fn(async () => {}) };
    world.gateway.nextFault = { kind: 'hang' };
    const message = { ...ref, runId, retries: 0 };
    expect(await consumeChargeMessage({ ...world.chargeDeps, queue }, message)).toMatchObject({
      next: 'retry',
    });
    expect(queue.retryLater).toHaveBeenCalledWith({ ...message, retries: 1 }, 5);
    world.gateway.nextFault = { kind: 'hang' };
    expect(
      await consumeChargeMessage(
        { ...world.chargeDeps, queue, consumer: { maxRetries: 1 } },
        { ...message, retries: 1 },
      ),
    ).toMatchObject({ next: 'dead-letter' });
  });

  it('sends a refused key to the dead-letter queue at once, and polls a processing charge after PAYMENT_PROCESSING_POLL', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a', { paymentMethod: 'pm_test_processing_succeeds' });
    const queue = { retryLater: jest.fn(async () => {}), sendToDeadLetter: jest.fn(async () => {}) };
    const message = { ...ref, runId, retries: 0 };
    const key = world.gateway.apiKey;
    world.gateway.apiKey = 'sk_revoked';
    expect(await consumeChargeMessage({ ...world.chargeDeps, queue }, message)).toMatchObject({
      next: 'dead-letter',
    });
    expect(queue.retryLater).not.toHaveBeenCalled();
    world.gateway.apiKey = key;
    const deps = { ...world.chargeDeps, queue, consumer: { processingPollMs: 30 * 60_000 } };
    expect(await consumeChargeMessage(deps, message)).toMatchObject({ next: 'poll' });
    // Longer than SQS's 15-minute delay: chained through `notBefore`.
    expect(queue.retryLater).toHaveBeenLastCalledWith(
      { ...message, retries: 0, notBefore: T0 + 30 * 60_000 },
      900,
    );
    world.clock.now += 15 * 60_000;
    expect(await consumeChargeMessage(deps, { ...message, notBefore: T0 + 30 * 60_000 })).toEqual({
      kind: 'deferred',
    });
    expect(world.gateway.calls.retrieve).toBe(0);
  });
});

describe('the billing outbox', () => {
  it('announces each fact once, under an id fixed by the fact', async () => {
    const world = billingWorld();
    const { subscription, claim, ref } = await claimed(world, 'a', {
      paymentMethod: 'pm_card_chargeDeclined',
    });
    await processCharge(world.chargeDeps, ref);
    const failed = await world.charges.get(ref);

    const once = emptyEffects();
    chargeChangeEffects(once, claim, failed);
    const twice = emptyEffects();
    chargeChangeEffects(twice, claim, failed);
    expect(once.events.map((event) => event.type)).toEqual(['subscription.payment_failed']);
    expect(twice.events[0]?.id).toBe(once.events[0]?.id);
    expect(once.events[0]?.data).toMatchObject({
      dunning: { attempt: 1 },
      charge: { declineCode: 'generic_decline' },
    });
    expect(once.counters.get(runId)).toEqual({ total: 0, succeeded: 0, failed: 1, processing: 0 });

    const created = emptyEffects();
    subscriptionChangeEffects(created, undefined, subscription);
    expect(created.events).toMatchObject([{ id: 'evt_created_a', type: 'subscription.created' }]);
  });

  it('announces dunning’s final cancellation beside the failure, and a requested cancellation from the subscription', async () => {
    const world = billingWorld();
    const subscription = await world.subscribe('a', { paymentMethod: 'pm_card_chargeDeclined' });
    const last = { ...subscription, attempt: 2, status: 'past_due' as const };
    world.subscriptions.items.set('acme#a', last);
    const claim = claimFor(last, runId, T0);
    await world.charges.claim(claim);
    await processCharge(world.chargeDeps, {
      storeId: 'acme',
      subscriptionId: 'a',
      period: claim.period,
      attempt: 2,
    });
    const failed = await world.charges.get({
      storeId: 'acme',
      subscriptionId: 'a',
      period: claim.period,
      attempt: 2,
    });
    const effects = emptyEffects();
    chargeChangeEffects(effects, claim, failed);
    expect(effects.events.map((event) => event.type)).toEqual([
      'subscription.payment_failed',
      'subscription.canceled',
    ]);
    expect(effects.events[1]?.data).toMatchObject({ reason: 'payment_failed' });

    const active = await world.subscribe('b');
    const canceled = await world.subscriptions.cancel('acme', 'b', {
      canceledAt: 'now',
      eventId: 'evt_cancel_b',
    });
    const requested = emptyEffects();
    if (canceled.outcome === 'canceled') subscriptionChangeEffects(requested, active, canceled.subscription);
    expect(requested.events).toMatchObject([
      { id: 'evt_cancel_b', type: 'subscription.canceled', data: { reason: 'requested' } },
    ]);
  });
});

describe('the datafeed', () => {
  it('is well-formed XML holding every charge of the store, with hostile text escaped', async () => {
    const world = billingWorld();
    const { claim } = await claimed(world, 'a');
    const xml = buildDatafeed({
      runId,
      storeId: 'acme',
      generatedAt: 'now',
      charges: [
        { ...claim, status: 'succeeded', paymentIntentId: 'pi_<&>"\'' },
        { ...claim, subscriptionId: 'b', status: 'failed', declineCode: 'x\u0001y' },
        { ...claim, storeId: 'other', subscriptionId: 'c' },
      ],
    });
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<subscription_datafeed ')).toBe(true);
    expect(xml).toContain('<subscription id="a">');
    expect(xml).toContain('payment_intent="pi_&lt;&amp;&gt;&quot;&apos;"');
    expect(xml).toContain('decline_code="xy"');
    expect(xml).not.toContain('id="c"');
    expect(
      xml.match(/<charge period="2026-03-10" status="(succeeded|failed)" amount="1000" currency="USD"/g),
    ).toHaveLength(2);
    // Balanced: every opened subscription element is closed.
    expect(xml.match(/<subscription /g)?.length).toBe(xml.match(/<\/subscription>/g)?.length);
  });
});
