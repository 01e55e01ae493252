import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import { type EndpointStatsRepository, type HourCounts, STATS_WINDOW_HOURS } from '../domain/endpoint-stats';

/** Counters outlive the window by a day, then TTL removes them. */
const COUNTER_RETENTION_SECONDS = 2 * 86_400;

/**
 * The endpoints' hourly counters (domain/endpoint-stats.ts), in the attempts table under a partition of their own
 * per endpoint (`endpointId` = `<endpoint id>#stats`, sk = the UTC hour `YYYY-MM-DDTHH`), so the attempt log's
 * reads never meet them and a window is one key range of at most 24 items.
 */
export class DynamoEndpointStats implements EndpointStatsRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async add(endpointId: string, counts: HourCounts): Promise<void> {
    const key = { endpointId: statsPartition(endpointId), sk: counts.hour };
    const expiresAt = Math.floor(Date.parse(`${counts.hour}:00:00.000Z`) / 1000) + COUNTER_RETENTION_SECONDS;
    const add = {
      TableName: this.tableName,
      Key: key,
      ExpressionAttributeValues: {
        ':succeeded': counts.succeeded,
        ':failed': counts.failed,
        ':expiresAt': expiresAt,
      },
    };
    if (counts.lastSucceededAt === undefined) {
      await this.client.send(
        new UpdateCommand({
          ...add,
          UpdateExpression: 'ADD succeeded :succeeded, failed :failed SET expiresAt = :expiresAt',
        }),
      );
      return;
    }
    try {
      // The later success wins: a flush of another environment may have written a later one already.
      await this.client.send(
        new UpdateCommand({
          ...add,
          UpdateExpression:
            'ADD succeeded :succeeded, failed :failed SET expiresAt = :expiresAt, lastSucceededAt = :last',
          ConditionExpression: 'attribute_not_exists(lastSucceededAt) OR lastSucceededAt < :last',
          ExpressionAttributeValues: { ...add.ExpressionAttributeValues, ':last': counts.lastSucceededAt },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      await this.client.send(
        new UpdateCommand({
          ...add,
          UpdateExpression: 'ADD succeeded :succeeded, failed :failed SET expiresAt = :expiresAt',
        }),
      );
    }
  }

  async hours(endpointId: string, fromHour: string): Promise<HourCounts[]> {
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'endpointId = :partition AND sk >= :from',
        ExpressionAttributeValues: { ':partition': statsPartition(endpointId), ':from': fromHour },
        // The window's hours and, at most, one in the future of a skewed clock.
        Limit: STATS_WINDOW_HOURS + 1,
      }),
    );
    return (Items ?? []).map((item) => ({
      hour: String(item.sk),
      succeeded: Number(item.succeeded ?? 0),
      failed: Number(item.failed ?? 0),
      ...(typeof item.lastSucceededAt === 'string' ? { lastSucceededAt: item.lastSucceededAt } : {}),
    }));
  }
}

function statsPartition(endpointId: string): string {
  return `${endpointId}#stats`;
}
