import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import {
  type ChargeRecord,
  type ChargeRef,
  chargeKeyOf,
  idempotencyKeyOf,
  subscriptionKeyOf,
} from '../domain/charges/charge';
import type { AskedKey, ChargeResolution, ChargesRepository, ChargeTerms } from '../domain/charges/ports';
import { putIfAbsent } from './put-if-absent';

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
    const put = await putIfAbsent<ChargeRecord>(this.client, this.tableName, charge, 'chargeKey');
    return put.created ? { claimed: true } : { claimed: false, existing: put.existing };
  }

  async withdraw(ref: ChargeRef, runId: string): Promise<boolean> {
    return this.deleteIf(
      ref,
      '#status = :pending AND runId = :runId AND attribute_not_exists(firstAskedAt)',
      { ':runId': runId },
    );
  }

  async release(ref: ChargeRef, asked?: AskedKey): Promise<boolean> {
    return asked === undefined
      ? this.deleteIf(ref, '#status = :pending AND attribute_not_exists(firstAskedAt)', {})
      : this.deleteIf(ref, '#status = :pending AND idempotencyKey = :key AND lastAskedAt = :last', {
          ':key': asked.idempotencyKey,
          ':last': asked.lastAskedAt,
        });
  }

  async reprice(ref: ChargeRef, terms: ChargeTerms): Promise<ChargeRecord | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          UpdateExpression: 'SET amount = :amount, #plan = :plan, paymentMethod = :paymentMethod',
          ConditionExpression: '#status = :pending AND asks = :one',
          ExpressionAttributeNames: { '#status': 'status', '#plan': 'plan' },
          ExpressionAttributeValues: {
            ':pending': 'pending',
            ':one': 1,
            ':amount': terms.amount,
            ':plan': terms.plan,
            ':paymentMethod': terms.paymentMethod,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes as ChargeRecord;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }

  async releaseUnsent(ref: ChargeRef): Promise<boolean> {
    return this.deleteIf(ref, '#status = :pending AND asks = :one', { ':one': 1 });
  }

  async adopt(ref: ChargeRef, fromRunId: string, toRunId: string): Promise<ChargeRecord | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          UpdateExpression: 'SET runId = :to, adoptedFrom = :from',
          ConditionExpression: '#status = :pending AND runId = :from AND attribute_not_exists(firstAskedAt)',
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

  async markFirstAsk(ref: ChargeRef, at: string): Promise<{ first: boolean; charge?: ChargeRecord }> {
    let first = true;
    const charge = await this.updateIf(
      ref,
      {
        UpdateExpression: 'SET firstAskedAt = :at, lastAskedAt = :at, asks = :one',
        ConditionExpression: '#status = :pending AND attribute_not_exists(firstAskedAt)',
        values: { ':at': at, ':one': 1 },
      },
      () => {
        first = false;
      },
    );
    return { first: first && charge !== undefined, ...(charge ? { charge } : {}) };
  }

  async markAsked(ref: ChargeRef, at: string): Promise<ChargeRecord | undefined> {
    return this.updateIf(ref, {
      UpdateExpression:
        'SET firstAskedAt = if_not_exists(firstAskedAt, :at), lastAskedAt = :at ADD asks :one',
      ConditionExpression: '#status = :pending',
      values: { ':at': at, ':one': 1 },
    });
  }

  async markServerError(
    ref: ChargeRef,
    idempotencyKey: string,
    at: string,
  ): Promise<ChargeRecord | undefined> {
    return this.updateIf(ref, {
      UpdateExpression: 'SET serverErrorAt = if_not_exists(serverErrorAt, :at)',
      ConditionExpression: '#status = :pending AND idempotencyKey = :key',
      values: { ':at': at, ':key': idempotencyKey },
    });
  }

  async rekey(
    ref: ChargeRef,
    seen: AskedKey,
    generation: number,
    at: string,
  ): Promise<ChargeRecord | undefined> {
    return this.updateIf(ref, {
      UpdateExpression:
        'SET idempotencyKey = :to, keyGeneration = :generation, firstAskedAt = :at, lastAskedAt = :at, asks = :one REMOVE serverErrorAt',
      ConditionExpression: '#status = :pending AND idempotencyKey = :from AND lastAskedAt = :last',
      values: {
        ':from': seen.idempotencyKey,
        ':last': seen.lastAskedAt,
        ':to': idempotencyKeyOf(ref, generation),
        ':generation': generation,
        ':one': 1,
        ':at': at,
      },
    });
  }

  async resolve(
    ref: ChargeRef,
    resolution: ChargeResolution,
    from: 'pending' | 'processing' = 'pending',
  ): Promise<ChargeRecord | undefined> {
    const set = ['#status = :status'];
    const values: Record<string, unknown> = { ':status': resolution.status, ':from': from };
    for (const [name, value] of Object.entries(resolution)) {
      if (value === undefined || name === 'status') continue;
      set.push(`${name} = :${name}`);
      values[`:${name}`] = value;
    }
    // Resolved once: a second resolution (a duplicate message that also reached the gateway) keeps the first.
    return this.updateIf(ref, {
      UpdateExpression: `SET ${set.join(', ')}`,
      ConditionExpression: '#status = :from',
      values,
    });
  }

  /**
   * A conditional update of an existing charge. @returns the charge after it, or as it stands when the condition
   * failed; undefined when there is no charge.
   */
  private async updateIf(
    ref: ChargeRef,
    update: { UpdateExpression: string; ConditionExpression: string; values: Record<string, unknown> },
    onConditionFailed?: () => void,
  ): Promise<ChargeRecord | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          UpdateExpression: update.UpdateExpression,
          ConditionExpression: `attribute_exists(chargeKey) AND ${update.ConditionExpression}`,
          ExpressionAttributeNames: { '#status': 'status' },
          // DynamoDB refuses values an expression does not use.
          ExpressionAttributeValues: update.ConditionExpression.includes(':pending')
            ? { ':pending': 'pending', ...update.values }
            : update.values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return Attributes as ChargeRecord;
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      onConditionFailed?.();
      // No item came back with the failure: there is no claim (withdrawn or released).
      return error.Item ? (unmarshall(error.Item as never) as ChargeRecord) : undefined;
    }
  }

  private async deleteIf(
    ref: ChargeRef,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':pending': 'pending', ...values },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
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
