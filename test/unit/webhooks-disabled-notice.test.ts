import { Webhook } from 'standardwebhooks';
import { EVENT_TYPES, eventIdTime, SUBSCRIBABLE_EVENT_TYPES } from '../../lambdas/events/domain/events';
import { Delivery, type DeliveryDependencies } from '../../lambdas/webhooks/domain/delivery';
import { disabledNotice } from '../../lambdas/webhooks/domain/disabled-notice';
import { endpointAccepts, endpointWants } from '../../lambdas/webhooks/domain/endpoints';
import { CachedEndpoints, deliveryMessagesFor } from '../../lambdas/webhooks/domain/fanout';
import type { DeliveryMessage } from '../../lambdas/webhooks/domain/messages';
import { FakeClock } from './support/clock';
import { silentLogger } from './support/logger';
import {
  endpointFixture,
  eventFixture,
  eventIdAt,
  FakeDeliveryQueue,
  InMemoryAttemptsRepository,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
  RecordingMetrics,
  ScriptedSender,
  TEST_SECRET,
} from './support/webhook-fakes';

// webhook_endpoint.disabled (announced by delivery when it disables an endpoint) and webhook.test (delivered only
// to the endpoint it tests): docs/api.md section 4.

const START = Date.parse('2024-06-01T12:00:00.000Z');
const DAY = 86_400_000;

function setUp(script: ConstructorParameters<typeof ScriptedSender>[0]) {
  const clock = new FakeClock(START);
  const events = new InMemoryEventsRepository();
  const endpoints = new InMemoryEndpointsRepository();
  const attempts = new InMemoryAttemptsRepository();
  const queue = new FakeDeliveryQueue();
  const sender = new ScriptedSender(script);
  endpoints.seed(endpointFixture({ id: 'ep_1', url: 'https://hooks.example.com/one' }));
  endpoints.seed(endpointFixture({ id: 'ep_2', events: ['webhook_endpoint.disabled'] }));
  const event = eventFixture(eventIdAt(START - 1_000));
  events.seed(event, 'transaction');
  const deps: DeliveryDependencies = {
    endpoints: new CachedEndpoints(endpoints, { now: clock.now }),
    endpointWrites: endpoints,
    events,
    attempts,
    queue,
    sender,
    metrics: new RecordingMetrics(),
    logger: silentLogger,
    retryScheduleMs: [0, 1_000],
    disableAfterMs: 5 * DAY,
    now: clock.now,
    random: () => 0.5,
    sleep: async () => {},
  };
  const message: DeliveryMessage = { storeId: 'store_1', endpointId: 'ep_1', eventId: event.id, attempt: 1 };
  return { clock, events, endpoints, attempts, queue, sender, deps, message, event };
}

const notices = (events: InMemoryEventsRepository) =>
  [...events.items.values()].filter(({ event }) => event.type === 'webhook_endpoint.disabled');

describe('webhook_endpoint.disabled', () => {
  it('a 410 disables the endpoint and stores one notice, fanned out like any direct event', async () => {
    const t = setUp([{ status: 410, durationMs: 5, error: 'HTTP 410' }]);
    const result = await new Delivery(t.deps).deliver(t.message);
    expect(result).toEqual({ kind: 'attempted', outcome: 'gone' });

    const [stored] = notices(t.events);
    expect(stored?.origin).toBe('direct');
    expect(stored?.event).toEqual({
      id: expect.stringMatching(/^evt_[0-9A-Z]{26}$/),
      type: 'webhook_endpoint.disabled',
      createdAt: new Date(START).toISOString(),
      storeId: 'store_1',
      data: { endpointId: 'ep_1', url: 'https://hooks.example.com/one', reason: 'gone' },
    });
    expect(eventIdTime(stored?.event.id ?? '')).toBe(START);

    // The fan-out sends it to the store's other endpoints that want it; the disabled one is no longer enabled.
    const all = await t.endpoints.list('store_1');
    const messages = deliveryMessagesFor(stored?.event ?? t.event, all, 0, START);
    expect(messages.map((m) => m.endpointId)).toEqual(['ep_2']);
  });

  it('is announced once per disabling: a copy that finds the endpoint disabled already announces nothing', async () => {
    const t = setUp([{ status: 410, durationMs: 5, error: 'HTTP 410' }]);
    const [a, b] = [new Delivery(t.deps), new Delivery(t.deps)];
    // Both attempts are made (both saw the endpoint enabled), both answered 410; one disabling, one notice.
    await Promise.all([a.deliver(t.message), b.deliver({ ...t.message, replayId: 'rsd_1' })]);
    expect(notices(t.events)).toHaveLength(1);
  });

  it('the notice id is a function of the endpoint and the disabling', () => {
    const endpoint = endpointFixture();
    expect(disabledNotice(endpoint, 'gone', START).id).toBe(disabledNotice(endpoint, 'failing', START).id);
    expect(disabledNotice(endpoint, 'gone', START).id).not.toBe(
      disabledNotice(endpoint, 'gone', START + 1).id,
    );
    expect(disabledNotice(endpoint, 'gone', START).id).not.toBe(
      disabledNotice({ ...endpoint, id: 'ep_9' }, 'gone', START).id,
    );
  });

  it('is announced when failures pass WEBHOOK_DISABLE_AFTER (failing)', async () => {
    const t = setUp([{ status: 500, durationMs: 5, error: 'HTTP 500' }]);
    await t.endpoints.recordFailure('store_1', 'ep_1', new Date(START - 6 * DAY).toISOString());
    const result = await new Delivery(t.deps).deliver(t.message);
    expect(result).toEqual({ kind: 'attempted', outcome: 'disabled-failing' });
    expect(notices(t.events).map(({ event }) => event.data)).toEqual([
      { endpointId: 'ep_1', url: 'https://hooks.example.com/one', reason: 'failing' },
    ]);
  });

  it('a put that keeps failing is logged, never thrown (the retry would find the endpoint disabled)', async () => {
    const t = setUp([{ status: 410, durationMs: 5, error: 'HTTP 410' }]);
    let puts = 0;
    const events = {
      get: t.events.get.bind(t.events),
      put: async () => {
        puts += 1;
        throw new Error('DynamoDB is down');
      },
    };
    const result = await new Delivery({ ...t.deps, events }).deliver(t.message);
    expect(result).toEqual({ kind: 'attempted', outcome: 'gone' });
    expect(puts).toBe(4);
  });

  it('can be subscribed to, by name or by *', () => {
    expect(SUBSCRIBABLE_EVENT_TYPES).toContain('webhook_endpoint.disabled');
    expect(endpointWants(endpointFixture({ events: ['*'] }), 'webhook_endpoint.disabled')).toBe(true);
    expect(
      endpointWants(endpointFixture({ events: ['transaction.created'] }), 'webhook_endpoint.disabled'),
    ).toBe(false);
  });
});

describe('webhook.test', () => {
  const testEvent = (endpointId: string) => ({
    id: eventIdAt(START),
    type: 'webhook.test' as const,
    createdAt: new Date(START).toISOString(),
    storeId: 'store_1',
    data: { endpointId },
  });

  it('is an event type no endpoint subscribes to, not even by *', () => {
    expect(EVENT_TYPES).toContain('webhook.test');
    expect(SUBSCRIBABLE_EVENT_TYPES).not.toContain('webhook.test');
    expect(endpointWants(endpointFixture({ events: ['*'] }), 'webhook.test')).toBe(false);
    expect(deliveryMessagesFor(testEvent('ep_1'), [endpointFixture({ events: ['*'] })], 0, START)).toEqual(
      [],
    );
  });

  it('is accepted by the endpoint it tests only, whatever its filter', () => {
    const endpoint = endpointFixture({ id: 'ep_1', events: ['transaction.created'] });
    expect(endpointAccepts(endpoint, testEvent('ep_1'))).toBe(true);
    expect(endpointAccepts(endpoint, testEvent('ep_2'))).toBe(false);
    expect(endpointAccepts({ ...endpoint, status: 'disabled' }, testEvent('ep_1'))).toBe(false);
  });

  it('is delivered signed from its message alone (it is not stored), and retried like any other', async () => {
    const t = setUp([
      { status: 500, durationMs: 5, error: 'HTTP 500' },
      { status: 204, durationMs: 5 },
    ]);
    const event = testEvent('ep_1');
    const message: DeliveryMessage = {
      storeId: 'store_1',
      endpointId: 'ep_1',
      eventId: event.id,
      trigger: 'test',
      attempt: 1,
      event,
    };
    const delivery = new Delivery(t.deps);
    expect(await delivery.deliver(message)).toEqual({ kind: 'attempted', outcome: 'retry' });
    const [retry] = t.queue.sent;
    expect(retry).toMatchObject({ attempt: 2, trigger: 'test', event });
    t.clock.advance(2_000);
    expect(await delivery.deliver(retry as DeliveryMessage)).toEqual({
      kind: 'attempted',
      outcome: 'succeeded',
    });
    const request = t.sender.requests[1];
    jest.useFakeTimers({ now: t.clock.now(), doNotFake: ['nextTick', 'setImmediate'] });
    try {
      expect(new Webhook(TEST_SECRET).verify(request?.body ?? '', { ...request?.headers })).toEqual(event);
    } finally {
      jest.useRealTimers();
    }
    expect(t.attempts.attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);
  });

  it('a test of another endpoint is not delivered', async () => {
    const t = setUp([{ status: 204, durationMs: 5 }]);
    const event = testEvent('ep_2');
    const result = await new Delivery(t.deps).deliver({
      storeId: 'store_1',
      endpointId: 'ep_1',
      eventId: event.id,
      attempt: 1,
      event,
    });
    expect(result).toEqual({ kind: 'skipped', reason: 'event type not wanted' });
    expect(t.sender.requests).toHaveLength(0);
  });
});
