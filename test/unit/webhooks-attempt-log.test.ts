import fc from 'fast-check';
import { newEventId } from '../../lambdas/events/domain/events';
import { DynamoAttemptsRepository } from '../../lambdas/webhooks/adapters/dynamo-attempts-repository';
import {
  attemptPosition,
  decodeAttemptsCursor,
  encodeAttemptsCursor,
  MAX_RESPONSE_BODY_BYTES,
  MAX_SUCCESS_BODY_BYTES,
  responseBodyToKeep,
  safeResponseText,
} from '../../lambdas/webhooks/domain/attempt-log';
import type { DeliveryAttempt } from '../../lambdas/webhooks/domain/attempts';
import { Delivery, type DeliveryDependencies } from '../../lambdas/webhooks/domain/delivery';
import type { AttemptResult } from '../../lambdas/webhooks/domain/delivery-policy';
import {
  BatchedEndpointStats,
  endpointStats,
  STATS_FLUSH_MS,
  summarizeStats,
} from '../../lambdas/webhooks/domain/endpoint-stats';
import { CachedEndpoints } from '../../lambdas/webhooks/domain/fanout';
import type { DeliveryMessage, DeliveryTrigger } from '../../lambdas/webhooks/domain/messages';
import { acme, other, webhookApi } from './support/in-memory-api';
import { silentLogger } from './support/logger';
import {
  endpointFixture,
  eventFixture,
  eventIdAt,
  FakeDeliveryQueue,
  InMemoryAttemptsRepository,
  InMemoryEndpointStats,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
  RecordingMetrics,
  ScriptedSender,
} from './support/webhook-fakes';

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');
// biome-ignore lint/suspicious/noControlCharactersInRegex: what must never be kept.
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFFFE\uFFFF]/;

describe('the receiver answer kept as safe text', () => {
  it('drops NULs and control characters but keeps \\n, \\r and \\t, and the <script> as text', () => {
    expect(safeResponseText('a\u0000b\u0007c\n\r\td\u001be\u007f<script>x</script>', 4096)).toBe(
      'abc\n\r\tde<script>x</script>',
    );
    expect(safeResponseText('\u0000\u0001', 4096)).toBeUndefined();
    expect(safeResponseText(undefined, 4096)).toBeUndefined();
  });

  it('cuts at the byte budget on a character boundary', () => {
    expect(safeResponseText('ééé', 5)).toBe('éé');
    expect(safeResponseText('a😀', 4)).toBe('a');
    expect(utf8(safeResponseText('x'.repeat(10_000), MAX_RESPONSE_BODY_BYTES) ?? '')).toBe(4096);
  });

  it('keeps binary garbage decoded as UTF-8 within 4 KiB, with no control character', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 6000 }), (bytes) => {
        const decoded = Buffer.from(bytes).subarray(0, MAX_RESPONSE_BODY_BYTES).toString('utf8');
        const kept = safeResponseText(decoded, MAX_RESPONSE_BODY_BYTES) ?? '';
        expect(utf8(kept)).toBeLessThanOrEqual(MAX_RESPONSE_BODY_BYTES);
        expect(FORBIDDEN.test(kept)).toBe(false);
        // It survives a JSON round trip unchanged (nothing in it breaks a listing).
        expect(JSON.parse(JSON.stringify({ kept })).kept).toBe(kept);
      }),
    );
  });

  it('keeps at most MAX_SUCCESS_BODY_BYTES of a success and 4 KiB of a failure', () => {
    const big = 'y'.repeat(100_000);
    expect(utf8(responseBodyToKeep(big, 'succeeded') ?? '')).toBe(MAX_SUCCESS_BODY_BYTES);
    expect(utf8(responseBodyToKeep(big, 'failed') ?? '')).toBe(MAX_RESPONSE_BODY_BYTES);
  });

  it('keeps a typical success item under 1 KB (one write unit), even with a body at its cap', async () => {
    const sent: Record<string, unknown>[] = [];
    const client = { send: async (command: { input: Record<string, unknown> }) => sent.push(command.input) };
    const repository = new DynamoAttemptsRepository({ client: client as never, tableName: 'Attempts' });
    await repository.record({
      endpointId: 'ep_01J00000000000000000000000',
      eventId: 'evt_01J00000000000000000000000',
      replayId: 'rpl_01J00000000000000000000000',
      attempt: 8,
      status: 'succeeded',
      trigger: 'scheduled',
      responseStatus: 200,
      responseBody: responseBodyToKeep('é'.repeat(5000), 'succeeded'),
      durationMs: 14_999,
      at: '2024-06-01T12:00:00.000Z',
    });
    expect(dynamoItemSize(sent[0]?.Item as Record<string, unknown>)).toBeLessThan(1024);
  });
});

/** DynamoDB's item size: attribute names and values (strings as UTF-8, numbers about 1 byte per 2 digits + 1). */
function dynamoItemSize(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += utf8(name);
    size += typeof value === 'number' ? Math.ceil(String(value).length / 2) + 1 : utf8(String(value));
  }
  return size;
}

describe('the attempts cursor', () => {
  it('round-trips a position, and refuses anything else', () => {
    const position = 'evt_01J00000000000000000000000#0#ok';
    const cursor = encodeAttemptsCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeAttemptsCursor(cursor)).toBe(position);
    expect(decodeAttemptsCursor(cursor, 'evt_01J00000000000000000000000')).toBe(position);
    expect(decodeAttemptsCursor(cursor, 'evt_01J00000000000000000000001')).toBeUndefined();
    for (const bad of [
      '',
      'not a cursor',
      '%%%',
      Buffer.from('{"v":1}').toString('base64url'),
      Buffer.from('[]').toString('base64url'),
      Buffer.from('{"v":2,"after":"evt_A#0#ok"}').toString('base64url'),
      Buffer.from('{"v":1,"after":"evt_A#0#ok\\u0000"}').toString('base64url'),
      encodeAttemptsCursor('x'.repeat(2000)),
    ]) {
      expect(decodeAttemptsCursor(bad)).toBeUndefined();
    }
  });

  it('fuzzed cursors are refused or name a position, never throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.base64String(),
          fc.json().map((j) => Buffer.from(j).toString('base64url')),
        ),
        (cursor) => {
          const decoded = decodeAttemptsCursor(cursor);
          if (decoded !== undefined) expect(decoded).toMatch(/#(ok|\d{3})$/);
        },
      ),
    );
  });
});

describe('GET /v1/webhooks/{id}/attempts', () => {
  async function withEndpoint() {
    const world = await webhookApi();
    const created = await world.call('POST', '/v1/webhooks', {
      body: JSON.stringify({ url: 'https://hooks.example.com/in', events: ['*'] }),
      headers: acme,
    });
    return { ...world, endpointId: String(created.body.id) };
  }

  /** An attempt log: each event's deliveries (scheduled, and some replays), each failing some times then maybe succeeding. */
  const log = fc.array(
    fc.record({
      minute: fc.integer({ min: 0, max: 600 }),
      deliveries: fc.array(
        fc.record({
          replay: fc.boolean(),
          failures: fc.integer({ min: 0, max: 3 }),
          succeeded: fc.boolean(),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
    { maxLength: 12 },
  );

  it('pages through any filter: every matching attempt exactly once, newest first', async () => {
    await fc.assert(
      fc.asyncProperty(
        log,
        fc.option(fc.constantFrom('succeeded', 'failed') as fc.Arbitrary<'succeeded' | 'failed'>, {
          nil: undefined,
        }),
        fc.nat(20),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 9 }),
        async (events, status, eventPick, limit, maxRead) => {
          const { call, endpointId, deps } = await withEndpoint();
          const attempts = deps.attempts as InMemoryAttemptsRepository;
          attempts.maxRead = maxRead;
          const ids = events.map((e, index) => `evt_${String(index).padStart(2, '0')}${e.minute}`);
          let replay = 0;
          events.forEach((event, index) => {
            event.deliveries.forEach((delivery, nth) => {
              // One scheduled delivery per event at most (its key is unique); the others are replays.
              replay += 1;
              const replayId =
                delivery.replay || nth > 0 ? `rpl_${String(replay).padStart(4, '0')}` : undefined;
              for (let n = 1; n <= delivery.failures + (delivery.succeeded ? 1 : 0); n += 1) {
                attempts.attempts.push({
                  endpointId,
                  eventId: ids[index] ?? '',
                  ...(replayId ? { replayId } : {}),
                  attempt: n,
                  status: n > delivery.failures ? 'succeeded' : 'failed',
                  durationMs: 1,
                  at: '2024-06-01T11:00:00.000Z',
                });
              }
            });
          });
          const eventId = eventPick < ids.length ? ids[eventPick] : undefined;
          const expected = attempts.attempts
            .filter((a) => (!status || a.status === status) && (!eventId || a.eventId === eventId))
            .map(attemptPosition)
            .sort()
            .reverse();

          const seen: string[] = [];
          let cursor: string | undefined;
          for (let page = 0; page < 1000; page += 1) {
            const query = new URLSearchParams({
              limit: String(limit),
              ...(status ? { status } : {}),
              ...(eventId ? { eventId } : {}),
              ...(cursor ? { cursor } : {}),
            });
            const answer = await call('GET', `/v1/webhooks/${endpointId}/attempts`, {
              headers: acme,
              query: query.toString(),
            });
            expect(answer.status).toBe(200);
            expect(answer.body.data.length).toBeLessThanOrEqual(limit);
            seen.push(...answer.body.data.map((a: DeliveryAttempt) => attemptPosition(a)));
            cursor = answer.body.next;
            if (!cursor) break;
          }
          expect(seen).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('shows trigger and response body; filters; 400 for a bad status, eventId or cursor; 404 for another store', async () => {
    const { call, endpointId, deps } = await withEndpoint();
    const event = eventIdAt('2024-06-01T10:00:00Z');
    await deps.attempts.record({
      endpointId,
      eventId: event,
      attempt: 1,
      status: 'failed',
      trigger: 'resend',
      responseStatus: 500,
      responseBody: '<script>alert(1)</script>',
      durationMs: 3,
      error: 'HTTP 500',
      at: '2024-06-01T10:00:00.000Z',
    });
    // Recorded before triggers were kept: a replay's attempt reads as 'replay'.
    await deps.attempts.record({
      endpointId,
      eventId: event,
      replayId: 'rpl_01J00000000000000000000000',
      attempt: 1,
      status: 'succeeded',
      responseBody: 'ok\u0000\u0001',
      durationMs: 2,
      at: '2024-06-01T11:00:00.000Z',
    });
    const all = await call('GET', `/v1/webhooks/${endpointId}/attempts`, { headers: acme });
    expect(all.body).toEqual({
      data: [
        expect.objectContaining({ trigger: 'replay', responseBody: 'ok', status: 'succeeded' }),
        expect.objectContaining({
          trigger: 'resend',
          responseBody: '<script>alert(1)</script>',
          status: 'failed',
        }),
      ],
    });
    const failed = await call('GET', `/v1/webhooks/${endpointId}/attempts`, {
      headers: acme,
      query: 'status=failed',
    });
    expect(failed.body.data.map((a: DeliveryAttempt) => a.status)).toEqual(['failed']);
    // Event ids are case-insensitive.
    const byEvent = await call('GET', `/v1/webhooks/${endpointId}/attempts`, {
      headers: acme,
      query: `eventId=${event.toLowerCase().replace('evt_', 'evt_')}`,
    });
    expect(byEvent.body.data).toHaveLength(2);
    const none = await call('GET', `/v1/webhooks/${endpointId}/attempts`, {
      headers: acme,
      query: `eventId=${newEventId()}`,
    });
    expect(none.body).toEqual({ data: [] });

    for (const query of [
      'status=sending',
      'status=ok',
      'eventId=evt%23x',
      `eventId=${'x'.repeat(300)}`,
      'cursor=nope',
      `cursor=${encodeAttemptsCursor(`${event}#0#ok`)}&eventId=${newEventId()}`,
    ]) {
      const answer = await call('GET', `/v1/webhooks/${endpointId}/attempts`, { headers: acme, query });
      expect([query, answer.status]).toEqual([query, 400]);
      expect(answer.body.errors[0].field).toMatch(/^(status|eventId|cursor)$/);
    }
    expect((await call('GET', `/v1/webhooks/${endpointId}/attempts`, { headers: other })).status).toBe(404);
  });
});

describe('Delivery records the trigger and the answer', () => {
  function setUp(results: AttemptResult[]) {
    const start = Date.parse('2024-06-01T12:00:00.000Z');
    const attempts = new InMemoryAttemptsRepository();
    const endpoints = new InMemoryEndpointsRepository();
    endpoints.seed(endpointFixture());
    const event = eventFixture(newEventId(start - 1000));
    const stats = new InMemoryEndpointStats();
    const tally = new BatchedEndpointStats(stats, { now: () => start, timer: false });
    const deps: DeliveryDependencies = {
      endpoints: new CachedEndpoints(endpoints, { now: () => start }),
      endpointWrites: endpoints,
      events: new InMemoryEventsRepository(),
      attempts,
      queue: new FakeDeliveryQueue(),
      sender: new ScriptedSender(results),
      metrics: new RecordingMetrics(),
      logger: silentLogger,
      retryScheduleMs: [0, 5000],
      disableAfterMs: 86_400_000,
      stats: tally,
      now: () => start,
      random: () => 0.5,
      sleep: async () => {},
    };
    const message = (trigger?: DeliveryTrigger, replayId?: string): DeliveryMessage => ({
      storeId: 'store_1',
      endpointId: 'ep_1',
      eventId: event.id,
      attempt: 1,
      event,
      ...(trigger ? { trigger } : {}),
      ...(replayId ? { replayId } : {}),
    });
    return { deps, attempts, message, stats, tally, start };
  }

  it.each([
    [undefined, undefined, 'scheduled'],
    [undefined, 'rpl_1', 'replay'],
    ['recover', 'rcv_1', 'recover'],
    ['resend', 'rsd_1', 'resend'],
    ['test', undefined, 'test'],
  ] as const)('trigger %s with replay id %s is recorded as %s', async (trigger, replayId, recorded) => {
    const t = setUp([{ status: 200, durationMs: 5, responseBody: 'thanks' }]);
    await new Delivery(t.deps).deliver(t.message(trigger, replayId));
    expect(t.attempts.attempts[0]).toMatchObject({ trigger: recorded, responseBody: 'thanks' });
  });

  it('keeps a short prefix of a success answer and 4 KiB of a failure as safe text', async () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256)).toString('utf8');
    const t = setUp([
      { status: 500, durationMs: 5, error: 'HTTP 500', responseBody: garbage },
      { status: 200, durationMs: 5, responseBody: 'z'.repeat(4096) },
    ]);
    const delivery = new Delivery(t.deps);
    await delivery.deliver(t.message());
    await delivery.deliver({ ...t.message(), attempt: 2 });
    const [failure, success] = t.attempts.attempts;
    expect(utf8(failure?.responseBody ?? '')).toBeLessThanOrEqual(MAX_RESPONSE_BODY_BYTES);
    expect(FORBIDDEN.test(failure?.responseBody ?? '')).toBe(false);
    expect(success?.responseBody).toBe('z'.repeat(MAX_SUCCESS_BODY_BYTES));
  });

  it('tallies attempts for the stats without a write per delivery', async () => {
    const t = setUp([
      { status: 500, durationMs: 5, error: 'HTTP 500' },
      { status: 200, durationMs: 5 },
    ]);
    const delivery = new Delivery(t.deps);
    await delivery.deliver(t.message());
    await delivery.deliver({ ...t.message(), attempt: 2 });
    expect(t.stats.writes).toBe(0);
    await t.tally.flush();
    expect(t.stats.writes).toBe(1);
    expect(await endpointStats(t.stats, { id: 'ep_1' }, t.start)).toEqual({
      since: '2024-05-31T13:00:00.000Z',
      succeeded: 1,
      failed: 1,
      lastSucceededAt: '2024-06-01T12:00:00.000Z',
    });
  });
});

describe('endpoint stats', () => {
  const NOW = Date.parse('2024-06-01T12:30:00.000Z');

  it('counts the 24 hourly buckets of the window only, and shows failingSince', () => {
    const stats = summarizeStats(
      [
        { hour: '2024-05-31T12', succeeded: 100, failed: 100, lastSucceededAt: '2024-05-31T12:59:00.000Z' },
        { hour: '2024-05-31T13', succeeded: 2, failed: 1, lastSucceededAt: '2024-05-31T13:10:00.000Z' },
        { hour: '2024-06-01T12', succeeded: 3, failed: 0, lastSucceededAt: '2024-06-01T12:20:00.000Z' },
        { hour: '2024-06-01T11', succeeded: 0, failed: 4 },
      ],
      NOW,
      '2024-06-01T11:00:00.000Z',
    );
    expect(stats).toEqual({
      since: '2024-05-31T13:00:00.000Z',
      succeeded: 5,
      failed: 5,
      lastSucceededAt: '2024-06-01T12:20:00.000Z',
      failingSince: '2024-06-01T11:00:00.000Z',
    });
  });

  it('writes one tally per endpoint and hour, only once it is due or flushed; a failed write is kept', async () => {
    let now = NOW;
    const repository = new InMemoryEndpointStats();
    let failNext = false;
    const flaky = {
      add: async (endpointId: string, counts: Parameters<InMemoryEndpointStats['add']>[1]) => {
        if (failNext) {
          failNext = false;
          throw new Error('throttled');
        }
        await repository.add(endpointId, counts);
      },
    };
    const errors: unknown[] = [];
    const tally = new BatchedEndpointStats(flaky, {
      now: () => now,
      timer: false,
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 50; i += 1) tally.note('ep_1', i % 5 !== 0, NOW + i);
    tally.note('ep_2', true, NOW);
    await tally.flushDue();
    expect(repository.writes).toBe(0);
    now += STATS_FLUSH_MS;
    failNext = true;
    await tally.flushDue();
    expect(errors).toHaveLength(1);
    expect(tally.pendingCount).toBe(1);
    tally.note('ep_1', false, NOW + 100);
    await tally.flush();
    expect(repository.writes).toBe(2);
    const ep1 = await endpointStats(repository, { id: 'ep_1' }, NOW);
    const ep2 = await endpointStats(repository, { id: 'ep_2' }, NOW);
    expect([ep1.succeeded + ep2.succeeded, ep1.failed + ep2.failed]).toEqual([41, 11]);
    expect(ep1.lastSucceededAt).toBe(new Date(NOW + 49).toISOString());
  });

  it('the API shows each endpoint with its stats', async () => {
    const { call, deps } = await webhookApi();
    const created = await call('POST', '/v1/webhooks', {
      body: JSON.stringify({ url: 'https://hooks.example.com/in', events: ['*'] }),
      headers: acme,
    });
    const id = String(created.body.id);
    await deps.endpointStats.add(id, {
      hour: '2024-06-01T11',
      succeeded: 7,
      failed: 2,
      lastSucceededAt: '2024-06-01T11:05:00.000Z',
    });
    await deps.endpoints.recordFailure('acme', id, '2024-06-01T11:30:00.000Z');
    const expected = {
      since: '2024-05-31T13:00:00.000Z',
      succeeded: 7,
      failed: 2,
      lastSucceededAt: '2024-06-01T11:05:00.000Z',
      failingSince: '2024-06-01T11:30:00.000Z',
    };
    expect((await call('GET', `/v1/webhooks/${id}`, { headers: acme })).body.stats).toEqual(expected);
    expect((await call('GET', '/v1/webhooks', { headers: acme })).body.data[0].stats).toEqual(expected);
  });
});
