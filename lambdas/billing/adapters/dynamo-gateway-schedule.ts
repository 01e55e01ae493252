import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import type { GatewaySchedule } from '../domain/gateway-pace';

/**
 * The gateway limit's shared schedule (domain/gateway-pace.ts, GCRA) in the runs table, which billing owns: one item
 * `{runId: "rate-limit#<key>", sk: "schedule", kind: "gateway-rate-limit", nextAt: <epoch ms>}`. Run ids are UTC
 * dates (`YYYY-MM-DD`), so the partition `rate-limit#…` is apart from every run, its manifest pages and its
 * reconciliation report; no reader of the table lists partitions. The charge function may update this partition
 * only (a `dynamodb:LeadingKeys` condition in lib/features/billing.ts).
 *
 * A reservation is one conditional UpdateItem, of one of two forms:
 * - busy (`nextAt` is now or later): `SET nextAt = nextAt + :interval` if `nextAt >= :now AND nextAt <= :latest`;
 *   the send time is the old `nextAt` (ReturnValues UPDATED_OLD);
 * - idle (`nextAt` is past, or unset): `SET nextAt = :now + :interval` if `attribute_not_exists(nextAt) OR
 *   nextAt < :now`; the send time is now.
 * The two conditions split every state of the item, so one of the two applies; a failed condition answers the item
 * as it was (ReturnValuesOnConditionCheckFailure ALL_OLD), which says which form applies, or that the next slot is
 * past `latest` (nothing reserved). The form tried first is the one the last answer points to: one write per
 * request while requests queue (the case that matters), two when the schedule went idle in between; a third only
 * when another environment's write came in between. There is no single-write form: an update expression has no
 * max() nor conditional value (`if_not_exists` tests presence, not order), and `nextAt` cannot be made to go unset
 * when it passes (TTL deletes within days, not milliseconds).
 *
 * The item is a few dozen bytes, one write unit per request. The runs table has no TTL, and needs none here.
 */
export class DynamoGatewaySchedule implements GatewaySchedule {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly key: { runId: string; sk: string };
  /** The item's `nextAt` as last answered: which form to try first. */
  private lastNextAt = Number.NEGATIVE_INFINITY;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string; key: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
    this.key = gatewayScheduleKey(props.key);
  }

  async reserve(now: number, intervalMs: number, latest: number): Promise<number> {
    // No send time can be within `latest`: nothing to reserve.
    if (now > latest) return now;
    let busy = this.lastNextAt >= now;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const answer = busy
        ? await this.reserveBusy(now, intervalMs, latest)
        : await this.reserveIdle(now, intervalMs);
      if (answer.reserved) {
        this.lastNextAt = answer.sendAt + intervalMs;
        return answer.sendAt;
      }
      const nextAt = answer.nextAt;
      this.lastNextAt = nextAt ?? Number.NEGATIVE_INFINITY;
      if (nextAt !== undefined && nextAt > latest) return nextAt;
      busy = nextAt !== undefined && nextAt >= now;
    }
    throw new Error('gateway schedule: no reservation after 4 conditional writes (contention)');
  }

  private async reserveBusy(now: number, intervalMs: number, latest: number): Promise<Attempt> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key,
          UpdateExpression: 'SET nextAt = nextAt + :interval',
          ConditionExpression: 'nextAt >= :now AND nextAt <= :latest',
          ExpressionAttributeValues: { ':interval': intervalMs, ':now': now, ':latest': latest },
          ReturnValues: 'UPDATED_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const sendAt = Attributes?.nextAt;
      if (typeof sendAt !== 'number') throw new Error('gateway schedule: the update answered no nextAt');
      return { reserved: true, sendAt };
    } catch (error) {
      return failedCondition(error);
    }
  }

  private async reserveIdle(now: number, intervalMs: number): Promise<Attempt> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key,
          UpdateExpression: 'SET nextAt = :next, #kind = :kind',
          ExpressionAttributeNames: { '#kind': 'kind' },
          ConditionExpression: 'attribute_not_exists(nextAt) OR nextAt < :now',
          ExpressionAttributeValues: {
            ':next': now + intervalMs,
            ':now': now,
            ':kind': 'gateway-rate-limit',
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { reserved: true, sendAt: now };
    } catch (error) {
      return failedCondition(error);
    }
  }
}

type Attempt = { reserved: true; sendAt: number } | { reserved: false; nextAt?: number };

/** A failed condition: the item as it was. Anything else is thrown on (the pacer falls back). */
function failedCondition(error: unknown): Attempt {
  if (!isConditionalCheckFailure(error)) throw error;
  const item = error.Item ? unmarshall(error.Item as never) : undefined;
  const nextAt = item?.nextAt;
  return { reserved: false, nextAt: typeof nextAt === 'number' ? nextAt : undefined };
}

/** The runs table's key of the shared schedule of `key`: a partition no run id (a UTC date) can be. */
export function gatewayScheduleKey(key: string): { runId: string; sk: string } {
  return { runId: `rate-limit#${key}`, sk: 'schedule' };
}
