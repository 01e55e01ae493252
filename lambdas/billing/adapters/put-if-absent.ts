import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';

/**
 * Puts `item` unless the table holds an item under its key (`keyAttribute` is one of the key's attributes), in one
 * conditional write. @returns the item already stored, when there is one.
 */
export async function putIfAbsent<Stored = Record<string, unknown>>(
  client: DynamoDBDocumentClient,
  tableName: string,
  item: object,
  keyAttribute: string,
): Promise<{ created: true } | { created: false; existing: Stored }> {
  try {
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: item,
        ConditionExpression: `attribute_not_exists(${keyAttribute})`,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { created: true };
  } catch (error) {
    if (!isConditionalCheckFailure(error) || !error.Item) throw error;
    return { created: false, existing: unmarshall(error.Item as never) as Stored };
  }
}
