import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  CREATED_INDEX_NAME,
  DynamoSubscriptionsRepository,
} from '../../lambdas/billing/adapters/dynamo-subscriptions-repository';
import type { Subscription } from '../../lambdas/billing/domain/subscription';
import type { SubscriptionListPosition } from '../../lambdas/billing/domain/subscription-list';
import { isIndexNotReadyError } from '../../lambdas/index-gate/adapters/gated-index-query';
import {
  type IndexDescription,
  IndexGate,
  IndexNotReadyError,
} from '../../lambdas/index-gate/domain/index-gate';

/**
 * The list's read of the subscriptions table's `created` index, over a simulated table: the index (keys and
 * status, newest first, DynamoDB's Limit-before-filter semantics) and the items by key. Every read goes through
 * the readiness gate; while the index is not ready, nothing is read and the error is the retryable one.
 */
const TABLE = 'subscriptions';

function subscription(
  storeId: string,
  index: number,
  status: Subscription['status'] = 'active',
): Subscription {
  return {
    storeId,
    subscriptionId: `sub_${String(index).padStart(3, '0')}`,
    createdAt: new Date(Date.UTC(2024, 0, 1) + index * 60_000).toISOString(),
    status,
  } as Subscription;
}

/** A document client over `items`; `refuseQueries` answers Query as DynamoDB does for a backfilling index. */
function simulatedTable(items: Subscription[], options: { refuseQueries?: boolean } = {}) {
  const sent: (QueryCommand | BatchGetCommand)[] = [];
  const byKey = new Map(items.map((item) => [`${item.storeId}#${item.subscriptionId}`, item]));
  const client = {
    async send(command: QueryCommand | BatchGetCommand) {
      sent.push(command);
      if (command instanceof QueryCommand) {
        if (options.refuseQueries) {
          throw Object.assign(new Error('Cannot read from backfilling global secondary index: created'), {
            name: 'ValidationException',
          });
        }
        const input = command.input;
        const storeId = input.ExpressionAttributeValues?.[':storeId'];
        const status = input.ExpressionAttributeValues?.[':status'];
        const index = [...byKey.values()]
          .filter((item) => item.storeId === storeId)
          .sort(
            (a, b) =>
              b.createdAt.localeCompare(a.createdAt) || a.subscriptionId.localeCompare(b.subscriptionId),
          );
        const start = input.ExclusiveStartKey
          ? index.findIndex((item) => item.subscriptionId === input.ExclusiveStartKey?.subscriptionId) + 1
          : 0;
        const evaluated = index.slice(start, start + (input.Limit ?? index.length));
        const last = evaluated[evaluated.length - 1];
        return {
          Items: evaluated
            .filter((item) => status === undefined || item.status === status)
            .map(({ storeId: s, subscriptionId, createdAt, status: st }) => ({
              storeId: s,
              subscriptionId,
              createdAt,
              status: st,
            })),
          // As DynamoDB: a key whenever the Limit was reached, even at the very end.
          ...(last && evaluated.length === input.Limit
            ? {
                LastEvaluatedKey: { storeId, subscriptionId: last.subscriptionId, createdAt: last.createdAt },
              }
            : {}),
        };
      }
      const request = command.input.RequestItems?.[TABLE];
      return {
        Responses: {
          [TABLE]: (request?.Keys ?? []).flatMap(
            (key) => byKey.get(`${key.storeId}#${key.subscriptionId}`) ?? [],
          ),
        },
      };
    },
  };
  return { client: client as unknown as DynamoDBDocumentClient, sent, byKey };
}

function gate(state: Partial<IndexDescription> | undefined) {
  return new IndexGate(
    {
      async describeIndexes() {
        return state ? [{ name: CREATED_INDEX_NAME, status: 'ACTIVE', backfilling: false, ...state }] : [];
      },
    },
    { isNotReadyError: isIndexNotReadyError },
  );
}

describe('the created index, read through the gate', () => {
  it.each([
    ['being created', { status: 'CREATING' }],
    ['backfilling', { status: 'ACTIVE', backfilling: true }],
    ['missing (a deploy under way)', undefined],
  ])('while it is %s, the list fails retryably and reads nothing', async (_what, state) => {
    const table = simulatedTable([subscription('acme', 1)]);
    const repository = new DynamoSubscriptionsRepository({
      client: table.client,
      tableName: TABLE,
      gate: gate(state),
    });
    const list = repository.list('acme', { limit: 20 });
    await expect(list).rejects.toBeInstanceOf(IndexNotReadyError);
    await expect(list).rejects.toMatchObject({ retryable: true, index: 'created' });
    expect(table.sent).toEqual([]);
  });

  it('treats a query refused for a backfilling index as not ready, never as a crash', async () => {
    const table = simulatedTable([subscription('acme', 1)], { refuseQueries: true });
    const repository = new DynamoSubscriptionsRepository({
      client: table.client,
      tableName: TABLE,
      gate: gate({}),
    });
    await expect(repository.list('acme', { limit: 20 })).rejects.toBeInstanceOf(IndexNotReadyError);
  });

  it('needs a gate', async () => {
    const table = simulatedTable([]);
    const repository = new DynamoSubscriptionsRepository({ client: table.client, tableName: TABLE });
    await expect(repository.list('acme', { limit: 1 })).rejects.toThrow(/index gate/);
  });

  it("queries the store's partition newest first, then reads the items by key, strongly consistent", async () => {
    const items = [...Array.from({ length: 5 }, (_, i) => subscription('acme', i)), subscription('other', 9)];
    const table = simulatedTable(items);
    const repository = new DynamoSubscriptionsRepository({
      client: table.client,
      tableName: TABLE,
      gate: gate({}),
    });

    const page = await repository.list('acme', { limit: 3 });

    expect(page.subscriptions.map((item) => item.subscriptionId)).toEqual(['sub_004', 'sub_003', 'sub_002']);
    expect(page.next).toEqual({ createdAt: items[2]?.createdAt, subscriptionId: 'sub_002' });
    const [query, batch] = table.sent;
    expect(query?.input).toMatchObject({
      TableName: TABLE,
      IndexName: 'created',
      KeyConditionExpression: 'storeId = :storeId',
      ExpressionAttributeValues: { ':storeId': 'acme' },
      ScanIndexForward: false,
      Limit: 3,
    });
    expect(batch?.input).toEqual({
      RequestItems: {
        [TABLE]: {
          ConsistentRead: true,
          Keys: ['sub_004', 'sub_003', 'sub_002'].map((subscriptionId) => ({
            storeId: 'acme',
            subscriptionId,
          })),
        },
      },
    });
    expect(table.sent).toHaveLength(2);

    const rest = await repository.list('acme', { limit: 3, after: page.next });
    expect(rest.subscriptions.map((item) => item.subscriptionId)).toEqual(['sub_001', 'sub_000']);
    expect(rest.next).toBeUndefined();
  });

  it('filters on the index, reads at most 5 index pages per page, and loses no match across short pages', async () => {
    // 60 subscriptions; every tenth is canceled.
    const items = Array.from({ length: 60 }, (_, i) =>
      subscription('acme', i, i % 10 === 0 ? 'canceled' : 'active'),
    );
    const table = simulatedTable(items);
    const repository = new DynamoSubscriptionsRepository({
      client: table.client,
      tableName: TABLE,
      gate: gate({}),
    });

    const seen: string[] = [];
    const sizes: number[] = [];
    let after: SubscriptionListPosition | undefined;
    let pages = 0;
    do {
      table.sent.length = 0;
      const page = await repository.list('acme', {
        limit: 4,
        status: 'canceled',
        ...(after ? { after } : {}),
      });
      const queries = table.sent.filter((command) => command instanceof QueryCommand);
      expect(queries.length).toBeLessThanOrEqual(5);
      for (const query of queries) {
        expect(query.input).toMatchObject({
          FilterExpression: '#status = :status',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':status': 'canceled' },
        });
      }
      sizes.push(page.subscriptions.length);
      seen.push(...page.subscriptions.map((item) => item.subscriptionId));
      after = page.next;
      pages += 1;
    } while (after && pages < 50);
    expect(seen).toEqual(['sub_050', 'sub_040', 'sub_030', 'sub_020', 'sub_010', 'sub_000']);
    // Short pages, and a `next` after each but the last.
    expect(sizes.some((size) => size < 4)).toBe(true);
  });

  it('leaves out a subscription whose status changed after the index was read', async () => {
    const items = Array.from({ length: 3 }, (_, i) => subscription('acme', i, 'past_due'));
    const table = simulatedTable(items);
    const repository = new DynamoSubscriptionsRepository({
      client: table.client,
      tableName: TABLE,
      gate: gate({}),
    });
    const original = table.client.send.bind(table.client);
    // The index still says past_due; the item itself was paid meanwhile.
    (table.client as { send: unknown }).send = async (command: QueryCommand | BatchGetCommand) => {
      const answer = (await original(command as never)) as { Responses?: Record<string, Subscription[]> };
      if (command instanceof BatchGetCommand) {
        return {
          Responses: {
            [TABLE]: (answer.Responses?.[TABLE] ?? []).map((item) =>
              item.subscriptionId === 'sub_001' ? { ...item, status: 'active' } : item,
            ),
          },
        };
      }
      return answer;
    };
    const page = await repository.list('acme', { limit: 10, status: 'past_due' });
    expect(page.subscriptions.map((item) => item.subscriptionId)).toEqual(['sub_002', 'sub_000']);
  });
});
