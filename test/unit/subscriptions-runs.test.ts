import { runFunctionSettings } from '../../lambdas/billing/adapters/run-settings';
import { claimFor } from '../../lambdas/billing/domain/charges/charge';
import { progressPointsToLog, runProgress } from '../../lambdas/billing/domain/runs/progress-log';
import { DEFAULT_RUN_SETTINGS } from '../../lambdas/billing/domain/runs/settings';
import { workOnRun } from '../../lambdas/billing/domain/runs/step';
import { runView } from '../../lambdas/billing/domain/runs/view';
import { RUN_FUNCTION_VARIABLES } from '../../lambdas/billing/function-variables';
import { ConfigError, readConfig } from '../../lambdas/platform/config';
import { billingWorld, T0 } from './support/billing-world';

const runId = new Date(T0).toISOString().slice(0, 10);
const DAY = 86_400_000;

describe('a subscription run', () => {
  it('charges every due subscription once, starts dunning on declines, then writes the datafeed and completes', async () => {
    // Prepare
    const world = billingWorld();
    for (const id of ['a', 'b', 'c', 'd', 'e']) await world.subscribe(id);
    await world.subscribe('declined', { paymentMethod: 'pm_card_chargeDeclined' });
    await world.subscribe('later', { startAt: new Date(T0 + 3_600_000).toISOString() });
    await world.subscribe('other-store', {}, 'other');

    // Act
    const { outcome } = await world.trigger();
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    const result = await world.drain(runId, owner);

    // Assess
    expect(outcome).toBe('started');
    expect(result).toBe('completed');
    expect(world.gateway.moneyMoved()).toHaveLength(6);
    const run = await world.runs.get(runId);
    expect(run).toMatchObject({ status: 'completed', total: 7, succeeded: 6, failed: 1, announced: true });
    expect(run?.stores).toEqual(['acme', 'other']);
    expect((await world.subscriptions.get('acme', 'a'))?.nextChargeAt).toBe('2026-04-10T11:59:00.000Z');
    expect(await world.subscriptions.get('acme', 'declined')).toMatchObject({
      status: 'past_due',
      attempt: 1,
    });
    expect(await world.subscriptions.get('acme', 'later')).toMatchObject({ cycle: 0, status: 'active' });
    const feed = await world.datafeeds.get(runId, 'acme');
    expect(feed?.match(/<subscription id=/g)).toHaveLength(6);
    expect(feed).toContain('status="failed"');
    expect(await world.datafeeds.get(runId, 'other')).toContain('<subscription id="other-store">');
    const ready = [...world.events.items.values()].filter(({ event }) => event.type === 'datafeed.ready');
    expect(ready.map(({ event }) => event.storeId).sort()).toEqual(['acme', 'other']);
  });

  it('answers a trigger for a live or done run with that run and starts no second pass', async () => {
    const world = billingWorld();
    await world.subscribe('a');
    await world.trigger('primary');
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    await world.step(runId, owner);

    const joined = await world.trigger('backup');
    expect(joined.outcome).toBe('joined');
    expect(world.runQueue.messages).toHaveLength(1);

    await world.drain(runId, owner);
    const again = await world.trigger('api');
    expect(again.outcome).toBe('completed');
    expect(world.runQueue.messages).toHaveLength(1);
    expect(world.charges.claims).toBe(1);
    expect((await world.runs.get(runId))?.triggers).toBe(3);
  });

  it('is taken over after its holder dies: the successor resumes from the checkpoint, the old holder is fenced', async () => {
    // Prepare: the first holder claims its first page, then dies before that page's checkpoint.
    const world = billingWorld({ leaseMs: 30_000 });
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) await world.subscribe(id);
    await world.trigger('primary');
    const first = world.runQueue.messages[0]?.message.owner ?? '';
    world.crashes.point = 'after-claims';
    await expect(world.step(runId, first)).rejects.toThrow('crash at after-claims');
    const cursorBefore = (await world.runs.get(runId))?.cursor;

    // Act: the lease expires; the backup trigger takes over.
    world.clock.now += 31_000;
    const backup = await world.trigger('backup');
    const second = world.runQueue.messages[1]?.message.owner ?? '';
    const completed = await world.drain(runId, second);
    const stale = await world.step(runId, first);

    // Assess
    expect(backup.outcome).toBe('resumed');
    expect(completed).toBe('completed');
    expect(stale).toBe('completed');
    expect(cursorBefore).toEqual({ shard: 0 });
    expect(world.gateway.moneyMoved()).toHaveLength(6);
    expect((await world.runs.get(runId))?.lease?.owner).toBe(second);
  });

  it('fences a holder whose lease was taken over mid-step: its writes change nothing', async () => {
    const world = billingWorld({ leaseMs: 30_000 });
    for (const id of ['a', 'b', 'c']) await world.subscribe(id);
    await world.trigger('primary');
    const first = world.runQueue.messages[0]?.message.owner ?? '';
    const held = (await world.runs.acquireLease(runId, first, world.clock.now, 30_000))?.lease?.version ?? 0;
    // A successor takes the lease over (the first holder stalled past its expiry).
    const successor = await world.runs.acquireLease(runId, 'successor', world.clock.now + 31_000, 30_000);
    expect(successor?.lease).toMatchObject({ owner: 'successor', version: held + 1 });

    const saved = await world.runs.saveProgress(
      { runId, owner: first, version: held },
      { cursor: { shard: 9 }, leaseExpiresAt: 0, updatedAt: '' },
    );
    expect(saved).toBeUndefined();
    expect((await world.runs.get(runId))?.cursor).toEqual({ shard: 0 });
  });

  it('withdraws the claims a holder made after losing its lease, and sends none of them', async () => {
    // Claims are plain conditional puts fenced as a page: one heartbeat after them. A holder that stalls between
    // its claims and that heartbeat, while a successor takes over, must leave nothing claimed for the run.
    const world = billingWorld({ leaseMs: 30_000 });
    for (const id of ['a', 'b', 'c']) await world.subscribe(id);
    await world.trigger('primary');
    const first = world.runQueue.messages[0]?.message.owner ?? '';
    world.stalls['after-claims'] = async () => {
      world.clock.now += 31_000;
      expect((await world.trigger('backup')).outcome).toBe('resumed');
      const successor = world.runQueue.messages[1]?.message.owner ?? '';
      expect(await world.runs.acquireLease(runId, successor, world.clock.now, 30_000)).toBeDefined();
    };

    expect(await world.step(runId, first)).toBe('fenced');
    // Its first page (the subscriptions of the first non-empty due shard) was claimed, then withdrawn.
    expect(world.charges.claims).toBeGreaterThan(0);
    expect(world.charges.items.size).toBe(0);
    expect(world.chargeQueue.take()).toHaveLength(0);

    const second = world.runQueue.messages[1]?.message.owner ?? '';
    expect(await world.drain(runId, second)).toBe('completed');
    expect(world.gateway.moneyMoved()).toHaveLength(3);
    expect(world.gateway.calls.charge).toBe(3);
    expect(await world.runs.get(runId)).toMatchObject({ status: 'completed', total: 3, succeeded: 3 });
  });

  it('adopts a pending claim its run completed without (a stale holder crashed before withdrawing it)', async () => {
    // Prepare: the run of the day completes; then a pending claim of that run appears, as a holder that lost its
    // lease and crashed before withdrawing its claim would leave it.
    const world = billingWorld();
    await world.subscribe('a');
    await world.trigger('primary');
    expect(await world.drain(runId, world.runQueue.messages[0]?.message.owner ?? '')).toBe('completed');
    const orphan = await world.subscribe('orphan', { startAt: new Date(T0 - 30_000).toISOString() });
    expect((await world.charges.claim(claimFor(orphan, runId, world.clock.now))).claimed).toBe(true);

    // Act: the next day's run.
    world.clock.now += 86_400_000;
    const nextRunId = new Date(world.clock.now).toISOString().slice(0, 10);
    await world.trigger('primary', new Date(world.clock.now).toISOString());
    const owner = world.runQueue.messages[1]?.message.owner ?? '';
    expect(await world.drain(nextRunId, owner)).toBe('completed');

    // Assess: charged once, in the next run's counts and datafeed; the completed run's counts unchanged.
    expect(world.gateway.moneyMoved()).toHaveLength(2);
    const charge = (await world.charges.listForSubscription('acme', 'orphan'))[0];
    expect(charge).toMatchObject({ status: 'succeeded', runId: nextRunId, adoptedFrom: runId });
    expect(await world.runs.get(runId)).toMatchObject({ total: 1, succeeded: 1 });
    expect(await world.runs.get(nextRunId)).toMatchObject({ status: 'completed', total: 1, succeeded: 1 });
    expect(await world.datafeeds.get(nextRunId, 'acme')).toContain('<subscription id="orphan">');
  });

  it('sends a page whose holder died after its checkpoint and before its messages, by the stall sweep', async () => {
    // The page's checkpoint is its claims' fence, so it is saved before their messages are sent.
    const world = billingWorld({ leaseMs: 30_000, stallSweepMs: 60_000 });
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) await world.subscribe(id);
    await world.trigger('primary');
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    const send = world.chargeQueue.send.bind(world.chargeQueue);
    world.chargeQueue.send = async () => {
      world.chargeQueue.send = send;
      throw new Error('crash before the messages');
    };
    await expect(world.step(runId, owner)).rejects.toThrow('crash before the messages');
    expect((await world.runs.get(runId))?.claimed).toBeGreaterThan(0);

    world.clock.now += 31_000;
    expect((await world.trigger('backup')).outcome).toBe('resumed');
    const successor = world.runQueue.messages[1]?.message.owner ?? '';
    for (let round = 0; round < 5; round += 1) {
      await world.step(runId, successor);
      await world.work();
      world.clock.now += 61_000;
    }
    expect(await world.drain(runId, successor)).toBe('completed');
    expect(world.gateway.moneyMoved()).toHaveLength(6);
    expect(await world.runs.get(runId)).toMatchObject({ total: 6, succeeded: 6 });
  });

  it('does not complete while a charge is pending at the gateway, and resolves it later with the same key', async () => {
    const world = billingWorld({ stallSweepMs: 60_000 });
    await world.subscribe('a');
    await world.subscribe('stuck');
    world.gateway.faultFor = (request) =>
      request.metadata.subscription_id === 'stuck' ? { kind: 'hang' } : { kind: 'none' };
    await world.trigger('primary');
    const owner = world.runQueue.messages[0]?.message.owner ?? '';

    for (let i = 0; i < 5; i += 1) {
      expect(await world.step(runId, owner)).toBe('continue');
      await world.work();
    }
    const pending = await world.runs.get(runId);
    expect(pending).toMatchObject({ status: 'running', total: 2, succeeded: 1 });
    expect(runView(pending as NonNullable<typeof pending>, world.clock.now).pending).toBe(1);
    expect(world.datafeeds.feeds.size).toBe(0);

    // The gateway recovers; the stall sweep sends the charge again, with the same key.
    world.gateway.faultFor = () => ({ kind: 'none' });
    world.clock.now += 61_000;
    expect(await world.drain(runId, owner)).toBe('completed');
    expect(world.gateway.moneyMoved({ subscription_id: 'stuck' })).toHaveLength(1);
  });

  it('charges a subscription that became due after enumeration passed it, in the same run', async () => {
    const world = billingWorld();
    await world.subscribe('a');
    await world.trigger('primary');
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    await world.step(runId, owner);
    await world.subscribe('late', { startAt: new Date(T0 - 120_000).toISOString() });
    expect(await world.drain(runId, owner)).toBe('completed');
    expect(world.gateway.moneyMoved()).toHaveLength(2);
    expect((await world.runs.get(runId))?.total).toBe(2);
  });

  it('writes the datafeeds before completing, and announces after: a crash between is repaired by the next step', async () => {
    const world = billingWorld();
    await world.subscribe('a');
    await world.trigger('primary');
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    world.crashes.point = 'after-complete';
    await expect(world.drain(runId, owner)).rejects.toThrow('crash at after-complete');
    expect((await world.runs.get(runId))?.status).toBe('completed');
    expect([...world.events.items.values()].some(({ event }) => event.type === 'datafeed.ready')).toBe(false);

    expect(await world.step(runId, owner)).toBe('completed');
    await world.step(runId, owner);
    const ready = [...world.events.items.values()].filter(({ event }) => event.type === 'datafeed.ready');
    expect(ready).toHaveLength(1);
  });

  // Defect 2: the sweep counted a due subscription held by an earlier run's pending claim as owed.
  it('never holds a later run for an earlier run’s unanswered charge', async () => {
    const world = billingWorld({ stallSweepMs: 60_000 });
    await world.subscribe('stuck');
    world.gateway.faultFor = (request) =>
      request.metadata.subscription_id === 'stuck' ? { kind: 'hang' } : { kind: 'none' };
    await world.trigger('primary');
    const first = world.runQueue.messages.at(-1)?.message.owner ?? '';
    for (let i = 0; i < 3; i += 1) {
      await world.step(runId, first);
      await world.work();
    }
    // The next day: the stuck charge is still unanswered, so its subscription is still due; another falls due.
    world.clock.now += DAY;
    await world.subscribe('b', { startAt: new Date(world.clock.now - 60_000).toISOString() });
    await world.trigger('primary');
    const nextRunId = new Date(world.clock.now).toISOString().slice(0, 10);
    const second = world.runQueue.messages.at(-1)?.message.owner ?? '';
    expect(await world.drain(nextRunId, second)).toBe('completed');
    expect(await world.runs.get(nextRunId)).toMatchObject({ total: 1, succeeded: 1 });
    expect(world.datafeeds.feeds.has(`${nextRunId}/acme`)).toBe(true);
    // The earlier run still waits for its own charge, and the later one sent it again on its way.
    expect((await world.runs.get(runId))?.status).toBe('running');
    expect(world.gateway.moneyMoved({ subscription_id: 'stuck' })).toHaveLength(0);
  });

  // Defect 3: a `processing` answer is an answer for the run.
  it('completes with a processing charge counted as processing, which settles after the run', async () => {
    const world = billingWorld();
    await world.subscribe('debit', { paymentMethod: 'pm_test_processing_succeeds' });
    await world.subscribe('card');
    await world.trigger();
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    expect(await world.drain(runId, owner)).toBe('completed');
    const run = await world.runs.get(runId);
    expect(run).toMatchObject({ total: 2, succeeded: 1, processing: 1 });
    expect(runView(run as NonNullable<typeof run>, world.clock.now)).toMatchObject({
      pending: 0,
      processing: 1,
    });
    const processing = [...world.events.items.values()].filter(
      ({ event }) => event.type === 'subscription.payment_processing',
    );
    expect(processing).toHaveLength(1);
    // The poll comes back after PAYMENT_PROCESSING_POLL and records the settlement.
    world.clock.now += 15 * 60_000;
    await world.work();
    expect((await world.charges.listForSubscription('acme', 'debit'))[0]?.status).toBe('succeeded');
    expect(world.gateway.calls.charge).toBe(2);
  });

  // Suspected and confirmed: the stall sweep read the whole due index in one step, whatever the step's deadline.
  it('stops a sweep at the step’s deadline and goes on from its cursor in the next step', async () => {
    const world = billingWorld({ stallSweepMs: 60_000, pageSize: 2 });
    for (let i = 0; i < 24; i += 1) await world.subscribe(`s${i}`);
    world.gateway.faultFor = () => ({ kind: 'hang' });
    await world.trigger();
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    // Each page of the due index takes 10 s (a large table under a gateway outage); a step has 60 s.
    const slow = {
      ...world.runDeps,
      due: {
        page: async (...args: Parameters<typeof world.subscriptions.page>) => {
          world.clock.now += 10_000;
          return world.subscriptions.page(...args);
        },
      },
    };
    const step = () => workOnRun(slow, { runId, owner }, world.clock.now + 60_000);
    while (!(await world.runs.get(runId))?.enumerated) await step();
    await world.work();
    world.clock.now += 61_000;
    const started = world.clock.now;
    expect(await step()).toBe('continue');
    // One page past the deadline at most, not the 16 shards' worth of pages.
    expect(world.clock.now - started).toBeLessThanOrEqual(70_000);
    const cut = await world.runs.get(runId);
    expect(cut?.sweep?.cursor.shard).toBeGreaterThan(0);
    for (let i = 0; i < 10 && (await world.runs.get(runId))?.sweep; i += 1) await step();
    expect((await world.runs.get(runId))?.sweep ?? null).toBeNull();
    expect((await world.runs.get(runId))?.lastSweepAt).toBeGreaterThan(started);
  });

  // Suspected and confirmed: a trigger whose first step message was lost left the run idle until its lease expired
  // and a later schedule fired (hours, for the backup schedule).
  it('sends the first step again when a trigger finds the run untouched since a trigger whose send failed', async () => {
    const world = billingWorld();
    await world.subscribe('a');
    const send = world.runQueue.send.bind(world.runQueue);
    world.runQueue.send = async () => {
      throw new Error('SQS unavailable');
    };
    await expect(world.trigger('primary')).rejects.toThrow('SQS unavailable');
    world.runQueue.send = send;
    // Within a few seconds the first step may simply not have been received yet: nothing is sent again.
    expect((await world.trigger('backup')).outcome).toBe('joined');
    expect(world.runQueue.messages).toHaveLength(0);
    world.clock.now += 10_000;
    expect((await world.trigger('backup')).outcome).toBe('joined');
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    expect(owner).toBe((await world.runs.get(runId))?.lease?.owner);
    expect(await world.drain(runId, owner)).toBe('completed');
  });
});

describe('run progress', () => {
  it('shows a moving rate over recent samples and an ETA from it', async () => {
    const world = billingWorld();
    await world.subscribe('a');
    await world.trigger();
    const run = await world.runs.get(runId);
    const base = { ...(run as NonNullable<typeof run>), total: 100, succeeded: 30, failed: 10 };
    const now = T0 + 10 * 60_000;
    const view = runView(
      {
        ...base,
        samples: [
          { at: now - 120_000, done: 20 },
          { at: now - 60_000, done: 30 },
        ],
      },
      now,
    );
    expect(view).toMatchObject({ pending: 60, ratePerMinute: 10, etaSeconds: 360 });
    const stalled = runView({ ...base, samples: [{ at: now - 20 * 60_000, done: 40 }] }, now);
    expect(stalled).toMatchObject({ ratePerMinute: 0, etaSeconds: null });
  });

  it('logs progress points from the steps, and shows them from (startedAt, 0) to the completion', async () => {
    const world = billingWorld();
    for (const id of ['a', 'b', 'c']) await world.subscribe(id);
    await world.trigger();
    const owner = world.runQueue.messages[0]?.message.owner ?? '';
    expect(await world.drain(runId, owner)).toBe('completed');

    const run = (await world.runs.get(runId)) as NonNullable<Awaited<ReturnType<typeof world.runs.get>>>;
    const logged = await world.runs.progressLog(runId);
    expect(logged.length).toBeGreaterThan(0);
    expect(run.progressLogged).toEqual(logged.at(-1));
    const progress = runProgress(run, logged);
    expect(progress[0]).toEqual({ at: run.startedAt, answered: 0 });
    expect(progress.at(-1)).toEqual({ at: run.completedAt, answered: 3 });
    for (const [index, point] of progress.entries()) {
      if (index === 0) continue;
      const previous = progress[index - 1] as (typeof progress)[number];
      expect(Date.parse(point.at)).toBeGreaterThan(Date.parse(previous.at));
      expect(point.answered).toBeGreaterThanOrEqual(previous.answered);
    }
  });

  it('logs a moved count at most every hundredth of the run’s age (at least 10 s apart): a few hundred points', () => {
    const startedAt = new Date(T0).toISOString();
    const due = (logged: { at: number; done: number } | undefined, now: number, done: number) =>
      progressPointsToLog({ startedAt, progressLogged: logged, samples: [] }, now, done);
    expect(due(undefined, T0, 0)).toEqual([{ at: T0, done: 0 }]);
    expect(due({ at: T0, done: 0 }, T0 + 9_999, 5)).toEqual([]);
    expect(due({ at: T0, done: 0 }, T0 + 10_000, 5)).toEqual([{ at: T0 + 10_000, done: 5 }]);
    // Nothing moved: nothing to log, however long ago the last point was.
    expect(due({ at: T0, done: 5 }, T0 + 3_600_000, 5)).toEqual([]);
    // Two hours in: a point every 72 s.
    const twoHours = T0 + 2 * 3_600_000;
    expect(due({ at: twoHours - 71_000, done: 1 }, twoHours, 2)).toEqual([]);
    expect(due({ at: twoHours - 72_000, done: 1 }, twoHours, 2)).toHaveLength(1);
    // A heartbeat every 2 s over 4 hours, the count moving at each, logs a few hundred points.
    let logged: { at: number; done: number } | undefined;
    let points = 0;
    for (let now = T0, done = 0; now <= T0 + 4 * 3_600_000; now += 2_000, done += 1) {
      const added = due(logged, now, done);
      if (added.length === 0) continue;
      logged = { at: now, done };
      points += added.length;
    }
    expect(points).toBeGreaterThan(300);
    expect(points).toBeLessThan(400);
  });

  it('logs the end of a stall with the point that ends it, so the chart draws a stall flat', () => {
    const startedAt = new Date(T0).toISOString();
    const stalledUntil = T0 + 600_000;
    const points = progressPointsToLog(
      {
        startedAt,
        progressLogged: { at: T0 + 60_000, done: 40 },
        samples: [
          { at: T0 + 500_000, done: 40 },
          { at: stalledUntil, done: 40 },
        ],
      },
      stalledUntil + 5_000,
      55,
    );
    expect(points).toEqual([
      { at: stalledUntil, done: 40 },
      { at: stalledUntil + 5_000, done: 55 },
    ]);
  });

  it('shows a log written out of order, twice, or by a late holder as one rising line', () => {
    const run = {
      runId,
      startedAt: new Date(T0).toISOString(),
      updatedAt: new Date(T0 + 60_000).toISOString(),
      status: 'running',
      total: 10,
      succeeded: 6,
      failed: 1,
    } as unknown as Parameters<typeof runProgress>[0];
    const progress = runProgress(run, [
      { at: T0 + 30_000, done: 5 },
      { at: T0 + 10_000, done: 2 },
      { at: T0 + 30_000, done: 5 },
      { at: T0 + 40_000, done: 4 },
      { at: T0 - 5_000, done: 1 },
      { at: T0 + 90_000, done: 9 },
    ]);
    expect(progress).toEqual([
      { at: new Date(T0).toISOString(), answered: 0 },
      { at: new Date(T0 + 10_000).toISOString(), answered: 2 },
      { at: new Date(T0 + 30_000).toISOString(), answered: 5 },
      { at: new Date(T0 + 40_000).toISOString(), answered: 5 },
      { at: new Date(T0 + 60_000).toISOString(), answered: 7 },
    ]);
  });
});

describe('the run function settings', () => {
  const resources = {
    RUNS_TABLE_NAME: 'Runs',
    SUBSCRIPTIONS_TABLE_NAME: 'Subscriptions',
    CHARGES_TABLE_NAME: 'Charges',
    EVENTS_TABLE_NAME: 'Events',
    RUNS_QUEUE_URL: 'https://sqs.example/runs',
    CHARGES_QUEUE_URL: 'https://sqs.example/charges',
    DATAFEEDS_BUCKET_NAME: 'datafeeds',
    PAYMENT_GATEWAY_API_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:gateway',
    MANAGE_LINK_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:manage-links',
    PUBLIC_API_URL: 'https://api.example.com',
  };

  it('defaults to the domain defaults when no tuning variable is set', () => {
    expect(runFunctionSettings(readConfig(RUN_FUNCTION_VARIABLES, resources))).toEqual({
      run: DEFAULT_RUN_SETTINGS,
      pollSeconds: 5,
      stepMarginMs: 10_000,
    });
  });

  it('reads each tuning variable in its unit, and refuses one that does not parse, naming it', () => {
    const config = readConfig(RUN_FUNCTION_VARIABLES, {
      ...resources,
      RUN_LEASE_SECONDS: '10',
      RUN_DEADLINE_MINUTES: '90',
      RUN_PAGE_SIZE: '25',
      RUN_STALL_SWEEP_SECONDS: '120',
      RUN_SWEEP_INTERVAL_SECONDS: '0',
      RUN_POLL_SECONDS: '1',
      RUN_STEP_MARGIN_MS: '2000',
    });
    expect(runFunctionSettings(config)).toEqual({
      run: {
        leaseMs: 10_000,
        deadlineMs: 90 * 60_000,
        pageSize: 25,
        stallSweepMs: 120_000,
        sweepIntervalMs: 0,
      },
      pollSeconds: 1,
      stepMarginMs: 2_000,
    });
    expect(() => readConfig(RUN_FUNCTION_VARIABLES, { ...resources, RUN_LEASE_SECONDS: '0' })).toThrow(
      ConfigError,
    );
    expect(() => readConfig(RUN_FUNCTION_VARIABLES, { ...resources, RUN_PAGE_SIZE: 'many' })).toThrow(
      /RUN_PAGE_SIZE/,
    );
  });
});
