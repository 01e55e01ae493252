import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { gatedIndexQuery } from '../../index-gate/adapters/gated-index-query';
import type { IndexGate } from '../../index-gate/domain/index-gate';
import { batchGetConsistent, isConditionalCheckFailure } from '../../platform/dynamodb';
import type { DueSubscriptions } from '../domain/runs/ports';
import { dueShardOf, type Subscription, type SubscriptionChange } from '../domain/subscription';
import type {
  SubscriptionListPage,
  SubscriptionListPosition,
  SubscriptionListQuery,
} from '../domain/subscription-list';
import type { SubscriptionsRepository } from '../domain/subscriptions-repository';
import { putIfAbsent } from './put-if-absent';

/** The due index of the subscriptions table (lib/features/billing.ts declares it). */
export const DUE_INDEX_NAME = 'due';

/**
 * The created index of the subscriptions table (lib/features/billing.ts declares it): pk `storeId`, sk
 * `createdAt`, projecting `status` beside the keys, for a store's subscriptions newest first.
 */
export const CREATED_INDEX_NAME = 'created';

/**
 * Index queries one page of a filtered list makes at most before it answers short (with `next`): a status that
 * few subscriptions have must not turn one request into a read of the whole store.
 */
const MAX_INDEX_READS_PER_PAGE = 5;

/** Statuses in which a subscription is still billed. */
const BILLED = ['active', 'past_due'];

/**
 * The subscriptions table (pk `storeId`, sk `subscriptionId`) and its sparse, sharded due index (pk `dueShard`,
 * sk `dueAt`): only billed subscriptions carry `dueShard`, and one day's subscriptions spread over all shards.
 */
export class DynamoSubscriptionsRepository implements SubscriptionsRepository, DueSubscriptions {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly gate?: IndexGate;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string; gate?: IndexGate }) {
    this.client = props.client;
    this.tableName = props.tableName;
    this.gate = props.gate;
  }

  async create(
    subscription: Subscription,
  ): Promise<{ created: true } | { created: false; existing: Subscription }> {
    return putIfAbsent<Subscription>(this.client, this.tableName, subscription, 'subscriptionId');
  }

  async get(storeId: string, subscriptionId: string): Promise<Subscription | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { storeId, subscriptionId }, ConsistentRead: true }),
    );
    return Item as Subscription | undefined;
  }

  async cancel(
    storeId: string,
    subscriptionId: string,
    input: { readonly canceledAt: string; readonly eventId: string },
  ): ReturnType<SubscriptionsRepository['cancel']> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { storeId, subscriptionId },
          UpdateExpression:
            'SET #status = :canceled, canceledAt = :at, cancelReason = :reason, canceledEventId = :eventId REMOVE dueShard, dueAt, dunning',
          // Billed or unpaid (as in Stripe, an unpaid subscription can still be canceled); not canceled twice.
          ConditionExpression: '#status IN (:active, :pastDue, :unpaid)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':unpaid': 'unpaid',
            ':canceled': 'canceled',
            ':at': input.canceledAt,
            ':reason': 'requested',
            ':eventId': input.eventId,
            ':active': BILLED[0],
            ':pastDue': BILLED[1],
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { outcome: 'canceled', subscription: Attributes as Subscription };
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      return error.Item
        ? { outcome: 'ended', subscription: unmarshall(error.Item as never) as Subscription }
        : { outcome: 'missing' };
    }
  }

  async replace(expected: Subscription, next: Subscription): Promise<boolean> {
    const revision = expected.revision ?? 0;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: next,
          // The fence of every change but a charge's: what was read is still what is stored.
          ConditionExpression: `${revision === 0 ? 'attribute_not_exists(revision)' : 'revision = :revision'} AND #cycle = :cycle AND #attempt = :attempt AND #status = :status`,
          ExpressionAttributeNames: { '#status': 'status', '#cycle': 'cycle', '#attempt': 'attempt' },
          ExpressionAttributeValues: {
            ...(revision === 0 ? {} : { ':revision': revision }),
            ':cycle': expected.cycle,
            ':attempt': expected.attempt,
            ':status': expected.status,
          },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      return false;
    }
  }

  async applyChange(
    storeId: string,
    subscriptionId: string,
    at: { readonly cycle: number; readonly attempt: number },
    change: SubscriptionChange,
  ): Promise<boolean> {
    // `cycle` is a DynamoDB reserved word: every name goes through a placeholder.
    const set = ['#status = :status', '#cycle = :cycle', '#attempt = :attempt', 'nextChargeAt = :next'];
    const remove: string[] = [];
    const values: Record<string, unknown> = {
      ':status': change.status,
      ':cycle': change.cycle,
      ':attempt': change.attempt,
      ':next': change.nextChargeAt,
      ':atCycle': at.cycle,
      ':atAttempt': at.attempt,
      ':active': BILLED[0],
      ':pastDue': BILLED[1],
    };
    if (change.dueAt) {
      set.push('dueAt = :dueAt', 'dueShard = :shard');
      values[':dueAt'] = change.dueAt;
      values[':shard'] = dueShardOf(storeId, subscriptionId);
    } else {
      remove.push('dueAt', 'dueShard');
    }
    if (change.dunning) {
      set.push('dunning = :dunning');
      values[':dunning'] = change.dunning;
    } else {
      remove.push('dunning');
    }
    if (change.canceledAt) {
      set.push('canceledAt = :canceledAt', 'cancelReason = :reason');
      values[':canceledAt'] = change.canceledAt;
      values[':reason'] = 'payment_failed';
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { storeId, subscriptionId },
          UpdateExpression: `SET ${set.join(', ')}${remove.length > 0 ? ` REMOVE ${remove.join(', ')}` : ''}`,
          // The fence: only the charge of the subscription's current cycle and attempt moves it on, once.
          ConditionExpression:
            '#cycle = :atCycle AND #attempt = :atAttempt AND #status IN (:active, :pastDue)',
          ExpressionAttributeNames: { '#status': 'status', '#cycle': 'cycle', '#attempt': 'attempt' },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      return false;
    }
  }

  /**
   * A store's subscriptions newest first: up to `limit` keys from the created index (keys and `status` only, so
   * the status filter is applied on the index), then the items themselves in one strongly consistent
   * BatchGetItem. The index is eventually consistent: a subscription created a moment ago may not be listed
   * yet, and one whose status changed since is left out when it no longer matches the filter.
   */
  async list(storeId: string, query: SubscriptionListQuery): Promise<SubscriptionListPage> {
    if (!this.gate)
      throw new Error('DynamoSubscriptionsRepository: reading the created index needs an index gate.');
    const gate = this.gate;
    const keys: SubscriptionListPosition[] = [];
    let start: Record<string, unknown> | undefined = query.after
      ? { storeId, subscriptionId: query.after.subscriptionId, createdAt: query.after.createdAt }
      : undefined;
    let next: SubscriptionListPosition | undefined;
    for (let reads = 0; ; reads += 1) {
      if (reads === MAX_INDEX_READS_PER_PAGE) {
        // Short page: more may follow from where the index was read to.
        next = start ? positionOf(start) : undefined;
        break;
      }
      const page = await gatedIndexQuery(
        gate,
        this.client,
        CREATED_INDEX_NAME,
        {
          TableName: this.tableName,
          KeyConditionExpression: 'storeId = :storeId',
          ExpressionAttributeValues: {
            ':storeId': storeId,
            ...(query.status ? { ':status': query.status } : {}),
          },
          ...(query.status
            ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }
            : {}),
          ScanIndexForward: false,
          Limit: query.limit,
          ...(start ? { ExclusiveStartKey: start } : {}),
        },
        // The list answers 503 until the index is ready (the route's job): never a partial list.
        { kind: 'fail' },
        (output) => ({ items: (output.Items ?? []).map(positionOf), last: output.LastEvaluatedKey }),
      );
      const room = query.limit - keys.length;
      keys.push(...page.items.slice(0, room));
      if (page.items.length > room) {
        // The page is full before the end of what the index returned: the next page starts after its last key.
        next = keys[keys.length - 1];
        break;
      }
      if (!page.last) break;
      start = page.last;
      if (keys.length === query.limit) {
        next = positionOf(page.last);
        break;
      }
    }
    const items = (await batchGetConsistent(
      this.client,
      this.tableName,
      keys.map(({ subscriptionId }) => ({ storeId, subscriptionId })),
    )) as unknown as Subscription[];
    const byId = new Map(items.map((item) => [item.subscriptionId, item]));
    // In the index's order (newest first; equal times by id): the order the next page continues.
    const subscriptions = keys
      .map(({ subscriptionId }) => byId.get(subscriptionId))
      .filter((item): item is Subscription => item !== undefined)
      .filter((item) => query.status === undefined || item.status === query.status);
    return { subscriptions, ...(next ? { next } : {}) };
  }

  async page(
    shard: string,
    asOf: string,
    after: Readonly<Record<string, unknown>> | undefined,
    limit: number,
  ): Promise<{ subscriptions: Subscription[]; next?: Readonly<Record<string, unknown>> }> {
    if (!this.gate)
      throw new Error('DynamoSubscriptionsRepository: reading the due index needs an index gate.');
    return gatedIndexQuery(
      this.gate,
      this.client,
      DUE_INDEX_NAME,
      {
        TableName: this.tableName,
        KeyConditionExpression: 'dueShard = :shard AND dueAt <= :asOf',
        ExpressionAttributeValues: { ':shard': shard, ':asOf': asOf },
        ...(after ? { ExclusiveStartKey: after as Record<string, unknown> } : {}),
        Limit: limit,
      },
      // A run's step fails and its message comes back later: the run waits for the index, it never skips.
      { kind: 'fail' },
      (output) => ({
        subscriptions: (output.Items ?? []) as Subscription[],
        ...(output.LastEvaluatedKey ? { next: output.LastEvaluatedKey } : {}),
      }),
    );
  }
}

function positionOf(key: Record<string, unknown>): SubscriptionListPosition {
  return { createdAt: String(key.createdAt), subscriptionId: String(key.subscriptionId) };
}
