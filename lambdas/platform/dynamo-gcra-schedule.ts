import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isConditionalCheckFailure } from './dynamodb';

/**
 * A shared GCRA schedule (the generic cell rate algorithm) on one DynamoDB item per key: `nextAt`, the earliest time
 * (epoch ms) the next request under that key may go, for every execution environment. Written by hand: no library
 * does a distributed GCRA on DynamoDB, and the two conditional writes below are all it takes. Used by the payment
 * gateway's limit (billing/adapters/dynamo-gateway-schedule.ts) and each rate-limited webhook endpoint's
 * (webhooks/adapters/dynamo-endpoint-schedule.ts); the algorithm and its bound: docs/rate-limiter.md.
 *
 * A reservation is one conditional UpdateItem, of one of two forms:
 * - busy (`nextAt` is now or later): `SET nextAt = nextAt + :interval` if `nextAt >= :now AND nextAt <= :latest`;
 *   the send time is the old `nextAt` (ReturnValues UPDATED_OLD);
 * - idle (`nextAt` is past, or unset): `SET nextAt = :now + :interval` if `attribute_not_exists(nextAt) OR
 *   nextAt < :now`; the send time is now.
 * The two conditions split every state of the item, so one of the two applies; a failed condition answers the item
 * as it was (ReturnValuesOnConditionCheckFailure ALL_OLD), which says which form applies, or that the next slot is
 * past `latest` (nothing reserved). The form tried first is the one the key's last answer points to: one write per
 * request while requests queue (the case that matters), two after an idle spell; a third only when another
 * environment's write came in between. There is no single-write form: an update expression has no max() nor
 * conditional value (`if_not_exists` tests presence, not order), and `nextAt` cannot be made to go unset when it
 * passes (TTL deletes within days, not milliseconds).
 */
export class DynamoGcraSchedule<Key extends Record<string, string>> {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly kind: string;
  private readonly name: string;
  /** Each key's `nextAt` as last answered (a bounded memory): which form to try first. */
  private readonly lastNextAt = new Map<string, number>();

  constructor(props: {
    client: DynamoDBDocumentClient;
    tableName: string;
    /** Written on the item as `kind`, for whoever reads the table. */
    kind: string;
    /** Names the schedule in errors. */
    name: string;
  }) {
    this.client = props.client;
    this.tableName = props.tableName;
    this.kind = props.kind;
    this.name = props.name;
  }

  /**
   * Reserves the next send time under `key`: `max(now, nextAt)`, moving `nextAt` on by `intervalMs`, if that time
   * is no later than `latest`. @returns the send time; one later than `latest` reserved nothing (it is when the
   * next slot is). Throws when the table cannot be reached, or after 4 writes lost to others (contention).
   */
  async reserve(
    key: Key,
    now: number,
    intervalMs: number,
    latest = Number.MAX_SAFE_INTEGER,
  ): Promise<number> {
    if (now > latest) return now;
    const memo = JSON.stringify(key);
    let busy = (this.lastNextAt.get(memo) ?? Number.NEGATIVE_INFINITY) >= now;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const answer = busy
        ? await this.reserveBusy(key, now, intervalMs, latest)
        : await this.reserveIdle(key, now, intervalMs);
      if (answer.reserved) {
        this.remember(memo, answer.sendAt + intervalMs);
        return answer.sendAt;
      }
      const nextAt = answer.nextAt;
      this.remember(memo, nextAt ?? Number.NEGATIVE_INFINITY);
      if (nextAt !== undefined && nextAt > latest) return nextAt;
      busy = nextAt !== undefined && nextAt >= now;
    }
    throw new Error(`${this.name}: no reservation after 4 conditional writes (contention)`);
  }

  private remember(memo: string, nextAt: number): void {
    if (this.lastNextAt.size >= 10_000) this.lastNextAt.clear();
    this.lastNextAt.set(memo, nextAt);
  }

  private async reserveBusy(key: Key, now: number, intervalMs: number, latest: number): Promise<Attempt> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET nextAt = nextAt + :interval',
          ConditionExpression: 'nextAt >= :now AND nextAt <= :latest',
          ExpressionAttributeValues: { ':interval': intervalMs, ':now': now, ':latest': latest },
          ReturnValues: 'UPDATED_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const sendAt = Attributes?.nextAt;
      if (typeof sendAt !== 'number') throw new Error(`${this.name}: the update answered no nextAt`);
      return { reserved: true, sendAt };
    } catch (error) {
      return failedCondition(error);
    }
  }

  private async reserveIdle(key: Key, now: number, intervalMs: number): Promise<Attempt> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET nextAt = :next, #kind = :kind',
          ExpressionAttributeNames: { '#kind': 'kind' },
          ConditionExpression: 'attribute_not_exists(nextAt) OR nextAt < :now',
          ExpressionAttributeValues: { ':next': now + intervalMs, ':now': now, ':kind': this.kind },
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

/** A failed condition: the item as it was. Anything else is thrown on (the caller falls back or retries later). */
function failedCondition(error: unknown): Attempt {
  if (!isConditionalCheckFailure(error)) throw error;
  const item = error.Item ? unmarshall(error.Item as never) : undefined;
  const nextAt = item?.nextAt;
  return { reserved: false, nextAt: typeof nextAt === 'number' ? nextAt : undefined };
}
