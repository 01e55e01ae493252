import type { DescribeTableCommand, DescribeTableCommandOutput, IndexStatus } from '@aws-sdk/client-dynamodb';
import { DynamoIndexDescriber } from '../../lambdas/index-gate/adapters/gated-index-query';
import {
  createIndexReadinessHandlers,
  type IndexReadinessEvent,
} from '../../lambdas/index-gate/adapters/index-readiness-resource';

// The handlers run against a stand-in for the DynamoDB client that answers DescribeTable with canned
// descriptions. A fake client is acceptable here only because there is no AWS account to run against; the
// real DescribeTableCommand and DynamoIndexDescriber still run. The emulator tests cover DynamoDB's behaviour.

type IndexState = { status: IndexStatus; backfilling?: boolean };

function handlersFor(indexes: Record<string, IndexState>) {
  const requests: string[] = [];
  const logged: unknown[] = [];
  const client = {
    async send(command: DescribeTableCommand): Promise<DescribeTableCommandOutput> {
      requests.push(command.input.TableName ?? '');
      return {
        $metadata: {},
        Table: {
          TableName: command.input.TableName,
          TableStatus: 'ACTIVE',
          GlobalSecondaryIndexes: Object.entries(indexes).map(([name, state]) => ({
            IndexName: name,
            IndexStatus: state.status,
            // DescribeTable lists Backfilling only while an index added to an existing table is backfilled.
            ...(state.backfilling === undefined ? {} : { Backfilling: state.backfilling }),
          })),
        },
      };
    },
  };
  const handlers = createIndexReadinessHandlers(new DynamoIndexDescriber(client), {
    info: (...args: unknown[]) => logged.push(args),
  });
  return { ...handlers, requests, logged };
}

function event(
  requestType: 'Create' | 'Update' | 'Delete',
  indexNames = ['byDueDate', 'byStore'],
): IndexReadinessEvent {
  const common = {
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:framework-onEvent',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Pipeline/1',
    RequestId: 'request-1',
    LogicalResourceId: 'SubscriptionsTableIndexReadiness',
    ResourceType: 'Custom::IndexReadiness',
    ResourceProperties: {
      ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:framework-onEvent',
      TableName: 'Pipeline-SubscriptionsTable-1',
      IndexNames: indexNames,
    },
  };
  if (requestType === 'Create') return { ...common, RequestType: 'Create' };
  const PhysicalResourceId = 'index-readiness:Pipeline-SubscriptionsTable-1';
  if (requestType === 'Update') {
    return {
      ...common,
      RequestType: 'Update',
      PhysicalResourceId,
      OldResourceProperties: common.ResourceProperties,
    };
  }
  return { ...common, RequestType: 'Delete', PhysicalResourceId };
}

describe('isComplete', () => {
  test('an index still CREATING is not ready', async () => {
    const { isComplete, requests, logged } = handlersFor({
      byDueDate: { status: 'ACTIVE' },
      byStore: { status: 'CREATING', backfilling: false },
    });

    await expect(isComplete(event('Create'))).resolves.toEqual({ IsComplete: false });
    expect(requests).toEqual(['Pipeline-SubscriptionsTable-1']);
    expect(logged).toEqual([
      ['indexes not ready yet', { table: 'Pipeline-SubscriptionsTable-1', notReady: ['byStore: CREATING'] }],
    ]);
  });

  test('an ACTIVE index that is still backfilling is not ready', async () => {
    const { isComplete } = handlersFor({
      byDueDate: { status: 'ACTIVE' },
      byStore: { status: 'ACTIVE', backfilling: true },
    });

    await expect(isComplete(event('Update'))).resolves.toEqual({ IsComplete: false });
  });

  test('a declared index that DescribeTable does not list yet is not ready', async () => {
    const { isComplete, logged } = handlersFor({ byDueDate: { status: 'ACTIVE' } });

    await expect(isComplete(event('Update'))).resolves.toEqual({ IsComplete: false });
    expect(JSON.stringify(logged)).toContain('byStore: MISSING');
  });

  test('an index being deleted holds the check until it is gone', async () => {
    const { isComplete } = handlersFor({
      byDueDate: { status: 'ACTIVE' },
      byStore: { status: 'ACTIVE' },
      byOldKey: { status: 'DELETING' },
    });

    await expect(isComplete(event('Update'))).resolves.toEqual({ IsComplete: false });
  });

  test('every index ACTIVE and not backfilling is ready', async () => {
    const { isComplete, logged } = handlersFor({
      byDueDate: { status: 'ACTIVE' },
      byStore: { status: 'ACTIVE', backfilling: false },
    });

    await expect(isComplete(event('Create'))).resolves.toEqual({ IsComplete: true });
    expect(logged).toEqual([]);
  });

  test('a Delete completes at once, without asking DynamoDB', async () => {
    const { isComplete, requests } = handlersFor({ byStore: { status: 'CREATING' } });

    await expect(isComplete(event('Delete'))).resolves.toEqual({ IsComplete: true });
    expect(requests).toEqual([]);
  });

  test('a request without a table name fails instead of waiting for nothing', async () => {
    const { isComplete } = handlersFor({});
    const withoutTable = event('Create');
    const { TableName: _, ...properties } = withoutTable.ResourceProperties;

    await expect(isComplete({ ...withoutTable, ResourceProperties: properties })).rejects.toThrow(
      /TableName/,
    );
  });
});

describe('onEvent', () => {
  test('names a created resource after its table and keeps the name on update and delete', async () => {
    const { onEvent } = handlersFor({});

    await expect(onEvent(event('Create'))).resolves.toEqual({
      PhysicalResourceId: 'index-readiness:Pipeline-SubscriptionsTable-1',
    });
    for (const requestType of ['Update', 'Delete'] as const) {
      await expect(onEvent(event(requestType))).resolves.toEqual({
        PhysicalResourceId: 'index-readiness:Pipeline-SubscriptionsTable-1',
      });
    }
  });
});
