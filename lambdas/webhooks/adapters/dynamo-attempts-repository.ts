import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import type {
  AttemptsRepository,
  ClaimResult,
  DeliveryAttempt,
  DeliveryRef,
  SendingLease,
} from '../domain/attempts';

/** Attempts are evidence for support and the merchant, not a ledger: TTL removes them after 30 days. */
const ATTEMPT_RETENTION_SECONDS = 30 * 86_400;

/** The page size `list` reads with, at least: leases in flight are skipped, and a page should still fill. */
const MIN_LIST_PAGE = 25;

/**
 * The attempts table (pk `endpointId`, sk `<eventId>#<replayId or 0>#<attempt, 3 digits>` for a failed attempt
 * and `<eventId>#<replayId or 0>#ok` for the delivery's lease, then its success). Event and replay ids are
 * time-ordered, so the sort key orders deliveries by time; within one, `ok` sorts after the numbered failures, as
 * it came after them.
 *
 * The lease and the success share one key known in advance, so one conditional write both excludes every other
 * copy of the delivery and sees a success already there (ReturnValuesOnConditionCheckFailure: no second request),
 * and the success that ends a first attempt overwrites its own lease: two writes per delivered webhook.
 */
export class DynamoAttemptsRepository implements AttemptsRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async claim(delivery: DeliveryRef, lease: SendingLease, now: number): Promise<ClaimResult> {
    try {
      const { Attributes } = await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...delivery,
            sk: successKey(delivery.eventId, delivery.replayId),
            attempt: lease.attempt,
            status: 'sending',
            holder: lease.holder,
            leaseUntil: lease.until,
            at: lease.at,
            expiresAt: expiresAt(lease.at),
          },
          ConditionExpression: 'attribute_not_exists(sk) OR (#status = :sending AND leaseUntil <= :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':sending': 'sending', ':now': now },
          // What was replaced, if anything, is a lease whose holder is gone: worth a warning.
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'claimed', tookOver: Attributes !== undefined };
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      // The document client does not unmarshall the item carried by the error.
      const existing = error.Item ? unmarshall(error.Item as never) : undefined;
      if (existing?.status === 'sending') {
        return { kind: 'held', until: Number(existing.leaseUntil), holder: String(existing.holder) };
      }
      return { kind: 'succeeded' };
    }
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
            expiresAt: expiresAt(attempt.at),
          },
          // A success replaces the lease (whoever holds it: the 2xx happened), never another success.
          ...(succeeded
            ? {
                ConditionExpression: 'attribute_not_exists(sk) OR #status = :sending',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':sending': 'sending' },
              }
            : {}),
        }),
      );
    } catch (error) {
      // A success of another copy is on record already: the first stays.
      if (!isConditionalCheckFailure(error)) throw error;
    }
  }

  async release(delivery: DeliveryRef, holder: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { endpointId: delivery.endpointId, sk: successKey(delivery.eventId, delivery.replayId) },
          ConditionExpression: '#status = :sending AND holder = :holder',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':sending': 'sending', ':holder': holder },
        }),
      );
    } catch (error) {
      // Taken over (the holder was presumed gone) or succeeded meanwhile: not ours to remove.
      if (!isConditionalCheckFailure(error)) throw error;
    }
  }

  async hasSucceeded(endpointId: string, eventId: string, replayId?: string): Promise<boolean> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { endpointId, sk: successKey(eventId, replayId) },
        ConsistentRead: true,
        ProjectionExpression: '#status',
        ExpressionAttributeNames: { '#status': 'status' },
      }),
    );
    return Item?.status === 'succeeded';
  }

  async list(endpointId: string, limit: number): Promise<DeliveryAttempt[]> {
    const attempts: DeliveryAttempt[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const { Items, LastEvaluatedKey } = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'endpointId = :endpointId',
          FilterExpression: '#status <> :sending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':endpointId': endpointId, ':sending': 'sending' },
          ScanIndexForward: false,
          Limit: Math.max(limit, MIN_LIST_PAGE),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const { sk: _sk, expiresAt: _expiresAt, ...attempt } of Items ?? []) {
        if (attempts.length < limit) attempts.push(attempt as DeliveryAttempt);
      }
      startKey = LastEvaluatedKey;
    } while (startKey && attempts.length < limit);
    return attempts;
  }
}

function expiresAt(at: string): number {
  return Math.floor(Date.parse(at) / 1000) + ATTEMPT_RETENTION_SECONDS;
}

function successKey(eventId: string, replayId: string | undefined): string {
  return `${deliveryPrefix(eventId, replayId)}ok`;
}

function deliveryPrefix(eventId: string, replayId: string | undefined): string {
  return `${eventId}#${replayId ?? '0'}#`;
}
