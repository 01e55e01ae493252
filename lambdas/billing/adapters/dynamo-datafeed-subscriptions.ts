import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  DATAFEED_SUBSCRIPTION_FIELDS,
  type DatafeedSubscription,
  type DatafeedSubscriptions,
  type DatafeedWindows,
} from '../domain/datafeed';

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_SIZE = 100;
/** A day: the Query's filter is widened by it on each side, the builder keeps exactly the windows. */
const DAY_MS = 86_400_000;

/**
 * What a run's datafeeds read of the subscriptions table (pk `storeId`, sk `subscriptionId`), once per completed run
 * (again only if the completing step is retried). Both reads project the fields the datafeed shows, which saves
 * transfer, not capacity: DynamoDB charges what it reads, by item size before projection and filter.
 *
 * - `getMany`, the subscriptions of the run's charges: one strongly consistent BatchGetItem per 100 keys (the
 *   outcome of the last charge was written just before), so 1 read unit per subscription of up to 4 KB: 10,000
 *   charged subscriptions cost 10,000 RRU (about $0.0013 on demand at $0.125 per million) in 100 requests.
 * - `ofWindows`, per store with charges in the run: a Query of the store's whole partition with a FilterExpression
 *   (cancellations of the day, `endAt`s of the next 7 days), eventually consistent: half a read unit per 4 KB of
 *   the partition read, filtered or not, 1 MB per page. A store with 100,000 subscriptions of about 1 KB reads
 *   about 100 MB: 12,500 RRU (about $0.0016) in about 100 sequential pages, a few seconds of the step. It grows
 *   with the store, not with the day's changes; a store of millions would want a sparse index keyed by the day
 *   (through the index gate, docs/deploying.md), which this avoids for now.
 */
export class DynamoDatafeedSubscriptions implements DatafeedSubscriptions {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  /** Backs off before asking again for unprocessed keys; a test passes a quicker one. */
  private readonly backoff: (tries: number) => Promise<void>;

  constructor(props: {
    client: DynamoDBDocumentClient;
    tableName: string;
    backoff?: (tries: number) => Promise<void>;
  }) {
    this.client = props.client;
    this.tableName = props.tableName;
    this.backoff =
      props.backoff ??
      ((tries) => new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** tries))));
  }

  async getMany(
    keys: readonly { readonly storeId: string; readonly subscriptionId: string }[],
  ): Promise<DatafeedSubscription[]> {
    const unique = [
      ...new Map(
        keys.map(({ storeId, subscriptionId }) => [
          JSON.stringify([storeId, subscriptionId]),
          { storeId, subscriptionId },
        ]),
      ).values(),
    ];
    const found: DatafeedSubscription[] = [];
    for (let start = 0; start < unique.length; start += BATCH_GET_SIZE) {
      let batch: Record<string, unknown>[] = unique.slice(start, start + BATCH_GET_SIZE);
      for (let tries = 0; batch.length > 0; tries += 1) {
        const output = await this.client.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: { Keys: batch, ConsistentRead: true, ...projection() },
            },
          }),
        );
        found.push(...((output.Responses?.[this.tableName] ?? []) as DatafeedSubscription[]));
        batch = (output.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
        // Unprocessed keys mean the table is busy: back off before asking for them again.
        if (batch.length > 0) await this.backoff(tries);
      }
    }
    return found;
  }

  async ofWindows(storeId: string, windows: DatafeedWindows): Promise<DatafeedSubscription[]> {
    // Widened by a day: times are compared as strings here, and one written with an offset instead of `Z` sorts
    // up to 14 hours off. The builder compares them as times.
    const widen = (iso: string, days: number) => new Date(Date.parse(iso) + days * DAY_MS).toISOString();
    const found: DatafeedSubscription[] = [];
    let after: Record<string, unknown> | undefined;
    do {
      const output = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'storeId = :store',
          FilterExpression:
            '(canceledAt BETWEEN :canceledFrom AND :canceledTo) OR (endAt BETWEEN :endingFrom AND :endingTo)',
          ExpressionAttributeValues: {
            ':store': storeId,
            ':canceledFrom': widen(windows.canceled.from, -1),
            ':canceledTo': widen(windows.canceled.to, 1),
            ':endingFrom': widen(windows.ending.from, -1),
            ':endingTo': widen(windows.ending.to, 1),
          },
          ...projection(),
          ...(after ? { ExclusiveStartKey: after } : {}),
        }),
      );
      found.push(...((output.Items ?? []) as DatafeedSubscription[]));
      after = output.LastEvaluatedKey;
    } while (after);
    return found;
  }
}

/** The projection of the fields the datafeed shows, every name through a placeholder (`status` is reserved). */
function projection(): {
  ProjectionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
} {
  const names = Object.fromEntries(DATAFEED_SUBSCRIPTION_FIELDS.map((field) => [`#${field}`, field]));
  return { ProjectionExpression: Object.keys(names).join(', '), ExpressionAttributeNames: names };
}
