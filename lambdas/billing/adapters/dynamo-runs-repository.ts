import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { batchGetConsistent, isConditionalCheckFailure } from '../../platform/dynamodb';
import type { CounterAddResult, CounterSource, RunCounters } from '../domain/outbox';
import type { CounterDelta } from '../domain/outbox-effects';
import type { RunCompletion, RunsRepository } from '../domain/runs/ports';
import type { ProgressSample, Run, RunFence, RunProgressPatch } from '../domain/runs/run';
import { putIfAbsent } from './put-if-absent';

/** The sort key of a run's own item; its manifest pages sort after it under `page#`. */
const RUN_SK = 'run';
const PAGE_PREFIX = 'page#';
/** The sort key of a run's progress log (domain/runs/progress-log.ts): a list of points beside the run item. */
const PROGRESS_SK = 'progress';

/**
 * The runs table (pk `runId`, sk `sk`): the run item (`sk = run`) with its lease, checkpoint and counters, and the
 * run's manifest pages (`sk = page#<page>`, a string set of charge references each) and its progress log
 * (`sk = progress`).
 */
export class DynamoRunsRepository implements RunsRepository, RunCounters {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async create(run: Run): Promise<{ created: true } | { created: false; existing: Run }> {
    const put = await putIfAbsent(this.client, this.tableName, { ...run, sk: RUN_SK }, 'runId');
    return put.created ? put : { created: false, existing: toRun(put.existing) };
  }

  async get(runId: string): Promise<Run | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { runId, sk: RUN_SK }, ConsistentRead: true }),
    );
    return Item ? toRun(Item) : undefined;
  }

  async getMany(runIds: readonly string[]): Promise<Run[]> {
    const keys = [...new Set(runIds)].map((runId) => ({ runId, sk: RUN_SK }));
    return (await batchGetConsistent(this.client, this.tableName, keys)).map(toRun);
  }

  async acquireLease(runId: string, owner: string, now: number, leaseMs: number): Promise<Run | undefined> {
    const run = await this.get(runId);
    if (!run) return undefined;
    const lease = run.lease;
    if (lease && lease.owner !== owner && lease.expiresAt > now) return undefined;
    // Every acquisition is a new fence version, a renewal too: two steps of one owner (a run message delivered
    // twice) are two holders, and the later one fences the earlier, which could otherwise overwrite the newer
    // checkpoint (the cursor going backwards) or complete the run with stale counts (found by the chaos test).
    const version = (lease?.version ?? 0) + 1;
    return this.update(runId, {
      UpdateExpression: 'SET lease = :lease, updatedAt = :updatedAt',
      // Renewal: still ours at the version we hold. Takeover: free, or expired at the version we read.
      ConditionExpression: lease
        ? 'lease.#owner = :readOwner AND lease.version = :readVersion AND (lease.#owner = :owner OR lease.expiresAt < :now)'
        : 'attribute_not_exists(lease)',
      ExpressionAttributeNames: lease ? { '#owner': 'owner' } : undefined,
      ExpressionAttributeValues: {
        ':lease': { owner, version, expiresAt: now + leaseMs },
        ':updatedAt': new Date(now).toISOString(),
        ...(lease
          ? { ':readOwner': lease.owner, ':readVersion': lease.version, ':owner': owner, ':now': now }
          : {}),
      },
    });
  }

  async saveProgress(fence: RunFence, patch: RunProgressPatch): Promise<Run | undefined> {
    const set = ['lease.expiresAt = :leaseExpiresAt', 'updatedAt = :updatedAt'];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {
      ':leaseExpiresAt': patch.leaseExpiresAt,
      ':updatedAt': patch.updatedAt,
    };
    for (const name of [
      'cursor',
      'enumerated',
      'samples',
      'progressAt',
      'progressLogged',
      'lastSweepAt',
      'lastSweepOwed',
    ] as const) {
      const value = patch[name];
      if (value === undefined) continue;
      // Names through placeholders: some (`cursor`) are DynamoDB reserved words.
      set.push(`#${name} = :${name}`);
      names[`#${name}`] = name;
      values[`:${name}`] = value;
    }
    if (patch.sweep) {
      set.push('#sweep = :sweep');
      names['#sweep'] = 'sweep';
      values[':sweep'] = patch.sweep;
    }
    let expression = `SET ${set.join(', ')}`;
    if (patch.sweep === null) {
      expression += ' REMOVE #sweep';
      names['#sweep'] = 'sweep';
    }
    if (patch.claimed) {
      expression += ' ADD claimed :claimed';
      values[':claimed'] = patch.claimed;
    }
    return this.fenced(fence, expression, values, names);
  }

  async complete(fence: RunFence, result: RunCompletion): Promise<Run | undefined> {
    const version = result.datafeedVersion === undefined ? '' : ', datafeedVersion = :datafeedVersion';
    return this.fenced(
      fence,
      `SET #status = :completed, completedAt = :completedAt, updatedAt = :completedAt, #total = :total, succeeded = :succeeded, failed = :failed, #processing = :processing, stores = :stores${version}`,
      {
        ':completed': 'completed',
        ':completedAt': result.completedAt,
        ':total': result.total,
        ':succeeded': result.succeeded,
        ':failed': result.failed,
        ':processing': result.processing,
        ':stores': result.stores,
        ...(result.datafeedVersion === undefined ? {} : { ':datafeedVersion': result.datafeedVersion }),
      },
      { '#status': 'status', '#total': 'total', '#processing': 'processing' },
    );
  }

  async markAnnounced(fence: RunFence): Promise<boolean> {
    return (await this.fenced(fence, 'SET announced = :true', { ':true': true })) !== undefined;
  }

  async recordTrigger(runId: string, source: string, at: string): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { runId, sk: RUN_SK },
        UpdateExpression: 'SET lastTrigger = :trigger ADD triggers :one',
        ExpressionAttributeValues: { ':trigger': { source, at }, ':one': 1 },
      }),
    );
  }

  async addToManifest(runId: string, pageId: string, refs: readonly string[]): Promise<void> {
    if (refs.length === 0) return;
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { runId, sk: `${PAGE_PREFIX}${pageId}` },
        UpdateExpression: 'ADD refs :refs',
        ExpressionAttributeValues: { ':refs': new Set(refs) },
      }),
    );
  }

  async logProgress(runId: string, points: readonly ProgressSample[]): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { runId, sk: PROGRESS_SK },
        UpdateExpression: 'SET points = list_append(if_not_exists(points, :none), :point)',
        ExpressionAttributeValues: {
          ':none': [],
          ':point': points.map((point) => ({ at: point.at, done: point.done })),
        },
      }),
    );
  }

  async progressLog(runId: string): Promise<ProgressSample[]> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { runId, sk: PROGRESS_SK }, ConsistentRead: true }),
    );
    const points = (Item?.points as { at: unknown; done: unknown }[] | undefined) ?? [];
    return points.map((point) => ({ at: Number(point.at), done: Number(point.done) }));
  }

  async manifest(runId: string): Promise<string[]> {
    const refs = new Set<string>();
    let after: Record<string, unknown> | undefined;
    do {
      const output = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'runId = :runId AND begins_with(sk, :page)',
          ExpressionAttributeValues: { ':runId': runId, ':page': PAGE_PREFIX },
          ConsistentRead: true,
          ...(after ? { ExclusiveStartKey: after } : {}),
        }),
      );
      for (const item of output.Items ?? [])
        for (const ref of (item.refs as Set<string>) ?? []) refs.add(ref);
      after = output.LastEvaluatedKey;
    } while (after);
    return [...refs];
  }

  async add(runId: string, delta: CounterDelta, source: CounterSource): Promise<CounterAddResult> {
    // One attribute per stream shard (not a map: a nested path cannot be set before its map exists), holding the
    // last position counted from that shard. Its records reach the outbox in order, so a batch delivered again
    // finds the fence at or past its first record, and the outbox sums only what follows the fence.
    const fence = `countedThrough:${source.shard}`;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { runId, sk: RUN_SK },
          UpdateExpression:
            'SET #fence = :last ADD #total :total, succeeded :succeeded, failed :failed, #processing :processing',
          // A completed run's counts are exact (recounted at completion): late counts do not touch them.
          ConditionExpression:
            'attribute_exists(runId) AND #status = :running AND (attribute_not_exists(#fence) OR #fence < :first)',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#total': 'total',
            '#processing': 'processing',
            '#fence': fence,
          },
          ExpressionAttributeValues: {
            ':total': delta.total,
            ':succeeded': delta.succeeded,
            ':failed': delta.failed,
            ':processing': delta.processing,
            ':running': 'running',
            ':first': source.first,
            ':last': source.last,
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'applied' };
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      const item = error.Item ? unmarshall(error.Item as never) : undefined;
      if (item?.status !== 'running') return { kind: 'closed' };
      return { kind: 'fenced', appliedThrough: String(item[fence] ?? '') };
    }
  }

  private async fenced(
    fence: RunFence,
    updateExpression: string,
    values: Record<string, unknown>,
    names: Record<string, string> = {},
  ): Promise<Run | undefined> {
    return this.update(fence.runId, {
      UpdateExpression: updateExpression,
      ConditionExpression: 'lease.#owner = :fenceOwner AND lease.version = :fenceVersion',
      ExpressionAttributeNames: { ...names, '#owner': 'owner' },
      ExpressionAttributeValues: { ...values, ':fenceOwner': fence.owner, ':fenceVersion': fence.version },
    });
  }

  private async update(
    runId: string,
    input: {
      UpdateExpression: string;
      ConditionExpression: string;
      ExpressionAttributeNames?: Record<string, string>;
      ExpressionAttributeValues: Record<string, unknown>;
    },
  ): Promise<Run | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { runId, sk: RUN_SK },
          ...input,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toRun(Attributes) : undefined;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }
}

function toRun(item: Record<string, unknown>): Run {
  const { sk: _sk, ...run } = item;
  return {
    ...(run as unknown as Run),
    claimed: Number(run.claimed ?? 0),
    total: Number(run.total ?? 0),
    succeeded: Number(run.succeeded ?? 0),
    failed: Number(run.failed ?? 0),
    samples: (run.samples as Run['samples'] | undefined) ?? [],
    triggers: Number(run.triggers ?? 0),
  };
}
