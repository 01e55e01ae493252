import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { createApi } from '../../../lambdas/api/create-api';
import {
  CREATED_INDEX_NAME,
  DynamoSubscriptionsRepository,
} from '../../../lambdas/billing/adapters/dynamo-subscriptions-repository';
import { createIndexGate } from '../../../lambdas/index-gate/adapters/gated-index-query';
import { IndexNotReadyError } from '../../../lambdas/index-gate/domain/index-gate';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { hashApiKey } from '../../../lambdas/stores/domain/api-keys';
import { localClientConfig } from '../../../local/aws-clients';
import { startDynamoDbLocal } from '../../../local/emulators/dynamodb-local';
import type { RunningEmulator } from '../../../local/emulators/managed-child';
import { callerFor } from '../../unit/support/api-events';
import { ADMIN_KEY, acme, STORE_KEY, webhookDependencies } from '../../unit/support/in-memory-api';
import { silentLogger } from '../../unit/support/logger';

/**
 * The subscriptions list's index added to a live subscriptions table, as a deployment adds it: while DynamoDB
 * builds and backfills it (DynamoDB Local with -delayTransientStatuses, its own instance), the list answers 503
 * with Retry-After through the gate, never a partial list; once it is ready, the list holds every subscription,
 * those written before the index existed included (createdAt comes with a subscription's first write).
 */
const TABLE = 'subscriptions';
const SUBSCRIPTIONS = 30;

let dynamodbLocal: RunningEmulator;
let raw: DynamoDBClient;

beforeAll(async () => {
  dynamodbLocal = await startDynamoDbLocal({ delayTransientStatuses: true });
  raw = new DynamoDBClient(localClientConfig(dynamodbLocal.endpoint));
  await raw.send(
    new CreateTableCommand({
      TableName: TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'storeId', AttributeType: 'S' },
        { AttributeName: 'subscriptionId', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'storeId', KeyType: 'HASH' },
        { AttributeName: 'subscriptionId', KeyType: 'RANGE' },
      ],
    }),
  );
  await waitUntil(async () => (await describe()).TableStatus === 'ACTIVE', 30_000);
  const documents = createDocumentClient(raw);
  for (let index = 0; index < SUBSCRIPTIONS; index += 1) {
    await documents.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          storeId: index % 3 === 0 ? 'other' : 'acme',
          subscriptionId: `sub_${String(SUBSCRIPTIONS - index).padStart(2, '0')}`,
          createdAt: new Date(Date.UTC(2024, 5, 1) + index * 60_000).toISOString(),
          status: index % 4 === 0 ? 'canceled' : 'active',
          plan: 'coffee',
          amount: 1500,
          currency: 'EUR',
          interval: 'month',
          intervalCount: 1,
          customer: { id: 'cus_1', email: 'c@example.com' },
          paymentMethod: 'pm_card_visa',
          anchor: '2024-06-01T00:00:00.000Z',
          nextChargeAt: '2024-07-01T00:00:00.000Z',
          cycle: 0,
          attempt: 0,
          fingerprint: 'f',
          createdEventId: 'evt_1',
        },
      }),
    );
  }
}, 60_000);

afterAll(async () => {
  raw?.destroy();
  await dynamodbLocal?.stop();
});

async function describe() {
  const { Table } = await raw.send(new DescribeTableCommand({ TableName: TABLE }));
  if (!Table) throw new Error('table vanished');
  return Table;
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

it('answers 503 while the created index is built, then lists every subscription newest first', async () => {
  // The API over the real table (the rest of its ports in memory), with a gate that re-checks quickly.
  const notReady: string[] = [];
  const gate = createIndexGate(raw, (_table, _index, status) => notReady.push(status));
  const subscriptions = new DynamoSubscriptionsRepository({
    client: createDocumentClient(raw),
    tableName: TABLE,
    gate,
  });
  const base = webhookDependencies();
  await base.stores.create({ id: 'acme', name: 'Acme', createdAt: '' }, hashApiKey(STORE_KEY));
  const call = callerFor(
    createApi({ ...base, billing: { ...base.billing, subscriptions } }, silentLogger),
    ADMIN_KEY,
  );
  const expected = Array.from({ length: SUBSCRIPTIONS }, (_, index) => index)
    .filter((index) => index % 3 !== 0)
    .reverse()
    .map((index) => `sub_${String(SUBSCRIPTIONS - index).padStart(2, '0')}`);

  // Before the deployment: the index does not exist yet.
  const missing = await call('GET', '/v1/subscriptions', { headers: acme });
  expect(missing.status).toBe(503);
  expect(missing.headers['retry-after']).toBeDefined();

  // Act: add the index to the live table, as lib/features/billing.ts declares it.
  await raw.send(
    new UpdateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: 'createdAt', AttributeType: 'S' }],
      GlobalSecondaryIndexUpdates: [
        {
          Create: {
            IndexName: CREATED_INDEX_NAME,
            KeySchema: [
              { AttributeName: 'storeId', KeyType: 'HASH' },
              { AttributeName: 'createdAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] },
          },
        },
      ],
    }),
  );
  const addedAt = Date.now();
  expect((await describe()).GlobalSecondaryIndexes?.[0]?.IndexStatus).toBe('CREATING');

  // While it is built: 503 with Retry-After, problem+json, never a partial list; the repository fails retryably.
  const building = await call('GET', '/v1/subscriptions', { headers: acme, query: 'limit=5' });
  expect(building.status).toBe(503);
  expect(building.headers['content-type']).toBe('application/problem+json');
  expect(Number(building.headers['retry-after'])).toBeGreaterThan(0);
  expect(building.body).not.toHaveProperty('data');
  await expect(subscriptions.list('acme', { limit: 5 })).rejects.toBeInstanceOf(IndexNotReadyError);
  expect(notReady.length).toBeGreaterThanOrEqual(1);

  // Once ACTIVE and backfilled (the gate's not-ready answer is cached for seconds): every subscription, pages too.
  await waitUntil(async () => {
    const index = (await describe()).GlobalSecondaryIndexes?.[0];
    return index?.IndexStatus === 'ACTIVE' && index.Backfilling !== true;
  }, 120_000);
  const readableAfterMs = Date.now() - addedAt;
  let listed = await call('GET', '/v1/subscriptions', { headers: acme, query: 'limit=100' });
  const deadline = Date.now() + 15_000;
  while (listed.status === 503 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    listed = await call('GET', '/v1/subscriptions', { headers: acme, query: 'limit=100' });
  }
  expect(listed.status).toBe(200);
  expect(listed.body.data.map((item: { id: string }) => item.id)).toEqual(expected);
  expect(listed.body).not.toHaveProperty('next');

  const paged: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await call('GET', '/v1/subscriptions', {
      headers: acme,
      query: `limit=3&status=canceled${cursor ? `&cursor=${cursor}` : ''}`,
    });
    expect(page.status).toBe(200);
    paged.push(...page.body.data.map((item: { id: string }) => item.id));
    cursor = page.body.next;
  } while (cursor);
  expect(paged).toEqual(expected.filter((id) => (SUBSCRIPTIONS - Number(id.slice(4))) % 4 === 0));
  process.stdout.write(
    `index ${CREATED_INDEX_NAME} became readable ${readableAfterMs} ms after UpdateTable\n`,
  );
}, 180_000);
