import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailure } from '../../platform/dynamodb';
import {
  type EventOrigin,
  type EventsQuery,
  type EventsRepository,
  type EventType,
  firstEventIdAt,
  type PipelineEvent,
} from '../domain/events';

/** With a type filter most items read may be dropped: read pages at least this large to limit round trips. */
const FILTERED_PAGE_SIZE = 100;

/**
 * The events table (pk `storeId`, sk `eventId`). Event ids are time-ordered ULIDs, so a store's events oldest
 * first is a plain Query and a time window is a key range.
 */
export class DynamoEventsRepository implements EventsRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async put(event: PipelineEvent, origin: EventOrigin): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            storeId: event.storeId,
            eventId: event.id,
            type: event.type,
            createdAt: event.createdAt,
            data: event.data,
            origin,
          },
          ConditionExpression: 'attribute_not_exists(eventId)',
        }),
      );
      return true;
    } catch (error) {
      // Already stored by an earlier (retried) call: the event is immutable, so that is success.
      if (!isConditionalCheckFailure(error)) throw error;
      return false;
    }
  }

  async get(storeId: string, eventId: string): Promise<PipelineEvent | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { storeId, eventId }, ConsistentRead: true }),
    );
    return Item ? toEvent(Item) : undefined;
  }

  async list(storeId: string, query: EventsQuery): Promise<{ events: PipelineEvent[]; next?: string }> {
    const range =
      query.order === 'desc'
        ? descendingRange(query.afterId, query.beforeId, query.untilTime)
        : keyRange(query.afterId, query.untilTime);
    if (!range) return { events: [] };
    const filter = typeFilter(query.types);
    const events: PipelineEvent[] = [];
    let startKey: Record<string, unknown> | undefined;
    let more = false;
    do {
      const remaining = query.limit - events.length;
      const { Items, LastEvaluatedKey } = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: `storeId = :storeId${range.condition}`,
          FilterExpression: filter?.expression,
          // DynamoDB refuses an empty ExpressionAttributeNames.
          ExpressionAttributeNames: range.names || filter ? { ...range.names, ...filter?.names } : undefined,
          ExpressionAttributeValues: { ':storeId': storeId, ...range.values, ...filter?.values },
          // Limit bounds the items read, before the filter: a filtered page may match fewer.
          Limit: filter ? Math.max(remaining, FILTERED_PAGE_SIZE) : remaining,
          ScanIndexForward: query.order !== 'desc',
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of Items ?? []) {
        // BETWEEN is inclusive: the cursors' own events are not "after" or "before" them.
        if (item.eventId === query.afterId || item.eventId === query.beforeId) continue;
        if (events.length === query.limit) {
          more = true;
          break;
        }
        events.push(toEvent(item));
      }
      startKey = LastEvaluatedKey;
    } while (!more && startKey && events.length < query.limit);
    const last = events.at(-1);
    return last && (more || startKey) ? { events, next: last.id } : { events };
  }
}

interface ExpressionPart {
  readonly condition: string;
  readonly names?: Record<string, string>;
  readonly values?: Record<string, string>;
}

/**
 * The sort-key part of the key condition: `afterId` and `untilTime` both exclusive. A key condition takes one
 * comparison, so both bounds make a BETWEEN, whose inclusive lower end is skipped when read. Undefined when the
 * range is empty (DynamoDB refuses a BETWEEN whose bounds are inverted).
 */
function keyRange(afterId: string | undefined, untilTime: number | undefined): ExpressionPart | undefined {
  const names = { '#eventId': 'eventId' };
  if (untilTime === undefined) {
    return afterId === undefined
      ? { condition: '' }
      : { condition: ' AND #eventId > :after', names, values: { ':after': afterId } };
  }
  if (afterId === undefined) {
    return { condition: ' AND #eventId < :until', names, values: { ':until': firstEventIdAt(untilTime) } };
  }
  const last = lastEventIdBefore(untilTime);
  if (afterId >= last) return undefined;
  return {
    condition: ' AND #eventId BETWEEN :after AND :last',
    names,
    values: { ':after': afterId, ':last': last },
  };
}

/**
 * The key range of a newest-first read: after `afterId` and before `beforeId` (both exclusive) and before
 * `untilTime`. Undefined when empty.
 */
function descendingRange(
  afterId: string | undefined,
  beforeId: string | undefined,
  untilTime: number | undefined,
): ExpressionPart | undefined {
  const names = { '#eventId': 'eventId' };
  const until = untilTime === undefined ? undefined : firstEventIdAt(untilTime);
  const before = beforeId !== undefined && (until === undefined || beforeId < until) ? beforeId : until;
  if (before === undefined) return keyRange(afterId, undefined);
  if (afterId === undefined) {
    return { condition: ' AND #eventId < :before', names, values: { ':before': before } };
  }
  if (afterId >= before) return undefined;
  // BETWEEN is inclusive at both ends: the bounds' own items are skipped when read (an `until` bound is no id).
  return {
    condition: ' AND #eventId BETWEEN :after AND :before',
    names,
    values: { ':after': afterId, ':before': before },
  };
}

/** The largest id an event created before `time` can have: ULID randomness is at most "Z" in every position. */
function lastEventIdBefore(time: number): string {
  return `${firstEventIdAt(time - 1).slice(0, -16)}${'Z'.repeat(16)}`;
}

function typeFilter(
  types: readonly EventType[] | undefined,
): { expression: string; names: Record<string, string>; values: Record<string, string> } | undefined {
  if (!types || types.length === 0) return undefined;
  const placeholders = types.map((_, index) => `:type${index}`);
  return {
    expression: `#type IN (${placeholders.join(', ')})`,
    names: { '#type': 'type' },
    values: Object.fromEntries(types.map((type, index) => [`:type${index}`, type])),
  };
}

function toEvent(item: Record<string, unknown>): PipelineEvent {
  return {
    id: String(item.eventId),
    type: item.type as EventType,
    createdAt: String(item.createdAt),
    storeId: String(item.storeId),
    data: item.data,
  };
}
