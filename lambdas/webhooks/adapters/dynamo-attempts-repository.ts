import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import { type AttemptsPage, type AttemptsQuery, eventPosition } from '../domain/attempt-log';
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
/** The most items one `list` evaluates (before its filter): a page's read is bounded whatever the filter. */
const MAX_LIST_READ = 500;

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

  async succeededEventIds(
    endpointId: string,
    firstEventId: string,
    lastEventId: string,
  ): Promise<ReadonlySet<string>> {
    const succeeded = new Set<string>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const { Items, LastEvaluatedKey } = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          // Every delivery of these events (any replay id, any attempt) sorts between `<first>#` and `<last>#~`.
          KeyConditionExpression: 'endpointId = :endpointId AND sk BETWEEN :from AND :to',
          FilterExpression: '#status = :succeeded',
          ProjectionExpression: 'eventId',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':endpointId': endpointId,
            ':from': `${firstEventId}#`,
            ':to': `${lastEventId}#~`,
            ':succeeded': 'succeeded',
          },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of Items ?? []) succeeded.add(String(item.eventId));
      startKey = LastEvaluatedKey;
    } while (startKey);
    return succeeded;
  }

  /**
   * Newest first: the endpoint's partition read backwards from `after`, `eventId` as a key prefix (bounded), and
   * `status` (and the exclusion of leases) as a filter over a bounded read: a request evaluates at most
   * MAX_LIST_READ items, so a rare status among many others answers a short (even empty) page with a `next`
   * rather than reading the whole log.
   */
  async list(endpointId: string, query: AttemptsQuery): Promise<AttemptsPage> {
    const attempts: DeliveryAttempt[] = [];
    const statuses = query.status ? [query.status] : ['succeeded', 'failed'];
    let startKey: Record<string, unknown> | undefined =
      query.after === undefined ? undefined : { endpointId, sk: query.after };
    let read = 0;
    let next: string | undefined;
    while (read < MAX_LIST_READ) {
      const { Items, LastEvaluatedKey, ScannedCount } = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression:
            query.eventId === undefined
              ? 'endpointId = :endpointId'
              : 'endpointId = :endpointId AND begins_with(sk, :event)',
          FilterExpression: `#status IN (${statuses.map((_, index) => `:status${index}`).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':endpointId': endpointId,
            ...(query.eventId === undefined ? {} : { ':event': eventPosition(query.eventId) }),
            ...Object.fromEntries(statuses.map((status, index) => [`:status${index}`, status])),
          },
          ScanIndexForward: false,
          Limit: Math.min(MAX_LIST_READ - read, Math.max(query.limit + 1, MIN_LIST_PAGE)),
          ExclusiveStartKey: startKey,
        }),
      );
      // At least one per request, so the loop is bounded whatever the answers.
      read += Math.max(1, ScannedCount ?? Items?.length ?? 0);
      next = undefined;
      const items = Items ?? [];
      const room = query.limit - attempts.length;
      let lastKey: string | undefined;
      for (const { sk, expiresAt: _expiresAt, ...attempt } of items.slice(0, room)) {
        attempts.push(attempt as DeliveryAttempt);
        lastKey = String(sk);
      }
      if (items.length > room) {
        // The page is full and the query found more: continue after its last attempt.
        next = lastKey;
        break;
      }
      startKey = LastEvaluatedKey;
      if (!startKey) break;
      // Stopped by the read bound (or a full page at a page's end): continue from the last key read.
      next = String(startKey.sk);
      if (attempts.length === query.limit) break;
    }
    return next === undefined ? { attempts } : { attempts, next };
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
