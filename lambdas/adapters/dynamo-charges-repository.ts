import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type ChargeRecord,
  type ChargeRef,
  type ChargeResolution,
  type ChargesRepository,
  type ClaimFence,
  ClaimFencedError,
  chargeKeyOf,
  subscriptionKeyOf,
} from '../domain/subscriptions/charges';
import { isConditionalCheckFailure } from './dynamodb';

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_SIZE = 100;

/**
 * The charges table (pk `subscriptionKey` = `<storeId>#<subscriptionId>`, sk `chargeKey` = `<period>#<attempt>`):
 * the claim is a conditional put of the item (under a run's lease, in one transaction with a check of the lease
 * on the runs table's run item), the resolution a conditional update of its status.
 */
export class DynamoChargesRepository implements ChargesRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly runsTableName?: string;

  constructor(props: {
    client: DynamoDBDocumentClient;
    tableName: string;
    /** The runs table, for claims made under a run's lease. */
    runsTableName?: string;
  }) {
    this.client = props.client;
    this.tableName = props.tableName;
    this.runsTableName = props.runsTableName;
  }

  async claim(
    charge: ChargeRecord,
    fence?: ClaimFence,
  ): Promise<{ claimed: true } | { claimed: false; existing: ChargeRecord }> {
    if (fence) return this.claimUnderLease(charge, fence);
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

  /** The claim's put and a check that the lease still holds (the runs adapter's fence), all or nothing. */
  private async claimUnderLease(
    charge: ChargeRecord,
    fence: ClaimFence,
  ): Promise<{ claimed: true } | { claimed: false; existing: ChargeRecord }> {
    if (!this.runsTableName) throw new Error('DynamoChargesRepository: a fenced claim needs runsTableName.');
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: this.runsTableName,
                Key: { runId: fence.runId, sk: 'run' },
                ConditionExpression: 'lease.#owner = :owner AND lease.version = :version',
                ExpressionAttributeNames: { '#owner': 'owner' },
                ExpressionAttributeValues: { ':owner': fence.owner, ':version': fence.version },
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: charge,
                ConditionExpression: 'attribute_not_exists(chargeKey)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
          ],
        }),
      );
      return { claimed: true };
    } catch (error) {
      const reasons = (error as { name?: string; CancellationReasons?: CancellationReason[] })
        .CancellationReasons;
      if ((error as { name?: string }).name !== 'TransactionCanceledException' || !reasons) throw error;
      const [lease, put] = reasons;
      if (lease?.Code === 'ConditionalCheckFailed') throw new ClaimFencedError(fence);
      if (put?.Code !== 'ConditionalCheckFailed') throw error;
      // The claim exists: its item came back with the failure (read it if this DynamoDB did not send it).
      const existing = put.Item ? (unmarshall(put.Item as never) as ChargeRecord) : await this.get(charge);
      if (!existing) throw error;
      return { claimed: false, existing };
    }
  }

  async get(ref: ChargeRef): Promise<ChargeRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keyOf(ref), ConsistentRead: true }),
    );
    return Item as ChargeRecord | undefined;
  }

  async resolve(ref: ChargeRef, resolution: ChargeResolution): Promise<ChargeRecord> {
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
      if (!isConditionalCheckFailure(error) || !error.Item) throw error;
      return unmarshall(error.Item as never) as ChargeRecord;
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

/** One entry of a cancelled transaction's reasons, as the document client passes it on (item not unmarshalled). */
interface CancellationReason {
  readonly Code?: string;
  readonly Item?: Record<string, unknown>;
}

function keyOf(ref: ChargeRef): { subscriptionKey: string; chargeKey: string } {
  return {
    subscriptionKey: subscriptionKeyOf(ref.storeId, ref.subscriptionId),
    chargeKey: chargeKeyOf(ref.period, ref.attempt),
  };
}
