import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createIndexGate, gatedIndexQuery } from '../../../lambdas/index-gate/adapters/gated-index-query';
import { IndexNotReadyError } from '../../../lambdas/index-gate/domain/index-gate';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { localClientConfig } from '../../../local/aws-clients';
import { startDynamoDbLocal } from '../../../local/emulators/dynamodb-local';
import type { RunningEmulator } from '../../../local/emulators/managed-child';
import { sharedEmulators, uniquePrefix } from '../support/emulators';

/**
 * The 2018 outage, on the emulator: a GSI is added to a live table and, while DynamoDB builds it, readers go
 * through the gate. DynamoDB Local runs with -delayTransientStatuses so that the index really is CREATING (then
 * backfilling) for a while, as in AWS. Its own instance: the shared one answers ACTIVE at once.
 */
const TABLE = 'subscriptions';
const INDEX = 'byDueDay';
const DUE_DAY = '2026-11-10';

let dynamodbLocal: RunningEmulator;
let raw: DynamoDBClient;
let sqs: SQSClient;
const expectedIds = new Set<string>();

beforeAll(async () => {
  dynamodbLocal = await startDynamoDbLocal({ delayTransientStatuses: true });
  raw = new DynamoDBClient(localClientConfig(dynamodbLocal.endpoint));
  sqs = new SQSClient(localClientConfig(sharedEmulators().sqsEndpoint));
  await raw.send(
    new CreateTableCommand({
      TableName: TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
  await waitUntil(async () => (await describe()).TableStatus === 'ACTIVE', 30_000);
  for (let i = 0; i < 30; i++) {
    const dueDay = `2026-11-${10 + (i % 3)}`;
    if (dueDay === DUE_DAY) expectedIds.add(`sub_${i}`);
    await raw.send(
      new PutItemCommand({ TableName: TABLE, Item: { pk: { S: `sub_${i}` }, dueDay: { S: dueDay } } }),
    );
  }
}, 60_000);

afterAll(async () => {
  raw?.destroy();
  sqs?.destroy();
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

it('keeps every reader correct while a new GSI is built, and uses it once it is ACTIVE', async () => {
  const documents = createDocumentClient(raw);
  const notReadyReports: string[] = [];
  const gate = createIndexGate(raw, (_table, _index, status) => notReadyReports.push(status));
  const queryDue = () =>
    gatedIndexQuery(
      gate,
      documents,
      INDEX,
      {
        TableName: TABLE,
        KeyConditionExpression: 'dueDay = :day',
        ExpressionAttributeValues: { ':day': DUE_DAY },
      },
      { kind: 'fail' },
      (output) => new Set((output.Items ?? []).map((item) => String(item.pk))),
    );
  const scanDue = async () => {
    const { Items = [] } = await documents.send(
      new ScanCommand({
        TableName: TABLE,
        FilterExpression: 'dueDay = :day',
        ExpressionAttributeValues: { ':day': DUE_DAY },
        ConsistentRead: true,
      }),
    );
    return new Set(Items.map((item) => String(item.pk)));
  };

  // Act: add the index to the live table.
  await raw.send(
    new UpdateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: 'dueDay', AttributeType: 'S' }],
      GlobalSecondaryIndexUpdates: [
        {
          Create: {
            IndexName: INDEX,
            KeySchema: [{ AttributeName: 'dueDay', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'ALL' },
          },
        },
      ],
    }),
  );
  const addedAt = Date.now();
  expect((await describe()).GlobalSecondaryIndexes?.[0]?.IndexStatus).toBe('CREATING');

  // The gate says not ready.
  expect(await gate.isReady(TABLE, INDEX)).toBe(false);

  // A waiting caller starts now and must get the index's answer once it is ready.
  let waitedMs = 0;
  const waiting = gate
    .read(TABLE, INDEX, { kind: 'wait', deadlineMs: 120_000 }, async () => {
      waitedMs = Date.now() - addedAt;
      return queryDue();
    })
    .then((ids) => ids);

  // A falling-back caller gets the correct answer by the slow path.
  const viaFallback = await gate.read(TABLE, INDEX, { kind: 'fallback', fallback: scanDue }, queryDue);
  expect(viaFallback).toEqual(expectedIds);

  // A failing caller leaves its message on the queue: it comes back after the visibility timeout.
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${uniquePrefix()}-charges`,
      Attributes: { VisibilityTimeout: '1' },
    }),
  );
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify({ dueDay: DUE_DAY }) }));
  const consumeOnce = async (): Promise<'processed' | 'left-for-retry' | 'empty'> => {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl,
        WaitTimeSeconds: 2,
        MaxNumberOfMessages: 1,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    const message = Messages[0];
    if (!message) return 'empty';
    try {
      expect(await queryDue()).toEqual(expectedIds);
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
      return 'processed';
    } catch (error) {
      expect(error).toBeInstanceOf(IndexNotReadyError);
      expect((error as IndexNotReadyError).retryable).toBe(true);
      return 'left-for-retry';
    }
  };
  expect(await consumeOnce()).toBe('left-for-retry');
  expect(await consumeOnce()).toBe('left-for-retry');
  expect(notReadyReports.length).toBeGreaterThanOrEqual(3);

  // Once ACTIVE: the waiting caller has its answer from the index, and the message is processed.
  expect(await waiting).toEqual(expectedIds);
  const index = (await describe()).GlobalSecondaryIndexes?.[0];
  expect(index?.IndexStatus).toBe('ACTIVE');
  expect(index?.Backfilling).not.toBe(true);
  // The gate's not-ready answer is cached for seconds: wait it out, then the queue drains.
  let outcome = await consumeOnce();
  const drainDeadline = Date.now() + 15_000;
  while (outcome !== 'processed' && Date.now() < drainDeadline) outcome = await consumeOnce();
  expect(outcome).toBe('processed');
  expect(await gate.isReady(TABLE, INDEX)).toBe(true);

  // The figures for the closing note: how long the emulator kept the index unreadable.
  process.stdout.write(`index ${INDEX} became readable ${waitedMs} ms after UpdateTable\n`);
  expect(waitedMs).toBeGreaterThan(1_000);
}, 150_000);
