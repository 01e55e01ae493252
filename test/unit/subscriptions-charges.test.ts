import {
  chargeRefFromString,
  chargeRefToString,
  claimFor,
  claimInHandOf,
  FRESH_CLAIM_MS,
  processCharge,
} from '../../lambdas/domain/subscriptions/charges';
import { buildDatafeed } from '../../lambdas/domain/subscriptions/datafeed';
import {
  chargeChangeEffects,
  emptyEffects,
  subscriptionChangeEffects,
} from '../../lambdas/domain/subscriptions/outbox';
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

describe('processCharge', () => {
  it('charges a claim once: a duplicate message asks the gateway nothing and changes nothing', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    const first = await processCharge(world.chargeDeps, ref);
    const again = await processCharge(world.chargeDeps, ref);
    expect(first).toEqual({ outcome: 'succeeded', repeated: false, applied: true });
    expect(again).toEqual({ outcome: 'succeeded', repeated: true, applied: false });
    expect(world.gateway.calls).toBe(1);
    expect(world.gateway.successfulCharges()).toEqual(['charge:acme:a:2026-03-10:0']);
  });

  it('keeps the same Idempotency-Key for a charge across retries and runs, and a new one per dunning attempt', async () => {
    const world = billingWorld();
    const { subscription, claim } = await claimed(world, 'a');
    expect(claimFor(subscription, 'another-run', T0 + 5000).idempotencyKey).toBe(claim.idempotencyKey);
    expect(claimFor({ ...subscription, attempt: 1 }, runId, T0).idempotencyKey).not.toBe(
      claim.idempotencyKey,
    );
  });

  it('leaves a charge pending when the answer is unknown, and takes the first answer when asked again', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    const normal = world.gateway.outcomeFor;
    world.gateway.outcomeFor = () => ({ kind: 'unknown', reason: 'timeout' });
    expect(await processCharge(world.chargeDeps, ref)).toEqual({ outcome: 'pending', reason: 'timeout' });
    expect((await world.charges.get(ref))?.status).toBe('pending');
    expect((await world.subscriptions.get('acme', 'a'))?.cycle).toBe(0);
    world.gateway.outcomeFor = normal;
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
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
    expect(world.gateway.calls).toBe(1);
    expect((await world.subscriptions.get('acme', 'a'))?.cycle).toBe(1);
  });

  it('records a charge the gateway made for a subscription canceled meanwhile, without reviving the subscription', async () => {
    const world = billingWorld();
    const { ref } = await claimed(world, 'a');
    await world.subscriptions.cancel('acme', 'a', {
      canceledAt: new Date(T0).toISOString(),
      eventId: 'evt_c',
    });
    expect(await processCharge(world.chargeDeps, ref)).toEqual({
      outcome: 'succeeded',
      repeated: false,
      applied: false,
    });
    expect((await world.subscriptions.get('acme', 'a'))?.status).toBe('canceled');
    expect((await world.charges.get(ref))?.change).toBeUndefined();
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
    expect(world.gateway.calls).toBe(0);
  });

  it('asks about a fresh claim in hand without reading it back; a copy after its resolution keeps the first', async () => {
    const world = billingWorld();
    const { ref, claim } = await claimed(world, 'a');
    // The charge path's own reads of the claim (the in-memory outbox reads it too, as a stream image would).
    let reads = 0;
    const charges = world.chargeDeps.charges;
    const deps = {
      ...world.chargeDeps,
      charges: {
        claim: (c: typeof claim) => charges.claim(c),
        withdraw: (r: typeof ref, id: string) => charges.withdraw(r, id),
        adopt: (r: typeof ref, from: string, to: string) => charges.adopt(r, from, to),
        resolve: (r: typeof ref, resolution: Parameters<typeof charges.resolve>[1]) =>
          charges.resolve(r, resolution),
        listForSubscription: (store: string, id: string) => charges.listForSubscription(store, id),
        getMany: (refs: readonly (typeof ref)[]) => charges.getMany(refs),
        get: (r: typeof ref) => {
          reads += 1;
          return charges.get(r);
        },
      },
    };
    const message = { ...ref, claim: claimInHandOf(claim) };

    const first = await processCharge(deps, message);
    expect(reads).toBe(0);
    // A copy of the message: the gateway is asked again with the same key and answers its first answer.
    const copy = await processCharge(world.chargeDeps, message);

    expect(first).toEqual({ outcome: 'succeeded', repeated: false, applied: true });
    expect(copy).toEqual({ outcome: 'succeeded', repeated: true, applied: false });
    expect(world.gateway.calls).toBe(2);
    expect(world.gateway.successfulCharges()).toEqual(['charge:acme:a:2026-03-10:0']);
    expect((await world.subscriptions.get('acme', 'a'))?.cycle).toBe(1);
  });

  it('reads the claim back when the claim in hand is older than FRESH_CLAIM_MS, and asks nothing once resolved', async () => {
    const world = billingWorld();
    const { ref, claim } = await claimed(world, 'a');
    const message = { ...ref, claim: claimInHandOf(claim) };
    await processCharge(world.chargeDeps, ref);
    world.clock.now = Date.parse(claim.claimedAt) + FRESH_CLAIM_MS;

    expect(await processCharge(world.chargeDeps, message)).toEqual({
      outcome: 'succeeded',
      repeated: true,
      applied: false,
    });
    expect(world.gateway.calls).toBe(1);
  });

  it('answers missing-claim for a claim in hand that was withdrawn meanwhile, and records nothing', async () => {
    const world = billingWorld();
    const { ref, claim } = await claimed(world, 'a');
    expect(await world.charges.withdraw(ref, runId)).toBe(true);

    expect(await processCharge(world.chargeDeps, { ...ref, claim: claimInHandOf(claim) })).toEqual({
      outcome: 'missing-claim',
    });
    expect(await world.charges.get(ref)).toBeUndefined();
    expect((await world.subscriptions.get('acme', 'a'))?.cycle).toBe(0);
    // Claimed again (the subscription is still due), the same key gets the gateway's first answer: one charge.
    await world.charges.claim(claim);
    expect(await processCharge(world.chargeDeps, ref)).toMatchObject({ outcome: 'succeeded' });
    expect(world.gateway.successfulCharges()).toEqual(['charge:acme:a:2026-03-10:0']);
  });

  it('round-trips charge references (store and subscription ids cannot hold its separators "#" and "|")', () => {
    const ref = { storeId: 'shop_1-a', subscriptionId: 'sub.odd:id-1_x', period: '2026-03-10', attempt: 3 };
    expect(chargeRefFromString(chargeRefToString(ref))).toEqual(ref);
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
      charge: { declineCode: 'card_declined' },
    });
    expect(once.counters.get(runId)).toEqual({ total: 0, succeeded: 0, failed: 1 });

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
