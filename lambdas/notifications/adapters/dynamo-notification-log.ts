import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import type {
  ClaimResult,
  NotificationClaim,
  NotificationLog,
  NotificationOutcome,
  NotificationRecord,
} from '../domain/notification-log';

/**
 * The sent-once records of notifications, in a table keyed by `pk` (string) with TTL on `expiresAt` that other
 * records share: every key here is `notification#<eventId>`. An item:
 * `{pk, eventId, storeId, type, status: sending|sent|rejected, leaseUntil?, claimedAt, sentAt?, messageId?,
 * rejectedAt?, reason?, expiresAt}`; never an address or a body.
 *
 * A claim is one conditional PutItem that answers with the record standing in its way when it fails
 * (ReturnValuesOnConditionCheckFailure), so a duplicate costs one request. An outcome is one conditional
 * UpdateItem that never overwrites another outcome.
 */
export class DynamoNotificationLog implements NotificationLog {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async claim(claim: NotificationClaim): Promise<ClaimResult> {
    try {
      const { Attributes } = await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: notificationKey(claim.eventId),
            eventId: claim.eventId,
            storeId: claim.storeId,
            type: claim.type,
            status: 'sending',
            leaseUntil: claim.leaseUntil,
            claimedAt: new Date(claim.now).toISOString(),
            expiresAt: claim.expiresAt,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR (#status = :sending AND leaseUntil <= :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':sending': 'sending', ':now': claim.now },
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true, tookOver: Attributes !== undefined };
    } catch (error) {
      if (isConditionalCheckFailure(error) && error.Item) {
        return { claimed: false, current: recordOf(unmarshall(error.Item as never)) };
      }
      throw error;
    }
  }

  async finish(eventId: string, outcome: NotificationOutcome, expiresAt: number): Promise<boolean> {
    const fields =
      outcome.status === 'sent'
        ? { sentAt: outcome.at, messageId: outcome.messageId }
        : { rejectedAt: outcome.at, reason: outcome.reason };
    const names = Object.keys(fields);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: notificationKey(eventId) },
          UpdateExpression: `SET #status = :status, expiresAt = :expiresAt, ${names.map((n) => `${n} = :${n}`).join(', ')} REMOVE leaseUntil`,
          // A record the TTL already removed is written again rather than lost.
          ConditionExpression: 'attribute_not_exists(pk) OR #status = :sending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': outcome.status,
            ':sending': 'sending',
            ':expiresAt': expiresAt,
            ...Object.fromEntries(Object.entries(fields).map(([n, value]) => [`:${n}`, value])),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }
}

export function notificationKey(eventId: string): string {
  return `notification#${eventId}`;
}

function recordOf(item: Record<string, unknown>): NotificationRecord {
  switch (item.status) {
    case 'sending':
      return { status: 'sending', leaseUntil: Number(item.leaseUntil) };
    case 'sent':
      return { status: 'sent', sentAt: String(item.sentAt) };
    case 'rejected':
      return { status: 'rejected', rejectedAt: String(item.rejectedAt), reason: String(item.reason) };
    default:
      throw new Error(`Notification record ${String(item.pk)} has an unknown status ${String(item.status)}.`);
  }
}
