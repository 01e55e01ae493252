import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AttemptsRepository, DeliveryAttempt } from '../domain/webhooks/attempts';

/** Attempts are evidence for support and the merchant, not a ledger: TTL removes them after 30 days. */
export const ATTEMPT_RETENTION_SECONDS = 30 * 86_400;

/**
 * The attempts table (pk `endpointId`, sk `<eventId>#<replayId or 0>#<attempt, 3 digits>`). Event and replay
 * ids are time-ordered, so the sort key orders attempts by time, newest last; the attempts of one delivery
 * share a prefix, which is how `hasSucceeded` finds them.
 */
export class DynamoAttemptsRepository implements AttemptsRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async record(attempt: DeliveryAttempt): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...attempt,
          sk: `${deliveryPrefix(attempt.eventId, attempt.replayId)}${String(attempt.attempt).padStart(3, '0')}`,
          expiresAt: Math.floor(Date.parse(attempt.at) / 1000) + ATTEMPT_RETENTION_SECONDS,
        },
      }),
    );
  }

  async hasSucceeded(endpointId: string, eventId: string, replayId?: string): Promise<boolean> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const { Count, LastEvaluatedKey } = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'endpointId = :endpointId AND begins_with(sk, :prefix)',
          FilterExpression: '#status = :succeeded',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':endpointId': endpointId,
            ':prefix': deliveryPrefix(eventId, replayId),
            ':succeeded': 'succeeded',
          },
          // A redelivered message must see the success its first processing recorded.
          ConsistentRead: true,
          Select: 'COUNT',
          ExclusiveStartKey: startKey,
        }),
      );
      if ((Count ?? 0) > 0) return true;
      startKey = LastEvaluatedKey;
    } while (startKey);
    return false;
  }

  async list(endpointId: string, limit: number): Promise<DeliveryAttempt[]> {
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'endpointId = :endpointId',
        ExpressionAttributeValues: { ':endpointId': endpointId },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (Items ?? []).map(({ sk: _sk, expiresAt: _expiresAt, ...attempt }) => attempt as DeliveryAttempt);
  }
}

function deliveryPrefix(eventId: string, replayId: string | undefined): string {
  return `${eventId}#${replayId ?? '0'}#`;
}
