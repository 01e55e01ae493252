import { Webhook } from 'standardwebhooks';
import { newEventId } from '../../lambdas/events/domain/events';
import { delaySeconds } from '../../lambdas/webhooks/adapters/sqs-delivery-queue';
import {
  Delivery,
  type DeliveryDependencies,
  LEASE_GRACE_MS,
  MAX_INVOCATION_MS,
} from '../../lambdas/webhooks/domain/delivery';
import { deliverBatch } from '../../lambdas/webhooks/domain/delivery-batch';
import { type AttemptResult, CoolDowns } from '../../lambdas/webhooks/domain/delivery-policy';
import { MAX_RECORD_FOLLOW_UPS } from '../../lambdas/webhooks/domain/delivery-records';
import type { Endpoint } from '../../lambdas/webhooks/domain/endpoints';
import { CachedEndpoints, ENDPOINT_CACHE_TTL_MS } from '../../lambdas/webhooks/domain/fanout';
import { type DeliveryMessage, parseDeliveryRecord } from '../../lambdas/webhooks/domain/messages';
import { FakeClock } from './support/clock';
import { silentLogger } from './support/logger';
import {
  endpointFixture,
  eventFixture,
  FakeDeliveryQueue,
  InMemoryAttemptsRepository,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
  Io,
  RecordingMetrics,
  ScriptedSender,
  TEST_SECRET,
} from './support/webhook-fakes';

const START = Date.parse('2024-06-01T12:00:00.000Z');
const SCHEDULE = [0, 5_000, 300_000, 1_800_000];
const DAY = 86_400_000;

function setUp(script: ConstructorParameters<typeof ScriptedSender>[0], endpoint: Partial<Endpoint> = {}) {
  const io = new Io();
  const clock = new FakeClock(START);
  const events = new InMemoryEventsRepository(io);
  const endpoints = new InMemoryEndpointsRepository(io);
  const attempts = new InMemoryAttemptsRepository(io);
  const queue = new FakeDeliveryQueue();
  const sender = new ScriptedSender(script);
  const metrics = new RecordingMetrics();
  const recorded = metrics.attempts;
  const event = eventFixture(newEventId(START - 1_000));
  events.seed(event, 'transaction');
  endpoints.seed(endpointFixture(endpoint));
  const deps: DeliveryDependencies = {
    endpoints: new CachedEndpoints(endpoints, { now: clock.now }),
    endpointWrites: endpoints,
    events,
    attempts,
    queue,
    sender,
    metrics,
    logger: silentLogger,
    retryScheduleMs: SCHEDULE,
    disableAfterMs: 5 * DAY,
    now: clock.now,
    random: () => 0.5,
    sleep: async () => {},
  };
  const message: DeliveryMessage = {
    storeId: 'store_1',
    endpointId: 'ep_1',
    eventId: event.id,
    attempt: 1,
    notBefore: START,
  };
  return { io, clock, events, endpoints, attempts, queue, sender, metrics, recorded, event, deps, message };
}

const ok: AttemptResult = { status: 200, durationMs: 42 };
const serverError: AttemptResult = { status: 500, durationMs: 30, error: 'HTTP 500' };
const timeout: AttemptResult = { durationMs: 15_000, error: 'timeout' };

describe('Delivery', () => {
  it('a first-attempt success POSTs a verifiable Standard Webhooks request and costs two writes: lease, record', async () => {
    const t = setUp([ok]);
    const result = await new Delivery(t.deps).deliver(t.message);

    expect(result).toEqual({ kind: 'attempted', outcome: 'succeeded' });
    expect(t.io.writes).toBe(2);
    expect(t.io.reads).toBe(2); // the endpoint (cached after) and the event, not embedded in this message
    expect(t.attempts.leases.size).toBe(0);
    expect(t.attempts.attempts).toEqual([
      {
        endpointId: 'ep_1',
        eventId: t.event.id,
        attempt: 1,
        status: 'succeeded',
        trigger: 'scheduled',
        responseStatus: 200,
        durationMs: 42,
        at: new Date(START).toISOString(),
      },
    ]);
    expect(t.queue.sent).toEqual([]);
    expect(t.recorded).toEqual([{ succeeded: true, durationMs: 42 }]);

    const [request] = t.sender.requests;
    expect(request?.url).toBe('https://hooks.example.com/in');
    expect(JSON.parse(request?.body ?? '')).toEqual(t.event);
    expect(request?.headers['webhook-id']).toBe(t.event.id);
    // Any Standard Webhooks verifier accepts it (the library checks the timestamp against its own clock).
    const verifier = new Webhook(TEST_SECRET);
    jest.useFakeTimers({ now: START, doNotFake: ['nextTick', 'setImmediate'] });
    try {
      expect(verifier.verify(request?.body ?? '', { ...request?.headers })).toEqual(t.event);
    } finally {
      jest.useRealTimers();
    }
  });

  it('a redelivered message after a success sends nothing again', async () => {
    const t = setUp([ok]);
    const delivery = new Delivery(t.deps);
    await delivery.deliver(t.message);
    const again = await delivery.deliver(t.message);

    expect(again).toEqual({ kind: 'already-delivered' });
    expect(t.sender.requests).toHaveLength(1);
    expect(t.attempts.attempts).toHaveLength(1);
  });

  it('sends an embedded event without reading it, and still takes the lease first', async () => {
    const t = setUp([ok]);
    const delivery = new Delivery(t.deps);
    const claims = jest.spyOn(t.attempts, 'claim');
    const eventReads = jest.spyOn(t.deps.events, 'get');
    await delivery.deliver({ ...t.message, event: t.event });
    expect(claims).toHaveBeenCalledTimes(1);
    expect(eventReads).not.toHaveBeenCalled();
    expect(t.sender.requests).toHaveLength(1);

    // A duplicate of the message (a retried fan-out sends one as a new message) sends nothing again.
    expect(await delivery.deliver({ ...t.message, event: t.event })).toEqual({ kind: 'already-delivered' });
    expect(t.sender.requests).toHaveLength(1);
  });

  it('a replay of a delivered event is a new delivery (its own replayId)', async () => {
    const t = setUp([ok]);
    const delivery = new Delivery(t.deps);
    await delivery.deliver(t.message);
    await delivery.deliver({ ...t.message, replayId: 'rpl_1' });
    await delivery.deliver({ ...t.message, replayId: 'rpl_1' });

    expect(t.sender.requests).toHaveLength(2);
    expect(t.sender.requests[1]?.headers['webhook-id']).toBe(t.event.id);
    expect(t.attempts.attempts[1]).toMatchObject({ replayId: 'rpl_1', status: 'succeeded' });
  });

  it('a failure records the attempt, starts the failure run and schedules the next attempt with its delay', async () => {
    const t = setUp([{ ...serverError, responseBody: 'boom' }]);
    const result = await new Delivery(t.deps).deliver(t.message);

    expect(result).toEqual({ kind: 'attempted', outcome: 'retry' });
    expect(t.attempts.attempts[0]).toMatchObject({
      status: 'failed',
      responseStatus: 500,
      error: 'HTTP 500',
    });
    expect(t.queue.sent).toEqual([{ ...t.message, attempt: 2, notBefore: START + 5_000 }]);
    expect(t.endpoints.items.get('store_1#ep_1')?.failingSince).toBe(new Date(START).toISOString());
    // The lease is given back: the retry (or a copy) can take it at once.
    expect(t.attempts.leases.size).toBe(0);
    expect(t.recorded).toEqual([{ succeeded: false, durationMs: 30 }]);
  });

  it('a success after failures ends the failure run', async () => {
    const t = setUp([ok], { failingSince: new Date(START - DAY).toISOString() });
    await new Delivery(t.deps).deliver(t.message);

    expect(t.endpoints.items.get('store_1#ep_1')?.failingSince).toBeUndefined();
    expect(t.io.writes).toBe(3);
  });

  it('a failure of the last attempt goes to the dead-letter queue with its reason', async () => {
    const t = setUp([serverError]);
    const last = { ...t.message, attempt: SCHEDULE.length };
    const result = await new Delivery(t.deps).deliver(last);

    expect(result).toEqual({ kind: 'attempted', outcome: 'exhausted' });
    expect(t.queue.deadLettered).toEqual([{ message: last, reason: 'HTTP 500' }]);
    expect(t.queue.sent).toEqual([]);
    expect(t.attempts.attempts[0]).toMatchObject({ attempt: SCHEDULE.length, status: 'failed' });
  });

  it('410 disables the endpoint (gone) and ends its retries', async () => {
    const t = setUp([{ status: 410, durationMs: 5, error: 'HTTP 410' }]);
    const delivery = new Delivery(t.deps);
    const result = await delivery.deliver(t.message);

    expect(result).toEqual({ kind: 'attempted', outcome: 'gone' });
    expect(t.endpoints.items.get('store_1#ep_1')).toMatchObject({
      status: 'disabled',
      disabledReason: 'gone',
    });
    expect(t.queue.sent).toEqual([]);
    expect(t.queue.deadLettered).toEqual([]);
    // Its next message, in this environment too, finds it disabled.
    const next = await delivery.deliver({ ...t.message, eventId: newEventId(START) });
    expect(next).toEqual({ kind: 'skipped', reason: 'endpoint disabled (gone)' });
  });

  it('429 with Retry-After schedules the next attempt when the receiver asked', async () => {
    const t = setUp([{ status: 429, durationMs: 5, error: 'HTTP 429', retryAfter: '30' }]);
    await new Delivery(t.deps).deliver(t.message);
    expect(t.queue.sent).toEqual([{ ...t.message, attempt: 2, notBefore: START + 30_000 }]);
  });

  it.each<[string, Partial<Endpoint> | undefined]>([
    ['endpoint gone', undefined],
    ['endpoint disabled (manual)', { status: 'disabled', disabledReason: 'manual' }],
  ])('%s: finishes without an attempt', async (reason, endpoint) => {
    const t = setUp([ok], endpoint ?? {});
    if (!endpoint) t.endpoints.items.clear();
    const result = await new Delivery(t.deps).deliver(t.message);

    expect(result).toEqual({ kind: 'skipped', reason });
    expect(t.sender.requests).toEqual([]);
    expect(t.io.writes).toBe(0);
  });

  it('an event the endpoint no longer subscribes to is not sent', async () => {
    const t = setUp([ok], { events: ['subscription.charged'] });
    const result = await new Delivery(t.deps).deliver(t.message);
    expect(result).toMatchObject({ kind: 'skipped' });
    expect(t.sender.requests).toEqual([]);
  });

  it('a message whose event does not exist fails (it is retried, then kept on the DLQ)', async () => {
    const t = setUp([ok]);
    t.events.items.clear();
    await expect(new Delivery(t.deps).deliver(t.message)).rejects.toThrow(/not found/);
  });

  it('a delay longer than SQS allows is chained: a 2 h wait travels as messages of at most 15 minutes', async () => {
    const t = setUp([ok]);
    const delivery = new Delivery(t.deps);
    let message: DeliveryMessage = { ...t.message, attempt: 3, notBefore: START + 2 * 3_600_000 };
    const hops: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const result = await delivery.deliver(message);
      if (result.kind !== 'deferred') break;
      const resent = t.queue.sent.at(-1);
      if (!resent) throw new Error('nothing re-sent');
      expect(resent).toEqual(message);
      // What SQS applies, as the queue adapter computes it.
      const delay = delaySeconds(resent, t.clock.time);
      hops.push(delay);
      t.clock.advance(delay * 1000);
      message = resent;
    }
    expect(hops).toEqual([900, 900, 900, 900, 900, 900, 900, 900]);
    expect(t.sender.requests).toHaveLength(1);
    expect(t.clock.time).toBe(START + 2 * 3_600_000);
  });

  it('a message up to a second early is delivered now', async () => {
    const t = setUp([ok]);
    const result = await new Delivery(t.deps).deliver({ ...t.message, notBefore: START + 900 });
    expect(result).toMatchObject({ kind: 'attempted' });
  });

  it('cooling down: after a timeout, the endpoint’s other messages move to their next attempt without an attempt', async () => {
    const t = setUp([timeout, ok]);
    const delivery = new Delivery(t.deps);
    await delivery.deliver(t.message);
    t.clock.advance(1_000);
    const other = { ...t.message, eventId: newEventId(START) };
    t.events.seed({ ...t.event, id: other.eventId });
    const result = await delivery.deliver(other);

    expect(result).toEqual({ kind: 'cooling-down' });
    expect(t.sender.requests).toHaveLength(1);
    expect(t.queue.sent.at(-1)).toEqual({
      ...other,
      attempt: 2,
      notBefore: t.clock.time + 5_000,
    });

    // Other endpoints are not affected, and once the window is over the endpoint is tried again.
    t.clock.advance(5_000);
    expect(await delivery.deliver(other)).toEqual({ kind: 'attempted', outcome: 'succeeded' });
  });

  it('cooling down never skips the last attempt: nothing goes to the DLQ untried', async () => {
    const coolDowns = new CoolDowns();
    const t = setUp([ok]);
    coolDowns.start('ep_1', START);
    const result = await new Delivery({ ...t.deps, coolDowns }).deliver({
      ...t.message,
      attempt: SCHEDULE.length,
    });
    expect(result).toEqual({ kind: 'attempted', outcome: 'succeeded' });
  });

  it('an endpoint that has only failed for WEBHOOK_DISABLE_AFTER is disabled (failing) and its retries end', async () => {
    // WEBHOOK_DISABLE_AFTER, plus the window in which a success may not have seen failingSince (see below).
    const t = setUp([serverError], {
      failingSince: new Date(START - 5 * DAY - ENDPOINT_CACHE_TTL_MS - MAX_INVOCATION_MS).toISOString(),
    });
    const result = await new Delivery(t.deps).deliver(t.message);

    expect(result).toEqual({ kind: 'attempted', outcome: 'disabled-failing' });
    expect(t.endpoints.items.get('store_1#ep_1')).toMatchObject({
      status: 'disabled',
      disabledReason: 'failing',
    });
    expect(t.queue.sent).toEqual([]);
  });

  it('an endpoint failing for less than WEBHOOK_DISABLE_AFTER stays enabled', async () => {
    const t = setUp([serverError], { failingSince: new Date(START - 5 * DAY + 1).toISOString() });
    await new Delivery(t.deps).deliver(t.message);
    expect(t.endpoints.items.get('store_1#ep_1')?.status).toBe('enabled');
    expect(t.queue.sent).toHaveLength(1);
  });

  it('a slow endpoint does not delay another endpoint’s delivery processed at the same time', async () => {
    const t = setUp([ok]);
    t.endpoints.seed(endpointFixture({ id: 'ep_slow', url: 'https://slow.example.com/' }));
    let releaseSlow: (result: AttemptResult) => void = () => {};
    const sender = new ScriptedSender([
      (url) =>
        url.includes('slow')
          ? new Promise<AttemptResult>((resolve) => (releaseSlow = resolve))
          : Promise.resolve(ok),
    ]);
    const delivery = new Delivery({ ...t.deps, sender });

    const slow = delivery.deliver({ ...t.message, endpointId: 'ep_slow' });
    const fast = await delivery.deliver(t.message);
    expect(fast).toEqual({ kind: 'attempted', outcome: 'succeeded' });
    expect(t.attempts.attempts.map((a) => a.endpointId)).toEqual(['ep_1']);

    releaseSlow(timeout);
    expect(await slow).toEqual({ kind: 'attempted', outcome: 'retry' });
  });

  it('concurrent messages for one endpoint read it once (per-environment cache)', async () => {
    const t = setUp([ok]);
    const delivery = new Delivery(t.deps);
    const ids = [newEventId(START), newEventId(START), newEventId(START)];
    for (const id of ids) t.events.seed({ ...t.event, id });
    const before = t.io.reads;
    await Promise.all(ids.map((eventId) => delivery.deliver({ ...t.message, eventId })));
    // Per message: its event; the endpoint once.
    expect(t.io.reads - before).toBe(ids.length + 1);
  });
});

describe('Delivery: a webhook is sent once, whatever copies of its message exist', () => {
  /** Two execution environments over the same tables: each with its own endpoint cache and cool-downs. */
  function twoEnvironments(t: ReturnType<typeof setUp>, sender = t.sender) {
    const env = () =>
      new Delivery({ ...t.deps, sender, endpoints: new CachedEndpoints(t.endpoints, { now: t.clock.now }) });
    return [env(), env()] as const;
  }

  it('a copy that came first and succeeded ends the original, though the original was received once', async () => {
    // Regression: a fan-out's second pass can send its copy before the first pass's message is processed; the
    // original (receive count 1, unmarked) skipped the check and sent the webhook again.
    const t = setUp([ok]);
    const delivery = new Delivery(t.deps);
    expect(await delivery.deliver(t.message, { receiveCount: 1 })).toMatchObject({ outcome: 'succeeded' });
    expect(await delivery.deliver(t.message, { receiveCount: 1 })).toEqual({ kind: 'already-delivered' });
    expect(t.sender.requests).toHaveLength(1);
  });

  it(
    'two copies in flight at once, each received once (SQS at-least-once delivery: ' +
      'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html): ' +
      'one sends, the other waits for its lease',
    async () => {
      // SQS keeps copies of a message on several servers, and a copy on one that missed the receive or the
      // delete is delivered again; nothing there promises that copy a receive count above 1.
      let answer: (result: AttemptResult) => void = () => {};
      const sender = new ScriptedSender([() => new Promise<AttemptResult>((resolve) => (answer = resolve))]);
      const t = setUp([ok]);
      const [first, second] = twoEnvironments(t, sender);
      const deadline = START + 60_000;

      const sending = first.deliver(t.message, { messageId: 'm-1', receiveCount: 1, deadline });
      await new Promise((resolve) => setImmediate(resolve));
      expect(sender.requests).toHaveLength(1);
      expect(await second.deliver(t.message, { messageId: 'm-1', receiveCount: 1, deadline })).toEqual({
        kind: 'held',
      });
      // Re-queued with its attempt, until the first copy's lease ends.
      expect(t.queue.sent).toEqual([{ ...t.message, notBefore: deadline + LEASE_GRACE_MS }]);
      expect(t.metrics.counts).toEqual(['DeliveryCopyHeld']);

      answer(ok);
      expect(await sending).toEqual({ kind: 'attempted', outcome: 'succeeded' });
      t.clock.advance(60_000 + LEASE_GRACE_MS);
      const held = t.queue.sent[0] as DeliveryMessage;
      expect(await second.deliver(held, { receiveCount: 1 })).toEqual({ kind: 'already-delivered' });
      expect(sender.requests).toHaveLength(1);
    },
  );

  it('a 2xx whose record write fails once is recorded by the retry in the same invocation, and not sent again', async () => {
    // Regression: the handler threw, the message came back, found no success and sent the webhook again.
    const t = setUp([ok]);
    const record = jest
      .spyOn(t.attempts, 'record')
      .mockRejectedValueOnce(
        Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }),
      );
    const delivery = new Delivery(t.deps);
    expect(await delivery.deliver(t.message)).toEqual({ kind: 'attempted', outcome: 'succeeded' });
    expect(record).toHaveBeenCalledTimes(2);
    expect(await delivery.deliver(t.message, { receiveCount: 2 })).toEqual({ kind: 'already-delivered' });
    expect(t.sender.requests).toHaveLength(1);
  });

  it('a 2xx whose record keeps failing is handed to a record-only follow-up; copies wait for it; never a resend', async () => {
    const t = setUp([ok]);
    const throttled = Object.assign(new Error('throttled'), {
      name: 'ProvisionedThroughputExceededException',
    });
    const record = jest.spyOn(t.attempts, 'record');
    for (let i = 0; i < 3; i++) record.mockRejectedValueOnce(throttled);
    const delivery = new Delivery(t.deps);

    // The message itself succeeds (it is deleted): failing it would send the webhook again.
    expect(await delivery.deliver(t.message, { deadline: START + 60_000 })).toEqual({
      kind: 'attempted',
      outcome: 'succeeded',
      recordDeferred: true,
    });
    const followUp = t.queue.sent[0] as DeliveryMessage;
    expect(followUp).toEqual({
      storeId: 'store_1',
      endpointId: 'ep_1',
      eventId: t.event.id,
      attempt: 1,
      recordOnly: { responseStatus: 200, durationMs: 42, at: new Date(START).toISOString(), tries: 0 },
    });
    expect(t.metrics.counts).toEqual(['DeliveryRecordDeferred']);

    // A copy meanwhile finds the lease still held (the holder's invocation ended, but the grace has not).
    t.clock.advance(120_000);
    expect(await delivery.deliver(t.message, { receiveCount: 1 })).toEqual({ kind: 'held' });
    expect(await delivery.deliver(followUp)).toEqual({ kind: 'recorded' });
    expect(await delivery.deliver(t.message, { receiveCount: 1 })).toEqual({ kind: 'already-delivered' });
    expect(t.sender.requests).toHaveLength(1);
    expect(t.attempts.attempts).toEqual([
      expect.objectContaining({ status: 'succeeded', responseStatus: 200 }),
    ]);
  });

  it('a follow-up that cannot record re-sends itself later and later, then fails to the DLQ', async () => {
    const t = setUp([ok]);
    jest.spyOn(t.attempts, 'record').mockRejectedValue(new Error('InternalServerError'));
    const delivery = new Delivery(t.deps);
    let followUp: DeliveryMessage = {
      ...t.message,
      recordOnly: { responseStatus: 204, durationMs: 5, at: new Date(START).toISOString(), tries: 0 },
    };
    const delays: number[] = [];
    for (let tries = 1; tries < MAX_RECORD_FOLLOW_UPS; tries++) {
      expect(await delivery.deliver(followUp)).toEqual({ kind: 'record-deferred' });
      followUp = t.queue.sent.at(-1) as DeliveryMessage;
      expect(followUp.recordOnly?.tries).toBe(tries);
      delays.push((followUp.notBefore ?? 0) - t.clock.time);
      t.clock.time = followUp.notBefore ?? 0;
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000]);
    await expect(delivery.deliver(followUp)).rejects.toThrow(/could not be recorded/);
    expect(t.sender.requests).toEqual([]);
  });

  it('a lease whose holder is gone (it died before its POST) is taken over once its lease ends', async () => {
    const t = setUp([ok]);
    const ref = { endpointId: 'ep_1', eventId: t.event.id };
    const until = START + 60_000;
    await t.attempts.claim(
      ref,
      { holder: 'dead', until, attempt: 1, at: new Date(START).toISOString() },
      START,
    );
    const delivery = new Delivery(t.deps);

    expect(await delivery.deliver(t.message)).toEqual({ kind: 'held' });
    t.clock.time = until;
    expect(await delivery.deliver(t.message)).toEqual({ kind: 'attempted', outcome: 'succeeded' });
    expect(t.metrics.counts).toEqual(['DeliveryCopyHeld', 'DeliveryLeaseTakenOver']);
    expect(t.sender.requests).toHaveLength(1);
  });

  it('a holder that outlived its lease and then fails does not free the lease of the copy that took over', async () => {
    const answers: ((result: AttemptResult) => void)[] = [];
    const sender = new ScriptedSender([() => new Promise<AttemptResult>((resolve) => answers.push(resolve))]);
    const t = setUp([ok]);
    const late = new Delivery({ ...t.deps, sender });
    const next = new Delivery({
      ...t.deps,
      sender,
      endpoints: new CachedEndpoints(t.endpoints, { now: t.clock.now }),
    });
    const settle = () => new Promise((resolve) => setImmediate(resolve));

    const lateResult = late.deliver(t.message, { deadline: START });
    await settle();
    t.clock.time = START + LEASE_GRACE_MS;
    const nextResult = next.deliver(t.message, { deadline: t.clock.time + 60_000 });
    await settle();
    expect(t.metrics.counts).toEqual(['DeliveryLeaseTakenOver']);

    answers[0]?.(serverError);
    expect(await lateResult).toMatchObject({ outcome: 'retry' });
    expect([...t.attempts.leases.values()]).toEqual([
      expect.objectContaining({ until: START + LEASE_GRACE_MS + 60_000 + LEASE_GRACE_MS }),
    ]);
    answers[1]?.(ok);
    expect(await nextResult).toMatchObject({ outcome: 'succeeded' });
  });
});

describe('Delivery: endpoint health seen by several environments', () => {
  it('a success through a view cached before another environment set failingSince does not get the endpoint disabled early', async () => {
    // Regression: environment B starts a failure run; environment A, whose cached view predates it, succeeds and
    // (to spare a write per success) does not clear it; five days of failures later B disabled the endpoint as
    // failing five days after the run began, although it had succeeded after that. A success can miss
    // failingSince only within a cache TTL plus one invocation of it being set: the disable waits that much more.
    const t = setUp([ok]);
    const failing = new ScriptedSender([serverError]);
    const a = new Delivery({ ...t.deps, endpoints: new CachedEndpoints(t.endpoints, { now: t.clock.now }) });
    const b = new Delivery({
      ...t.deps,
      sender: failing,
      endpoints: new CachedEndpoints(t.endpoints, { now: t.clock.now }),
    });
    const other = (id: string) => {
      t.events.seed({ ...t.event, id });
      return { ...t.message, eventId: id, event: { ...t.event, id } };
    };

    await a.deliver(other(newEventId(START))); // A caches the healthy endpoint.
    t.clock.advance(1_000);
    await b.deliver(other(newEventId(START))); // B: failingSince = now.
    const failingSince = t.endpoints.items.get('store_1#ep_1')?.failingSince;
    t.clock.advance(1_000);
    expect(await a.deliver(other(newEventId(START)))).toMatchObject({ outcome: 'succeeded' });
    expect(t.endpoints.items.get('store_1#ep_1')?.failingSince).toBe(failingSince);

    t.clock.advance(5 * DAY);
    expect(await b.deliver(other(newEventId(START)))).toMatchObject({ outcome: 'retry' });
    expect(t.endpoints.items.get('store_1#ep_1')?.status).toBe('enabled');

    // Once every success since then would have cleared it, only failures are left: disabled.
    t.clock.advance(ENDPOINT_CACHE_TTL_MS + MAX_INVOCATION_MS);
    expect(await b.deliver(other(newEventId(START)))).toMatchObject({ outcome: 'disabled-failing' });
  });
});

describe('deliverBatch', () => {
  const record = (messageId: string, body: unknown, receiveCount = '1') => ({
    messageId,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: { ApproximateReceiveCount: receiveCount },
  });

  it('runs a batch and reports what could not be parsed or threw, by message id', async () => {
    const t = setUp([ok]);
    const missing = { ...t.message, eventId: newEventId(START) };
    const response = await deliverBatch(
      new Delivery(t.deps),
      [
        record('m1', t.message),
        record('m2', '{not json'),
        record('m3', { attempt: 1 }),
        record('m4', missing),
      ].map(parseDeliveryRecord),
      { deadline: START + 60_000 },
    );
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm2' }, { itemIdentifier: 'm3' }, { itemIdentifier: 'm4' }],
    });
    expect(t.sender.requests).toHaveLength(1);
  });

  it('takes each lease until the invocation’s deadline plus the grace', async () => {
    const t = setUp([() => new Promise<AttemptResult>(() => {})]);
    void deliverBatch(new Delivery(t.deps), [parseDeliveryRecord(record('m1', t.message, '3'))], {
      deadline: START + 42_000,
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect([...t.attempts.leases.values()]).toEqual([
      expect.objectContaining({
        until: START + 42_000 + LEASE_GRACE_MS,
        holder: expect.stringMatching(/^m1#3#/),
      }),
    ]);
  });

  it('parses a record with the message schema', () => {
    expect(
      parseDeliveryRecord(record('m1', { storeId: 's', endpointId: 'e', eventId: 'v', attempt: 2 }, '4')),
    ).toEqual({
      messageId: 'm1',
      receiveCount: 4,
      message: { storeId: 's', endpointId: 'e', eventId: 'v', attempt: 2 },
    });
    expect(parseDeliveryRecord({ messageId: 'm2', body: '[]' })).toMatchObject({
      receiveCount: 1,
      invalid: expect.any(String),
    });
  });
});
