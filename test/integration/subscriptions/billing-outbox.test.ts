import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DynamoRunsRepository } from '../../../lambdas/billing/adapters/dynamo-runs-repository';
import type { ChargeRecord } from '../../../lambdas/billing/domain/charges/charge';
import {
  type OutboxRecord,
  processOutboxBatch,
  type RunCounters,
  streamPosition,
} from '../../../lambdas/billing/domain/outbox';
import type { Run } from '../../../lambdas/billing/domain/runs/run';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { localClientConfig } from '../../../local/aws-clients';
import { InMemoryEventsRepository } from '../../unit/support/webhook-fakes';
import { sharedEmulators, uniquePrefix } from '../support/emulators';

/**
 * The run counters' stream-position fence on DynamoDB Local, through the real adapter: a batch that is delivered
 * again (whole, after a later write of it failed or its invocation timed out; or grown) counts each record once.
 */
let raw: DynamoDBClient;
let tableName: string;
let runs: DynamoRunsRepository;

const Y = '2026-03-09';
const SHARD = 'shardId-00000001700000000000-0badcafe';

beforeAll(async () => {
  raw = new DynamoDBClient(localClientConfig(sharedEmulators().dynamodbEndpoint));
  tableName = `${uniquePrefix()}-outbox-runs`;
  await raw.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'runId', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'runId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    }),
  );
  runs = new DynamoRunsRepository({ client: createDocumentClient(raw), tableName });
});

afterAll(async () => {
  await raw?.send(new DeleteTableCommand({ TableName: tableName })).catch(() => {});
  raw?.destroy();
});

let runCounter = 0;
/** A fresh running run (ids are dates: one per test, far apart). */
async function newRun(): Promise<string> {
  runCounter += 1;
  const runId = new Date(Date.UTC(2030, 0, runCounter)).toISOString().slice(0, 10);
  const now = '2030-01-01T00:00:00.000Z';
  const run: Run = {
    runId,
    asOf: now,
    status: 'running',
    startedAt: now,
    updatedAt: now,
    deadlineAt: now,
    cursor: { shard: 0 },
    enumerated: false,
    total: 0,
    succeeded: 0,
    failed: 0,
    samples: [],
    claimed: 0,
    triggers: 0,
  };
  await runs.create(run);
  return runId;
}

async function countsOf(runId: string) {
  const run = await runs.get(runId);
  return {
    total: run?.total,
    succeeded: run?.succeeded,
    failed: run?.failed,
    processing: run?.processing ?? 0,
  };
}

function claim(subscriptionId: string, runId: string): ChargeRecord {
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
    paymentMethod: 'pm_card_visa',
    customer: { id: `cus_${subscriptionId}`, email: `${subscriptionId}@example.com` },
    plan: 'monthly',
    interval: 'month',
    intervalCount: 1,
    runId,
    idempotencyKey: `charge:acme:${subscriptionId}:2026-03-10:0`,
    status: 'pending',
    claimedAt: '2026-03-10T00:05:00.000Z',
  };
}

function settled(charge: ChargeRecord, status: 'processing' | 'succeeded'): ChargeRecord {
  return status === 'processing'
    ? {
        ...charge,
        status,
        processingSince: '2026-03-10T00:06:00.000Z',
        processingEventId: `evt_processing_${charge.subscriptionId}`,
        paymentIntentId: `pi_${charge.subscriptionId}`,
      }
    : {
        ...charge,
        status,
        resolvedAt: '2026-03-11T00:06:00.000Z',
        eventId: `evt_outcome_${charge.subscriptionId}`,
        paymentIntentId: `pi_${charge.subscriptionId}`,
      };
}

const record = (
  sequenceNumber: string,
  before: ChargeRecord | undefined,
  after: ChargeRecord | undefined,
): OutboxRecord => ({ sequenceNumber, change: { table: 'charges', before, after } });

/** The real adapter, with the next add for `failing` runs throwing as a throttled request would. */
function countersFailingOnce(...failing: string[]): RunCounters {
  const pending = new Set(failing);
  return {
    add: async (runId, delta, source) => {
      if (pending.delete(runId)) throw new Error(`ProvisionedThroughputExceededException (${runId})`);
      return runs.add(runId, delta, source);
    },
  };
}

describe('run counters fenced by stream position (DynamoDB Local)', () => {
  it('counts a batch once when a later add fails and the whole batch is delivered again', async () => {
    // Prepare: the batch counts for run x, then for run y, whose add fails.
    const x = await newRun();
    const y = await newRun();
    const a = claim('a', x);
    const b = claim('b', y);
    const batch = [
      record('000000000000000000101', undefined, a),
      record('000000000000000000102', a, settled(a, 'succeeded')),
      record('000000000000000000103', undefined, b),
    ];
    const events = new InMemoryEventsRepository();

    // Act: the first delivery (y's add throws), then the whole batch again, as after a failed or timed-out call.
    const first = await processOutboxBatch(
      { events, counters: countersFailingOnce(y) },
      { shard: SHARD, records: batch },
    );
    const afterFirst = await countsOf(x);
    const again = await processOutboxBatch({ events, counters: runs }, { shard: SHARD, records: batch });

    // Assess
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: '000000000000000000103' }]);
    expect(afterFirst).toEqual({ total: 1, succeeded: 1, failed: 0, processing: 0 });
    expect(again.batchItemFailures).toEqual([]);
    expect(await countsOf(x)).toEqual({ total: 1, succeeded: 1, failed: 0, processing: 0 });
    expect(await countsOf(y)).toEqual({ total: 1, succeeded: 0, failed: 0, processing: 0 });
  });

  it('counts only the records a grown retry adds, and the same batch again not at all', async () => {
    const x = await newRun();
    const a = claim('a', x);
    const b = claim('b', x);
    const batch = [
      record('000000000000000000201', undefined, a),
      record('000000000000000000202', undefined, b),
      record('000000000000000000203', a, settled(a, 'processing')),
    ];
    const deps = { events: new InMemoryEventsRepository(), counters: runs };

    await processOutboxBatch(deps, { shard: SHARD, records: batch.slice(0, 2) });
    await processOutboxBatch(deps, { shard: SHARD, records: batch });
    await processOutboxBatch(deps, { shard: SHARD, records: batch });

    expect(await countsOf(x)).toEqual({ total: 2, succeeded: 0, failed: 0, processing: 1 });
    const { Item } = await raw.send(
      new GetItemCommand({ TableName: tableName, Key: { runId: { S: x }, sk: { S: 'run' } } }),
    );
    expect(unmarshall(Item ?? {})[`countedThrough:${SHARD}`]).toBe(streamPosition('000000000000000000203'));
  });

  it('moves processing to succeeded, and orders sequence numbers of different lengths by value', async () => {
    const x = await newRun();
    const a = claim('a', x);
    const deps = { events: new InMemoryEventsRepository(), counters: runs };

    await processOutboxBatch(deps, {
      shard: SHARD,
      records: [record('999', undefined, a), record('1000', a, settled(a, 'processing'))],
    });
    const midway = await countsOf(x);
    await processOutboxBatch(deps, {
      shard: SHARD,
      records: [record('1001', settled(a, 'processing'), settled(a, 'succeeded'))],
    });

    expect(midway).toEqual({ total: 1, succeeded: 0, failed: 0, processing: 1 });
    expect(await countsOf(x)).toEqual({ total: 1, succeeded: 1, failed: 0, processing: 0 });
  });

  it('keeps a fence per shard: an earlier position from another shard still counts', async () => {
    const x = await newRun();
    const deps = { events: new InMemoryEventsRepository(), counters: runs };

    await processOutboxBatch(deps, { shard: 'shard-1', records: [record('500', undefined, claim('a', x))] });
    await processOutboxBatch(deps, { shard: 'shard-2', records: [record('400', undefined, claim('b', x))] });

    expect((await countsOf(x)).total).toBe(2);
  });

  it('leaves a completed run’s exact counts alone, and a run that does not exist', async () => {
    const x = await newRun();
    const owner = 'owner-1';
    const leased = await runs.acquireLease(x, owner, Date.now(), 60_000);
    await runs.complete(
      { runId: x, owner, version: leased?.lease?.version ?? 0 },
      {
        total: 7,
        succeeded: 7,
        failed: 0,
        processing: 0,
        completedAt: '2030-01-02T00:00:00.000Z',
        stores: [],
      },
    );

    const result = await processOutboxBatch(
      { events: new InMemoryEventsRepository(), counters: runs },
      {
        shard: SHARD,
        records: [record('600', undefined, claim('a', x)), record('601', undefined, claim('b', Y))],
      },
    );

    expect(result.batchItemFailures).toEqual([]);
    expect(await countsOf(x)).toEqual({ total: 7, succeeded: 7, failed: 0, processing: 0 });
    expect(await runs.get(Y)).toBeUndefined();
  });
});
