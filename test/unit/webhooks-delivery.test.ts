import { Webhook } from 'standardwebhooks';
import { delaySeconds } from '../../lambdas/adapters/sqs-delivery-queue';
import { newEventId } from '../../lambdas/domain/events';
import {
  type AttemptResult,
  CoolDowns,
  Delivery,
  type DeliveryDependencies,
} from '../../lambdas/domain/webhooks/delivery';
import type { Endpoint } from '../../lambdas/domain/webhooks/endpoints';
import { CachedEndpoints } from '../../lambdas/domain/webhooks/fanout';
import type { DeliveryMessage } from '../../lambdas/domain/webhooks/messages';
import {
  endpointFixture,
  eventFixture,
  FakeClock,
  FakeDeliveryQueue,
  InMemoryAttemptsRepository,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
  Io,
  ScriptedSender,
  silentWebhookLogger,
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
  const recorded: { succeeded: boolean; durationMs: number }[] = [];
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
    metrics: { attempted: (succeeded, durationMs) => recorded.push({ succeeded, durationMs }) },
    logger: silentWebhookLogger,
    retryScheduleMs: SCHEDULE,
    disableAfterMs: 5 * DAY,
    now: clock.now,
    random: () => 0.5,
  };
  const message: DeliveryMessage = {
    storeId: 'store_1',
    endpointId: 'ep_1',
    eventId: event.id,
    attempt: 1,
    notBefore: START,
  };
  return { io, clock, events, endpoints, attempts, queue, sender, recorded, event, deps, message };
}

const ok: AttemptResult = { status: 200, durationMs: 42 };
const serverError: AttemptResult = { status: 500, durationMs: 30, error: 'HTTP 500' };
const timeout: AttemptResult = { durationMs: 15_000, error: 'timeout' };

describe('Delivery', () => {
  it('a first-attempt success POSTs a verifiable Standard Webhooks request and costs exactly one write', async () => {
    const t = setUp([ok]);
    const result = await new Delivery(t.deps).deliver(t.message);

    expect(result).toEqual({ kind: 'attempted', outcome: 'succeeded' });
    expect(t.io.writes).toBe(1);
    expect(t.attempts.attempts).toEqual([
      {
        endpointId: 'ep_1',
        eventId: t.event.id,
        attempt: 1,
        status: 'succeeded',
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

  it('sends an embedded event without reading it, and still checks the attempt log first', async () => {
    const t = setUp([ok]);
    const delivery = new Delivery(t.deps);
    const logReads = jest.spyOn(t.attempts, 'hasSucceeded');
    const eventReads = jest.spyOn(t.deps.events, 'get');
    await delivery.deliver({ ...t.message, event: t.event });
    expect(logReads).toHaveBeenCalledTimes(1);
    expect(eventReads).not.toHaveBeenCalled();
    expect(t.sender.requests).toHaveLength(1);

    // A duplicate of the message (a retried fan-out sends one as a new message) sends nothing again.
    expect(await delivery.deliver({ ...t.message, event: t.event })).toEqual({ kind: 'already-delivered' });
    expect(t.sender.requests).toHaveLength(1);
  });

  it('reads the attempt log for every message that could be a copy, and only for those', async () => {
    const t = setUp([ok]);
    const delivery = new Delivery(t.deps);
    const logReads = jest.spyOn(t.attempts, 'hasSucceeded');
    // A fan-out's first pass, first receive: no copy of it can exist, so no read.
    await delivery.deliver(t.message, { redelivered: false });
    expect(logReads).not.toHaveBeenCalled();
    expect(t.sender.requests).toHaveLength(1);
    // The same delivery as SQS redelivers it, and as a marked copy: both read the log and send nothing.
    expect(await delivery.deliver(t.message, { redelivered: true })).toEqual({ kind: 'already-delivered' });
    expect(await delivery.deliver({ ...t.message, mayRepeat: true }, { redelivered: false })).toEqual({
      kind: 'already-delivered',
    });
    expect(logReads).toHaveBeenCalledTimes(2);
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
    expect(t.queue.sent).toEqual([{ ...t.message, attempt: 2, notBefore: START + 5_000, mayRepeat: true }]);
    expect(t.endpoints.items.get('store_1#ep_1')?.failingSince).toBe(new Date(START).toISOString());
    expect(t.recorded).toEqual([{ succeeded: false, durationMs: 30 }]);
  });

  it('a success after failures ends the failure run', async () => {
    const t = setUp([ok], { failingSince: new Date(START - DAY).toISOString() });
    await new Delivery(t.deps).deliver(t.message);

    expect(t.endpoints.items.get('store_1#ep_1')?.failingSince).toBeUndefined();
    expect(t.io.writes).toBe(2);
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
    expect(t.queue.sent).toEqual([{ ...t.message, attempt: 2, notBefore: START + 30_000, mayRepeat: true }]);
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
      expect(resent).toEqual({ ...message, mayRepeat: true });
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
      mayRepeat: true,
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
    const t = setUp([serverError], { failingSince: new Date(START - 5 * DAY).toISOString() });
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
    // Per message: hasSucceeded + event; the endpoint once.
    expect(t.io.reads - before).toBe(ids.length * 2 + 1);
  });
});
