import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBRecord } from 'aws-lambda';
import type {
  OutboxStreamEvent,
  OutboxStreamResponse,
} from '../../lambdas/billing/adapters/billing-outbox-function';
import type { ChargeRecord } from '../../lambdas/billing/domain/charges/charge';
import {
  type CounterAddResult,
  type CounterSource,
  type OutboxRecord,
  processOutboxBatch,
  type RunCounters,
  streamPosition,
} from '../../lambdas/billing/domain/outbox';
import type { CounterDelta } from '../../lambdas/billing/domain/outbox-effects';
import { fakeLambdaContext } from './support/lambda-context';
import { InMemoryEventsRepository } from './support/webhook-fakes';

/**
 * The billing outbox's consumer (`processOutboxBatch`): records in order, the stop at the first failure, the
 * counters fenced by stream position so that a batch delivered again counts once, and `processing`. The fake
 * counters keep the port's contract (a per-shard fence per run), as the DynamoDB adapter does on DynamoDB Local
 * (test/integration/subscriptions/billing-outbox.test.ts).
 */

const RUN = '2026-03-10';
const OTHER_RUN = '2026-03-09';
const SHARD = 'shardId-00000001700000000000-aaaa';

type Counts = Required<CounterDelta>;

/** The port as the adapter keeps it: counts, and per (run, shard) the last position counted. */
class FencedCounters implements RunCounters {
  readonly counts = new Map<string, Counts>();
  readonly fences = new Map<string, string>();
  readonly completed = new Set<string>();
  /** Runs whose next add throws (once each). */
  readonly failNext = new Set<string>();
  calls = 0;

  async add(runId: string, delta: CounterDelta, source: CounterSource): Promise<CounterAddResult> {
    this.calls += 1;
    if (this.failNext.delete(runId)) throw new Error(`throttled: ${runId}`);
    if (this.completed.has(runId)) return { kind: 'closed' };
    const fenceKey = `${runId}|${source.shard}`;
    const fence = this.fences.get(fenceKey);
    if (fence !== undefined && fence >= source.first) return { kind: 'fenced', appliedThrough: fence };
    const counts = this.of(runId);
    counts.total += delta.total;
    counts.succeeded += delta.succeeded;
    counts.failed += delta.failed;
    counts.processing += delta.processing;
    this.fences.set(fenceKey, source.last);
    return { kind: 'applied' };
  }

  of(runId: string): Counts {
    const counts = this.counts.get(runId) ?? { total: 0, succeeded: 0, failed: 0, processing: 0 };
    this.counts.set(runId, counts);
    return counts;
  }
}

/** Events whose puts fail for the ids listed (each once, or always). */
class FlakyEvents extends InMemoryEventsRepository {
  readonly failing = new Map<string, 'once' | 'always'>();

  override async put(...args: Parameters<InMemoryEventsRepository['put']>) {
    const mode = this.failing.get(args[0].id);
    if (mode === 'once') this.failing.delete(args[0].id);
    if (mode) throw new Error(`events table unavailable for ${args[0].id}`);
    return super.put(...args);
  }
}

function claim(subscriptionId: string, overrides: Partial<ChargeRecord> = {}): ChargeRecord {
  return {
    subscriptionKey: `acme#${subscriptionId}`,
    chargeKey: '2026-03-10#00',
    storeId: 'acme',
    subscriptionId,
    period: '2026-03-10',
    attempt: 0,
    cycle: 1,
    amount: 1500,
    currency: 'EUR',
    paymentMethod: 'pm_test_processing_succeeds',
    customer: { id: `cus_${subscriptionId}`, email: `${subscriptionId}@example.com` },
    plan: 'monthly',
    interval: 'month',
    intervalCount: 1,
    runId: RUN,
    idempotencyKey: `charge:acme:${subscriptionId}:2026-03-10:0`,
    status: 'pending',
    claimedAt: '2026-03-10T00:05:00.000Z',
    ...overrides,
  };
}

function processing(charge: ChargeRecord): ChargeRecord {
  return {
    ...charge,
    status: 'processing',
    processingSince: '2026-03-10T00:06:00.000Z',
    processingEventId: `evt_processing_${charge.subscriptionId}`,
    paymentIntentId: `pi_${charge.subscriptionId}`,
  };
}

function succeeded(charge: ChargeRecord): ChargeRecord {
  return {
    ...charge,
    status: 'succeeded',
    resolvedAt: '2026-03-11T09:00:00.000Z',
    paymentIntentId: `pi_${charge.subscriptionId}`,
    eventId: `evt_outcome_${charge.subscriptionId}`,
    change: {
      status: 'active',
      cycle: 2,
      attempt: 0,
      nextChargeAt: '2026-04-10T00:00:00.000Z',
      dueAt: '2026-04-10T00:00:00.000Z',
    },
  };
}

function failed(charge: ChargeRecord): ChargeRecord {
  return {
    ...charge,
    status: 'failed',
    resolvedAt: '2026-03-11T09:00:00.000Z',
    failureMessage: 'The bank declined the debit.',
    declineCode: 'insufficient_funds',
    eventId: `evt_outcome_${charge.subscriptionId}`,
  };
}

let sequence = 100;
/** A charges table stream record, numbered in stream order. */
function change(before: ChargeRecord | undefined, after: ChargeRecord | undefined): OutboxRecord {
  sequence += 1;
  return { sequenceNumber: String(sequence), change: { table: 'charges', before, after } };
}

function outbox() {
  const events = new FlakyEvents();
  const counters = new FencedCounters();
  const failures: { sequenceNumber: string; stage: string }[] = [];
  const deps = {
    events,
    counters,
    onFailure: (failure: { sequenceNumber: string; stage: string }) => void failures.push(failure),
  };
  const process = (records: readonly OutboxRecord[], shard = SHARD) =>
    processOutboxBatch(deps, { shard, records });
  const types = () => [...events.items.values()].map(({ event }) => event.type).sort();
  return { events, counters, failures, process, types };
}

describe('processOutboxBatch', () => {
  it('announces and counts a claim, its processing and its settlement, each once', async () => {
    // Prepare
    const { events, counters, process, types } = outbox();
    const pending = claim('a');
    const inProgress = processing(pending);

    // Act: claim, pending → processing, a poll that changed nothing, then settled.
    await process([change(undefined, pending), change(pending, inProgress)]);
    const midway = { ...counters.of(RUN) };
    await process([change(inProgress, { ...inProgress }), change(inProgress, succeeded(inProgress))]);

    // Assess
    expect(midway).toEqual({ total: 1, succeeded: 0, failed: 0, processing: 1 });
    expect(counters.of(RUN)).toEqual({ total: 1, succeeded: 1, failed: 0, processing: 0 });
    expect(types()).toEqual(['subscription.charged', 'subscription.payment_processing']);
    const processingEvent = [...events.items.values()]
      .map(({ event }) => event)
      .find((event) => event.type === 'subscription.payment_processing');
    expect(processingEvent).toMatchObject({
      id: 'evt_processing_a',
      storeId: 'acme',
      createdAt: '2026-03-10T00:06:00.000Z',
      data: {
        subscription: { id: 'a', status: 'active', customer: { email: 'a@example.com' } },
        charge: { period: '2026-03-10', attempt: 0, amount: 1500, runId: RUN, paymentIntentId: 'pi_a' },
      },
    });
    const charged = [...events.items.values()].find(({ event }) => event.type === 'subscription.charged');
    expect(charged?.event.id).toBe('evt_outcome_a');
  });

  it('counts a processing charge that fails as failed, announced as pending → failed is', async () => {
    const { counters, process, types } = outbox();
    const pending = claim('b', { attempt: 1, chargeKey: '2026-03-10#01' });
    const inProgress = processing(pending);

    await process([
      change(undefined, pending),
      change(pending, inProgress),
      change(inProgress, failed(inProgress)),
    ]);

    expect(counters.of(RUN)).toEqual({ total: 1, succeeded: 0, failed: 1, processing: 0 });
    expect(types()).toEqual(['subscription.payment_failed', 'subscription.payment_processing']);
  });

  it('announces a dunning retry in processing with its subscription past due', async () => {
    const { events, process } = outbox();
    const pending = claim('c', { attempt: 2, chargeKey: '2026-03-10#02' });

    await process([change(pending, processing(pending))]);

    expect([...events.items.values()][0]?.event.data).toMatchObject({
      subscription: { status: 'past_due' },
      charge: { attempt: 2 },
    });
  });

  it('stops at the first failing record: those before it count, it and those after it wait for the retry', async () => {
    // Prepare
    const { events, counters, failures, process } = outbox();
    const a = claim('a');
    const b = claim('b');
    const c = claim('c');
    const batch = [
      change(undefined, a),
      change(a, succeeded(a)),
      change(undefined, b),
      change(b, succeeded(b)),
      change(undefined, c),
    ];
    events.failing.set('evt_outcome_b', 'once');

    // Act
    const first = await process(batch);
    const between = { ...counters.of(RUN) };
    const retry = await process(batch.slice(3));

    // Assess
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: batch[3]?.sequenceNumber }] });
    expect(failures).toEqual([
      expect.objectContaining({ sequenceNumber: batch[3]?.sequenceNumber, stage: 'record' }),
    ]);
    expect(between).toEqual({ total: 2, succeeded: 1, failed: 0, processing: 0 });
    expect(retry).toEqual({ batchItemFailures: [] });
    expect(counters.of(RUN)).toEqual({ total: 3, succeeded: 2, failed: 0, processing: 0 });
  });

  it('counts a batch delivered again whole once, after one run’s counters failed', async () => {
    // Prepare: run X's add succeeds, run Y's throws; Lambda then delivers the whole batch again (as after a
    // timeout), or only from the record reported.
    const { counters, process } = outbox();
    const x = claim('x');
    const y = claim('y', { runId: OTHER_RUN });
    const batch = [change(undefined, x), change(undefined, y), change(x, succeeded(x))];
    counters.failNext.add(OTHER_RUN);

    // Act
    const first = await process(batch);
    const whole = await process(batch);
    const again = await process(batch);

    // Assess
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: batch[1]?.sequenceNumber }] });
    expect(whole).toEqual({ batchItemFailures: [] });
    expect(again).toEqual({ batchItemFailures: [] });
    expect(counters.of(RUN)).toEqual({ total: 1, succeeded: 1, failed: 0, processing: 0 });
    expect(counters.of(OTHER_RUN)).toEqual({ total: 1, succeeded: 0, failed: 0, processing: 0 });
  });

  it('counts only the new records of a retried batch that grew', async () => {
    const { counters, process } = outbox();
    const a = claim('a');
    const b = claim('b');
    const batch = [change(undefined, a), change(undefined, b), change(a, failed(a))];

    await process(batch.slice(0, 2));
    await process(batch);

    expect(counters.of(RUN)).toEqual({ total: 2, succeeded: 0, failed: 1, processing: 0 });
  });

  it('fences each shard on its own: records of two shards for one run both count', async () => {
    const { counters, process } = outbox();
    const a = claim('a');
    const b = claim('b');
    const late = change(undefined, a);
    const early = { ...change(undefined, b), sequenceNumber: '5' };

    await process([late], 'shard-1');
    await process([early], 'shard-2');

    expect(counters.of(RUN).total).toBe(2);
  });

  it('moves an adopted claim’s count to its new run, and takes a withdrawn one back', async () => {
    const { counters, process } = outbox();
    const a = claim('a', { runId: OTHER_RUN });
    const b = claim('b');

    await process([
      change(undefined, a),
      change(a, { ...a, runId: RUN, adoptedFrom: OTHER_RUN }),
      change(undefined, b),
      change(b, undefined),
    ]);

    expect(counters.of(OTHER_RUN).total).toBe(0);
    expect(counters.of(RUN).total).toBe(1);
  });

  it('counts nothing for a claim made and withdrawn in one batch, and writes nothing', async () => {
    const { counters, process } = outbox();
    const a = claim('a');

    await process([change(undefined, a), change(a, undefined)]);

    expect(counters.calls).toBe(0);
  });

  it('reports a record from an unknown table, and a completed run takes no counts', async () => {
    const { counters, failures, process } = outbox();
    counters.completed.add(RUN);
    const a = claim('a');
    const unknown: OutboxRecord = {
      sequenceNumber: '9000',
      change: { table: 'unknown', source: 'arn:aws:dynamodb:eu-west-1:1:table/Other/stream/x' },
    };

    const result = await process([change(undefined, a), unknown]);

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: '9000' }] });
    expect(failures).toEqual([expect.objectContaining({ sequenceNumber: '9000', stage: 'record' })]);
    expect(counters.counts.get(RUN)).toBeUndefined();
  });
});

describe('streamPosition', () => {
  it('orders sequence numbers of different lengths numerically', () => {
    expect(streamPosition('999') < streamPosition('1000')).toBe(true);
    expect(streamPosition('000000000000000000012')).toBe(streamPosition('12'));
    expect(streamPosition('4'.repeat(40))).toHaveLength(40);
    expect(() => streamPosition('12a')).toThrow(/not a stream sequence number/);
    expect(() => streamPosition('')).toThrow(/not a stream sequence number/);
  });
});

describe('billing outbox handler', () => {
  const env = {
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_NAMESPACE: 'Test',
    POWERTOOLS_METRICS_DISABLED: 'true',
    SUBSCRIPTIONS_TABLE_NAME: 'Subscriptions',
    CHARGES_TABLE_NAME: 'Charges',
    EVENTS_TABLE_NAME: 'Events',
    RUNS_TABLE_NAME: 'Runs',
    AWS_REGION: 'eu-west-1',
  };
  const context = fakeLambdaContext({ remainingTimeMs: 60_000 });
  const streamArn = (table: string) =>
    `arn:aws:dynamodb:eu-west-1:123456789012:table/${table}/stream/2026-01-01T00:00:00.000`;

  function load() {
    const events = new FlakyEvents();
    const counters = new FencedCounters();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    let handler: ((event: OutboxStreamEvent, context: Context) => Promise<OutboxStreamResponse>) | undefined;
    try {
      jest.isolateModules(() => {
        jest.doMock('../../lambdas/events/adapters/dynamo-events-repository', () => ({
          DynamoEventsRepository: jest.fn(() => events),
        }));
        jest.doMock('../../lambdas/billing/adapters/dynamo-runs-repository', () => ({
          DynamoRunsRepository: jest.fn(() => counters),
        }));
        handler = require('../../lambdas/billing/handlers/billing-outbox').handler;
      });
    } finally {
      process.env = saved;
    }
    if (!handler) throw new Error('handler not loaded');
    return { handler, events, counters };
  }

  function record(table: string, sequenceNumber: string, before?: object, after?: object): DynamoDBRecord {
    return {
      eventID: `e${sequenceNumber}`,
      eventName: before ? (after ? 'MODIFY' : 'REMOVE') : 'INSERT',
      eventSource: 'aws:dynamodb',
      eventSourceARN: streamArn(table),
      dynamodb: {
        ...(before ? { OldImage: marshall(before, { removeUndefinedValues: true }) as never } : {}),
        ...(after ? { NewImage: marshall(after, { removeUndefinedValues: true }) as never } : {}),
        SequenceNumber: sequenceNumber,
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
    };
  }

  it('hands the shard and the records to processOutboxBatch and answers with the state a tumbling window needs', async () => {
    const { handler, counters } = load();
    const a = claim('a');

    const response = await handler(
      {
        shardId: SHARD,
        Records: [
          record('Charges', '21', undefined, a),
          record('Charges', '22', a, processing(a)),
          record('Other', '23', undefined, { pk: 'x' }),
        ],
      },
      context,
    );

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '23' }], state: {} });
    expect(counters.of(RUN)).toEqual({ total: 1, succeeded: 0, failed: 0, processing: 1 });
    expect(counters.fences.get(`${RUN}|${SHARD}`)).toBe(streamPosition('22'));
  });

  it('answers the window’s last call, which has no records', async () => {
    const { handler } = load();

    await expect(handler({ shardId: SHARD, Records: [] }, context)).resolves.toEqual({
      batchItemFailures: [],
      state: {},
    });
  });
});
