import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type ChargeRecord,
  type ChargeRef,
  type ChargeResolution,
  type ChargesRepository,
  chargeKeyOf,
  subscriptionKeyOf,
} from '../domain/subscriptions/charges';
import { isConditionalCheckFailure } from './dynamodb';

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_SIZE = 100;

/**
 * The charges table (pk `subscriptionKey` = `<storeId>#<subscriptionId>`, sk `chargeKey` = `<period>#<attempt>`):
 * the claim is a conditional put of the item (a run fences a page of claims with its checkpoint after them), the
 * resolution a conditional update of its status; a claim made after its run holder lost the lease is withdrawn
 * (conditional delete) or adopted by a later run (conditional update of its run).
 */
export class DynamoChargesRepository implements ChargesRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async claim(charge: ChargeRecord): Promise<{ claimed: true } | { claimed: false; existing: ChargeRecord }> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: charge,
          ConditionExpression: 'attribute_not_exists(chargeKey)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (!isConditionalCheckFailure(error) || !error.Item) throw error;
      return { claimed: false, existing: unmarshall(error.Item as never) as ChargeRecord };
    }
  }

  async withdraw(ref: ChargeRef, runId: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          ConditionExpression: '#status = :pending AND runId = :runId',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':pending': 'pending', ':runId': runId },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }

  async adopt(ref: ChargeRef, fromRunId: string, toRunId: string): Promise<ChargeRecord | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          UpdateExpression: 'SET runId = :to, adoptedFrom = :from',
          ConditionExpression: '#status = :pending AND runId = :from',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':pending': 'pending', ':from': fromRunId, ':to': toRunId },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes as ChargeRecord;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }

  async get(ref: ChargeRef): Promise<ChargeRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keyOf(ref), ConsistentRead: true }),
    );
    return Item as ChargeRecord | undefined;
  }

  async resolve(ref: ChargeRef, resolution: ChargeResolution): Promise<ChargeRecord | undefined> {
    const set = ['#status = :status', 'resolvedAt = :resolvedAt', 'eventId = :eventId'];
    const values: Record<string, unknown> = {
      ':status': resolution.status,
      ':resolvedAt': resolution.resolvedAt,
      ':eventId': resolution.eventId,
      ':pending': 'pending',
    };
    const optional = {
      paymentIntentId: resolution.paymentIntentId,
      declineCode: resolution.declineCode,
      failureMessage: resolution.failureMessage,
      change: resolution.change,
    };
    for (const [name, value] of Object.entries(optional)) {
      if (value === undefined) continue;
      set.push(`${name} = :${name}`);
      values[`:${name}`] = value;
    }
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          UpdateExpression: `SET ${set.join(', ')}`,
          // Resolved once: a second resolution (a duplicate message that also reached the gateway) keeps the first.
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return Attributes as ChargeRecord;
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      // No item came back with the failure: there is no claim (withdrawn).
      return error.Item ? (unmarshall(error.Item as never) as ChargeRecord) : undefined;
    }
  }

  async listForSubscription(storeId: string, subscriptionId: string): Promise<ChargeRecord[]> {
    const charges: ChargeRecord[] = [];
    let after: Record<string, unknown> | undefined;
    do {
      const output = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'subscriptionKey = :key',
          ExpressionAttributeValues: { ':key': subscriptionKeyOf(storeId, subscriptionId) },
          ...(after ? { ExclusiveStartKey: after } : {}),
        }),
      );
      charges.push(...((output.Items ?? []) as ChargeRecord[]));
      after = output.LastEvaluatedKey;
    } while (after);
    return charges;
  }

  async getMany(refs: readonly ChargeRef[]): Promise<ChargeRecord[]> {
    const found: ChargeRecord[] = [];
    const unique = [...new Map(refs.map((ref) => [JSON.stringify(keyOf(ref)), keyOf(ref)])).values()];
    for (let start = 0; start < unique.length; start += BATCH_GET_SIZE) {
      let keys: Record<string, unknown>[] = unique.slice(start, start + BATCH_GET_SIZE);
      for (let tries = 0; keys.length > 0; tries += 1) {
        const output = await this.client.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        found.push(...((output.Responses?.[this.tableName] ?? []) as ChargeRecord[]));
        keys = (output.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
        // Unprocessed keys mean the table is busy: back off before asking for them again.
        if (keys.length > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** tries)));
      }
    }
    return found;
  }
}

function keyOf(ref: ChargeRef): { subscriptionKey: string; chargeKey: string } {
  return {
    subscriptionKey: subscriptionKeyOf(ref.storeId, ref.subscriptionId),
    chargeKey: chargeKeyOf(ref.period, ref.attempt),
  };
}
