import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import type { AcceptedTransaction, TransactionsRepository } from '../domain/transactions';

/**
 * The transactions table (pk `storeId`, sk `txnId`). Accepting is the request path's only write: one conditional
 * PutItem that, when the id is taken, returns the existing item with the failure (ReturnValuesOnConditionCheckFailure)
 * so a retried request is answered without a second read. An item under 1 KB costs 1 WCU.
 */
export class DynamoTransactionsRepository implements TransactionsRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async accept(
    record: AcceptedTransaction,
  ): Promise<{ accepted: true } | { accepted: false; existing: { eventId: string; fingerprint: string } }> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          // Exactly the record's fields: the fanout reads them by name from the stream.
          Item: {
            storeId: record.storeId,
            txnId: record.txnId,
            eventId: record.eventId,
            fingerprint: record.fingerprint,
            acceptedAt: record.acceptedAt,
            transaction: record.transaction,
          },
          ConditionExpression: 'attribute_not_exists(txnId)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { accepted: true };
    } catch (error) {
      if (isConditionalCheckFailure(error) && error.Item) {
        // The document client does not unmarshall the item carried by the error.
        const existing = unmarshall(error.Item as never);
        return {
          accepted: false,
          existing: { eventId: String(existing.eventId), fingerprint: String(existing.fingerprint) },
        };
      }
      throw error;
    }
  }
}
