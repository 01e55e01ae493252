import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import type { IdempotencyRecord, IdempotencyStore, StoredResponse } from '../domain/idempotency';

/**
 * Idempotency records in DynamoDB. `begin` is one conditional put that also returns the existing record when the
 * condition fails (ReturnValuesOnConditionCheckFailure), so a replay costs one request, not two.
 * `expiresAt` is in epoch seconds for DynamoDB's TTL; TTL deletion lags, so expiry is also checked in the condition.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async begin(
    record: IdempotencyRecord,
    now: number,
  ): Promise<{ began: true } | { began: false; existing: IdempotencyRecord }> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(record),
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :nowSeconds',
          ExpressionAttributeValues: { ':nowSeconds': Math.floor(now / 1000) },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { began: true };
    } catch (error) {
      if (isConditionalCheckFailure(error) && error.Item) {
        return { began: false, existing: fromItem(unmarshall(error.Item as never)) };
      }
      throw error;
    }
  }

  async takeOver(key: string, expectedLockedUntil: number, lockedUntil: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: key },
          UpdateExpression: 'SET lockedUntil = :lockedUntil',
          ConditionExpression: '#status = :inProgress AND lockedUntil = :expected',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':lockedUntil': lockedUntil,
            ':inProgress': 'in_progress',
            ':expected': expectedLockedUntil,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }

  async complete(key: string, response: StoredResponse, expiresAt: number): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: key },
        UpdateExpression: 'SET #status = :completed, #response = :response, expiresAt = :expiresAt',
        ExpressionAttributeNames: { '#status': 'status', '#response': 'response' },
        ExpressionAttributeValues: {
          ':completed': 'completed',
          ':response': response,
          ':expiresAt': Math.ceil(expiresAt / 1000),
        },
      }),
    );
  }

  async release(key: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: key },
          ConditionExpression: '#status = :inProgress',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':inProgress': 'in_progress' },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
    }
  }
}

function toItem(record: IdempotencyRecord): Record<string, unknown> {
  return {
    pk: record.key,
    fingerprint: record.fingerprint,
    status: record.status,
    lockedUntil: record.lockedUntil,
    expiresAt: Math.ceil(record.expiresAt / 1000),
    response: record.response,
  };
}

function fromItem(item: Record<string, unknown>): IdempotencyRecord {
  return {
    key: String(item.pk),
    fingerprint: String(item.fingerprint),
    status: item.status === 'completed' ? 'completed' : 'in_progress',
    lockedUntil: Number(item.lockedUntil),
    expiresAt: Number(item.expiresAt) * 1000,
    response: item.response as StoredResponse | undefined,
  };
}
