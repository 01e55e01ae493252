import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { createPipelineApp } from '../../lib/app';
import { PipelineTable } from '../../lib/constructs/pipeline-table';
import { keepStackLevelLogicalIds, stackLevelLogicalId } from '../../lib/constructs/stack-level-ids';
import { readDeployedIndexRecord } from '../../lib/deployed-indexes';

/**
 * CloudFormation replaces a resource whose logical ID changes: a table, queue, bucket or secret would be created
 * anew and the deployed one deleted with its data, and a stream mapping would reread its stream. These are the IDs
 * the stack was deployed with before its resources moved into feature constructs (lib/constructs/stack-level-ids.ts);
 * a change here must be a deliberate migration, never a side effect of a refactoring.
 */
const DEPLOYED = {
  'AWS::DynamoDB::Table': [
    'AttemptsTableB5C384B6',
    'ChargesTable4224E509',
    'EventsTable36A36365',
    'IdempotencyTableE9369C9C',
    'RunsTable8339054C',
    'StoresTable4E40B998',
    'SubscriptionsTable9040D858',
    'TransactionsTableB9FDD204',
    'WebhooksTable292B7B5B',
  ],
  'AWS::SQS::Queue': [
    'ChargesDeadLetterQueue927B6A34',
    'ChargesQueue6867310F',
    'DeliveriesDeadLetterQueueC4B61502',
    'DeliveriesQueue99C7B338',
    'NotificationsDeadLetterQueue32AE6445',
    'NotificationsQueue91395D8F',
    'ReplaysDeadLetterQueueC5C57577',
    'ReplaysQueueC975F575',
    'RunsDeadLetterQueue3E0F1DDB',
    'RunsQueue4439DC38',
  ],
  'AWS::S3::Bucket': ['AccessLogsBucket83982689', 'DatafeedsBucketDE63A642'],
  'AWS::SecretsManager::Secret': [
    'AdminApiKeySecret246EBAA8',
    'ManageLinkKeySecret33EA549F',
    'PaymentGatewayApiKeySecret85D93E8E',
  ],
  'AWS::Lambda::EventSourceMapping': [
    'BillingOutboxFunctionChargesTableStream5B162973',
    'BillingOutboxFunctionSubscriptionsTableStream673DC15B',
    'ChargeFunctionSqsEventSourceCommercePipelineChargesQueue8C054CB997D35427',
    'DeliverFunctionSqsEventSourceCommercePipelineDeliveriesQueue1FD0A0A33A15A7D1',
    'FanoutFunctionEventsTableStreamEDF4B94B',
    'FanoutFunctionTransactionsTableStreamE434C1BF',
    'NotifyFunctionSqsEventSourceCommercePipelineNotificationsQueueC586F3F24A5B74ED',
    'ReplayFunctionSqsEventSourceCommercePipelineReplaysQueue2F6699BA815C321F',
    'RunFunctionSqsEventSourceCommercePipelineRunsQueue5074B26421C053D9',
  ],
};

const { app, stack } = createPipelineApp({ bundle: false, nag: false });
const template = Template.fromStack(stack);

test.each(Object.entries(DEPLOYED))('every %s keeps its deployed logical ID', (type, ids) => {
  expect(Object.keys(template.findResources(type)).sort()).toEqual(ids);
});

test('the outputs keep the names `npx pipeline` reads', () => {
  expect(Object.keys(template.toJSON().Outputs).sort()).toEqual([
    'AdminApiKeySecretArn',
    'AlarmTopicArn',
    'ApiUrl',
    'ChargesDeadLetterQueueUrl',
    'ChargesQueueUrl',
    'DashboardName',
    'DeliveriesDeadLetterQueueUrl',
    'DeliveriesQueueUrl',
    'NotificationsDeadLetterQueueUrl',
    'NotificationsQueueUrl',
    'PaymentGatewayApiKeySecretArn',
    'ReplaysDeadLetterQueueUrl',
    'ReplaysQueueUrl',
    'RunsDeadLetterQueueUrl',
    'RunsQueueUrl',
    'WebhooksTableName',
  ]);
});

test('every table keeps its key in the record of deployed indexes, so the one-change-per-deploy guard holds', () => {
  const keys = app.node
    .findAll()
    .filter((node): node is PipelineTable => node instanceof PipelineTable)
    .map((table) => table.deployedIndexesKey);
  expect(keys.sort()).toEqual(Object.keys(readDeployedIndexRecord()).sort());
});

describe('keepStackLevelLogicalIds', () => {
  class IdKeepingStack extends Stack {
    protected override allocateLogicalId(element: Parameters<typeof stackLevelLogicalId>[0]): string {
      return stackLevelLogicalId(element);
    }
  }

  test('a marked construct in a feature gets the ID it had on the stack; an unmarked one the usual ID', () => {
    const before = new Stack(new App(), 'S');
    new sqs.Queue(before, 'Orders');
    const after = new IdKeepingStack(new App(), 'S');
    const feature = new Construct(after, 'Feature');
    keepStackLevelLogicalIds(new sqs.Queue(feature, 'Orders'));
    new sqs.Queue(feature, 'Unmarked');

    const beforeIds = Object.keys(Template.fromStack(before).findResources('AWS::SQS::Queue'));
    const afterIds = Object.keys(Template.fromStack(after).findResources('AWS::SQS::Queue'));
    expect(afterIds).toContain(beforeIds[0]);
    expect(afterIds.find((id) => id !== beforeIds[0])).toMatch(/^FeatureUnmarked[0-9A-F]{8}$/);
  });

  test('two marked constructs that would share an ID fail synth', () => {
    const stack = new IdKeepingStack(new App(), 'S');
    keepStackLevelLogicalIds(new sqs.Queue(new Construct(stack, 'A'), 'Orders'));
    keepStackLevelLogicalIds(new sqs.Queue(new Construct(stack, 'B'), 'Orders'));
    expect(() => Template.fromStack(stack)).toThrow(/already contains 'Orders[0-9A-F]{8}'/);
  });
});
