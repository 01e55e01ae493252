import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DurableQueue } from '../../lib/constructs/durable-queue';
import { PipelineFunction } from '../../lib/constructs/pipeline-function';
import {
  type PipelineIndexProps,
  PipelineTable,
  type PipelineTableProps,
} from '../../lib/constructs/pipeline-table';
import { DEPLOYED_INDEXES_CONTEXT_KEY } from '../../lib/deployed-indexes';

const FIXTURE_ENTRY = 'test/cdk/fixtures/noop-handler.ts';
const string = dynamodb.AttributeType.STRING;
const TWO_INDEXES: PipelineIndexProps[] = [
  {
    indexName: 'byDueDate',
    partitionKey: { name: 'dueDate', type: string },
    sortKey: { name: 'pk', type: string },
    projection: dynamodb.ProjectionType.KEYS_ONLY,
    warmThroughput: { readUnitsPerSecond: 15000, writeUnitsPerSecond: 6000 },
  },
  {
    indexName: 'byStore',
    partitionKey: { name: 'storeId', type: string },
    projection: dynamodb.ProjectionType.INCLUDE,
    nonKeyAttributes: ['status'],
  },
];

function newApp(): App {
  // No stack matches: NodejsFunction does not bundle. An empty record: every table is new.
  return new App({ context: { 'aws:cdk:bundling-stacks': [], [DEPLOYED_INDEXES_CONTEXT_KEY]: {} } });
}

function subscriptionsTable(stack: Stack, props: Partial<PipelineTableProps> = {}): PipelineTable {
  return new PipelineTable(stack, 'SubscriptionsTable', {
    partitionKey: { name: 'pk', type: string },
    globalSecondaryIndexes: TWO_INDEXES,
    ...props,
  });
}

/** A reader of the indexes consuming a queue, and a schedule that starts another reader. */
function indexReaders(stack: Stack, table: PipelineTable) {
  const consumer = new PipelineFunction(stack, 'DueSubscriptionsFunction', { entry: FIXTURE_ENTRY });
  table.grantIndexRead(consumer);
  // Added after the grant: the mapping must wait all the same.
  new DurableQueue(stack, 'ChargesQueue').addConsumer(consumer);

  const scheduled = new PipelineFunction(stack, 'RunFunction', { entry: FIXTURE_ENTRY });
  table.grantIndexRead(scheduled);
  const schedule = new events.Rule(stack, 'RunSchedule', {
    schedule: events.Schedule.expression('cron(0 3 * * ? *)'),
    targets: [new targets.LambdaFunction(scheduled.fn)],
  });
  table.waitForIndexes(schedule);
}

// Prepare: an on-demand table with two GSIs and its readers.
const onDemandStack = new Stack(newApp(), 'OnDemand');
const onDemandTable = subscriptionsTable(onDemandStack, {
  warmThroughput: { readUnitsPerSecond: 20000, writeUnitsPerSecond: 8000 },
});
indexReaders(onDemandStack, onDemandTable);
const onDemand = Template.fromStack(onDemandStack);

const logicalIdOf = (template: Template, type: string, idPrefix: string): string => {
  const id = Object.keys(template.findResources(type)).find((logicalId) => logicalId.startsWith(idPrefix));
  if (!id) throw new Error(`no ${type} whose logical id starts with ${idPrefix}`);
  return id;
};
const tableRef = (template: Template) => ({
  Ref: logicalIdOf(template, 'AWS::DynamoDB::Table', 'SubscriptionsTable'),
});
const readinessId = (template: Template) =>
  logicalIdOf(template, 'Custom::IndexReadiness', 'SubscriptionsTableIndexReadiness');

describe('capacity', () => {
  test('on-demand renders warm throughput on the table and on each index that sets it', () => {
    onDemand.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      WarmThroughput: { ReadUnitsPerSecond: 20000, WriteUnitsPerSecond: 8000 },
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'byDueDate',
          KeySchema: [
            { AttributeName: 'dueDate', KeyType: 'HASH' },
            { AttributeName: 'pk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
          WarmThroughput: { ReadUnitsPerSecond: 15000, WriteUnitsPerSecond: 6000 },
          ProvisionedThroughput: Match.absent(),
        }),
        Match.objectLike({
          IndexName: 'byStore',
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] },
          WarmThroughput: Match.absent(),
        }),
      ],
    });
    onDemand.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
  });

  test.each<[string, Partial<PipelineTableProps>, RegExp]>([
    [
      'an index declared twice',
      {
        globalSecondaryIndexes: [
          ...TWO_INDEXES,
          { ...TWO_INDEXES[1], indexName: 'byDueDate' } as PipelineIndexProps,
        ],
      },
      /byDueDate is declared twice/,
    ],
    [
      'INCLUDE without attributes',
      {
        globalSecondaryIndexes: [
          {
            indexName: 'byStore',
            partitionKey: { name: 's', type: string },
            projection: dynamodb.ProjectionType.INCLUDE,
          },
        ],
      },
      /needs nonKeyAttributes with ProjectionType.INCLUDE/,
    ],
  ])('refuses %s', (_case, props, message) => {
    expect(() => subscriptionsTable(new Stack(newApp(), 'Refused'), props)).toThrow(message);
  });
});

describe('alarms', () => {
  const dimensionsOf = (index: string) => [
    { Name: 'GlobalSecondaryIndexName', Value: index },
    { Name: 'TableName', Value: tableRef(onDemand) },
  ];

  test.each(['byDueDate', 'byStore'])('index %s alarms on its throttled reads and writes', (index) => {
    for (const metricName of ['ReadThrottleEvents', 'WriteThrottleEvents']) {
      onDemand.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        Metrics: Match.arrayWith([
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: { MetricName: metricName, Namespace: 'AWS/DynamoDB', Dimensions: dimensionsOf(index) },
            }),
          }),
        ]),
      });
    }
  });

  test.each(['byDueDate', 'byStore'])(
    'index %s alarms on a throttled backfill while it is built',
    (index) => {
      onDemand.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'OnlineIndexThrottleEvents',
        Namespace: 'AWS/DynamoDB',
        Dimensions: dimensionsOf(index),
        Statistic: 'Sum',
        Period: 60,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    },
  );

  test('the table keeps its own throttle alarm', () => {
    onDemand.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({
              MetricName: 'ReadThrottleEvents',
              Dimensions: [{ Name: 'TableName', Value: tableRef(onDemand) }],
            }),
          }),
        }),
      ]),
    });
  });

  test('the index alarms exist before the readiness check starts', () => {
    const alarmIds = Object.keys(onDemand.findResources('AWS::CloudWatch::Alarm')).filter((id) =>
      /^SubscriptionsTableby(DueDate|Store)Alarms/.test(id),
    );
    expect(alarmIds).toHaveLength(4);
    const readiness = onDemand.findResources('Custom::IndexReadiness')[readinessId(onDemand)];
    expect(readiness?.DependsOn).toEqual(expect.arrayContaining(alarmIds));
  });
});

describe('readiness', () => {
  test('a custom resource waits for the declared indexes of the table', () => {
    onDemand.resourceCountIs('Custom::IndexReadiness', 1);
    onDemand.hasResourceProperties('Custom::IndexReadiness', {
      TableName: tableRef(onDemand),
      IndexNames: ['byDueDate', 'byStore'],
      ServiceToken: Match.anyValue(),
    });
  });

  test('runs through the Provider framework with the readiness handlers, every 30 s for at most 55 min', () => {
    for (const handler of ['onEvent', 'isComplete']) {
      onDemand.hasResource('AWS::Lambda::Function', {
        Metadata: {
          'commerce-pipeline:entry': 'lambdas/index-gate/handlers/index-readiness.ts',
          'commerce-pipeline:handler': handler,
        },
      });
    }
    const [stateMachine] = Object.values(onDemand.findResources('AWS::StepFunctions::StateMachine'));
    const definition = JSON.stringify(stateMachine?.Properties.DefinitionString);
    expect(definition).toContain('\\"IntervalSeconds\\":30');
    expect(definition).toContain('\\"MaxAttempts\\":110');
  });

  test('the check may call DescribeTable on the table and nothing else', () => {
    onDemand.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Action: 'dynamodb:DescribeTable',
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [tableRef(onDemand).Ref, 'Arn'] },
          },
        ],
      },
      Roles: [{ Ref: logicalIdOf(onDemand, 'AWS::IAM::Role', 'IndexReadinessProviderIsCompleteRole') }],
    });
    const isCompleteRole = logicalIdOf(onDemand, 'AWS::IAM::Role', 'IndexReadinessProviderIsCompleteRole');
    const dynamodbActions = Object.values(onDemand.findResources('AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(isCompleteRole))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
      .flatMap((statement) => statement.Action)
      .filter((action) => String(action).startsWith('dynamodb:'));
    expect(dynamodbActions).toEqual(['dynamodb:DescribeTable']);
  });

  test('a function granted index read, its event source mapping and its schedule depend on the readiness', () => {
    const readiness = readinessId(onDemand);
    for (const [type, idPrefix] of [
      ['AWS::Lambda::Function', 'DueSubscriptionsFunction'],
      ['AWS::Lambda::EventSourceMapping', 'DueSubscriptionsFunction'],
      ['AWS::Lambda::Function', 'RunFunction'],
      ['AWS::Events::Rule', 'RunSchedule'],
    ] as const) {
      const resource = onDemand.findResources(type)[logicalIdOf(onDemand, type, idPrefix)];
      expect({ [idPrefix]: resource?.DependsOn }).toEqual({
        [idPrefix]: expect.arrayContaining([readiness]),
      });
    }
  });

  test('grantIndexRead grants reads of the table and of each index by name, no wildcard', () => {
    const tableArn = { 'Fn::GetAtt': [tableRef(onDemand).Ref, 'Arn'] };
    onDemand.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['dynamodb:DescribeTable', 'dynamodb:Query', 'dynamodb:Scan']),
            Resource: [
              tableArn,
              { 'Fn::Join': ['', [tableArn, '/index/byDueDate']] },
              { 'Fn::Join': ['', [tableArn, '/index/byStore']] },
            ],
          }),
        ]),
      },
      Roles: [{ Ref: logicalIdOf(onDemand, 'AWS::IAM::Role', 'DueSubscriptionsFunctionRole') }],
    });
  });

  test('a table without indexes has no readiness resource, and nothing can wait for it', () => {
    const stack = new Stack(newApp(), 'NoIndexes');
    const table = subscriptionsTable(stack, { globalSecondaryIndexes: [] });
    const reader = new PipelineFunction(stack, 'Reader', { entry: FIXTURE_ENTRY });

    expect(table.indexesReady).toBeUndefined();
    expect(() => table.grantIndexRead(reader)).toThrow(/has no global secondary index/);
    Template.fromStack(stack).resourceCountIs('Custom::IndexReadiness', 0);
  });

  test('two tables with indexes share one provider', () => {
    const stack = new Stack(newApp(), 'TwoTables');
    subscriptionsTable(stack);
    new PipelineTable(stack, 'ChargesTable', {
      partitionKey: { name: 'pk', type: string },
      globalSecondaryIndexes: [TWO_INDEXES[1] as PipelineIndexProps],
    });
    const template = Template.fromStack(stack);

    template.resourceCountIs('Custom::IndexReadiness', 2);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
  });
});

test('cdk-nag raises no unacknowledged AwsSolutions finding with index readiness in the stack', () => {
  const app = newApp();
  const stack = new Stack(app, 'NagIndexes');
  indexReaders(stack, subscriptionsTable(stack));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

  // Synthesis throws on an unacknowledged error; warnings are read from the report.
  const assembly = app.synth();

  const report = JSON.parse(
    readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'),
  ) as {
    pluginReports: { pluginName: string; violations: { ruleName: string }[] }[];
  };
  const findings = report.pluginReports
    .filter((pluginReport) => pluginReport.pluginName === 'AwsSolutions')
    .flatMap((pluginReport) => pluginReport.violations.map((violation) => violation.ruleName));
  expect(findings).toEqual([]);
});
