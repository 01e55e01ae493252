import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import type { DisabledReason, Endpoint, EndpointsRepository } from '../domain/endpoints';

type EndpointChanges = Parameters<EndpointsRepository['update']>[2];

/**
 * The webhooks table (pk `storeId`, sk `endpointId`; the item is the Endpoint plus its sort key). Every key
 * includes the store, so another store's endpoint is simply not found. Reads are strongly consistent: an
 * endpoint just created, disabled or rotated must be seen as such by the next request and the next delivery.
 * Updates are conditional on the item existing, because UpdateItem would otherwise create a key-only item.
 */
export class DynamoEndpointsRepository implements EndpointsRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async create(endpoint: Endpoint): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...endpoint, endpointId: endpoint.id },
        ConditionExpression: 'attribute_not_exists(endpointId)',
      }),
    );
  }

  async get(storeId: string, id: string): Promise<Endpoint | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { storeId, endpointId: id }, ConsistentRead: true }),
    );
    return Item ? toEndpoint(Item) : undefined;
  }

  async list(storeId: string): Promise<Endpoint[]> {
    const endpoints: Endpoint[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const { Items, LastEvaluatedKey } = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'storeId = :storeId',
          ExpressionAttributeValues: { ':storeId': storeId },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      endpoints.push(...(Items ?? []).map(toEndpoint));
      startKey = LastEvaluatedKey;
    } while (startKey);
    return endpoints;
  }

  /** Setting `status: 'enabled'` also removes `disabledReason` and `failingSince`: a re-enabled endpoint starts healthy. */
  async update(storeId: string, id: string, changes: EndpointChanges): Promise<Endpoint | undefined> {
    const names: Record<string, string> = { '#endpointId': 'endpointId' };
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    for (const [field, value] of Object.entries(changes)) {
      // Enabling removes the reason (below); DynamoDB refuses an expression that both sets and removes it.
      if (value === undefined || (field === 'disabledReason' && changes.status === 'enabled')) continue;
      names[`#${field}`] = field;
      // null removes the attribute (a rate limit or custom headers taken away).
      if (value === null) {
        removes.push(`#${field}`);
        continue;
      }
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    if (changes.status === 'enabled') {
      names['#disabledReason'] = 'disabledReason';
      names['#failingSince'] = 'failingSince';
      removes.push('#disabledReason', '#failingSince');
    }
    let expression = `SET ${sets.join(', ')}`;
    if (removes.length > 0) expression += ` REMOVE ${removes.join(', ')}`;
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { storeId, endpointId: id },
          UpdateExpression: expression,
          ConditionExpression: 'attribute_exists(#endpointId)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toEndpoint(Attributes) : undefined;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }

  async delete(storeId: string, id: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { storeId, endpointId: id },
          ConditionExpression: 'attribute_exists(endpointId)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }

  async recordFailure(storeId: string, id: string, at: string): Promise<string | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { storeId, endpointId: id },
          UpdateExpression: 'SET failingSince = if_not_exists(failingSince, :at)',
          ConditionExpression: 'attribute_exists(endpointId)',
          ExpressionAttributeValues: { ':at': at },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Attributes?.failingSince === undefined ? undefined : String(Attributes.failingSince);
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }

  async recordSuccess(storeId: string, id: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { storeId, endpointId: id },
          UpdateExpression: 'REMOVE failingSince',
          ConditionExpression: 'attribute_exists(endpointId)',
        }),
      );
    } catch (error) {
      // Deleted meanwhile: nothing to heal.
      if (!isConditionalCheckFailure(error)) throw error;
    }
  }

  async disable(storeId: string, id: string, reason: DisabledReason, at: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { storeId, endpointId: id },
          UpdateExpression: 'SET #status = :disabled, disabledReason = :reason, updatedAt = :at',
          ConditionExpression: '#status = :enabled',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':disabled': 'disabled',
            ':enabled': 'enabled',
            ':reason': reason,
            ':at': at,
          },
        }),
      );
      return true;
    } catch (error) {
      // Already disabled (or deleted): keep the first reason.
      if (!isConditionalCheckFailure(error)) throw error;
      return false;
    }
  }
}

function toEndpoint(item: Record<string, unknown>): Endpoint {
  const { endpointId: _sortKey, ...endpoint } = item;
  return endpoint as unknown as Endpoint;
}
