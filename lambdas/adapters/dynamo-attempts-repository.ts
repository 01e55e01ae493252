import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AttemptsRepository, DeliveryAttempt } from '../domain/webhooks/attempts';
import { isConditionalCheckFailure } from './dynamodb';

/** Attempts are evidence for support and the merchant, not a ledger: TTL removes them after 30 days. */
export const ATTEMPT_RETENTION_SECONDS = 30 * 86_400;

/**
 * The attempts table (pk `endpointId`, sk `<eventId>#<replayId or 0>#<attempt, 3 digits>` for a failed attempt
 * and `<eventId>#<replayId or 0>#ok` for the one that succeeded). Event and replay ids are time-ordered, so the
 * sort key orders deliveries by time; within one, `ok` sorts after the numbered failures, as it came after them.
 * The success's key is known in advance, so `hasSucceeded` (asked before every send) is one consistent GetItem,
 * and a second success of the same delivery cannot overwrite the first (attribute_not_exists).
 */
export class DynamoAttemptsRepository implements AttemptsRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async record(attempt: DeliveryAttempt): Promise<void> {
    const succeeded = attempt.status === 'succeeded';
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...attempt,
            sk: succeeded
              ? successKey(attempt.eventId, attempt.replayId)
              : `${deliveryPrefix(attempt.eventId, attempt.replayId)}${String(attempt.attempt).padStart(3, '0')}`,
            expiresAt: Math.floor(Date.parse(attempt.at) / 1000) + ATTEMPT_RETENTION_SECONDS,
          },
          ...(succeeded ? { ConditionExpression: 'attribute_not_exists(sk)' } : {}),
        }),
      );
    } catch (error) {
      // Two copies of one message delivered at the same instant: the first success stays on record.
      if (!isConditionalCheckFailure(error)) throw error;
    }
  }

  async hasSucceeded(endpointId: string, eventId: string, replayId?: string): Promise<boolean> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { endpointId, sk: successKey(eventId, replayId) },
        // A redelivered message must see the success its first processing recorded.
        ConsistentRead: true,
        ProjectionExpression: 'endpointId',
      }),
    );
    return Item !== undefined;
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

function successKey(eventId: string, replayId: string | undefined): string {
  return `${deliveryPrefix(eventId, replayId)}ok`;
}

function deliveryPrefix(eventId: string, replayId: string | undefined): string {
  return `${eventId}#${replayId ?? '0'}#`;
}
