import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { PipelineFunction } from '../../lib/constructs/pipeline-function';
import { PipelineTable } from '../../lib/constructs/pipeline-table';

const FIXTURE_ENTRY = 'test/cdk/fixtures/noop-handler.ts';

function newStack(): Stack {
  // No stack matches: NodejsFunction does not bundle.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return new Stack(app, 'ConstructsTest');
}

// Prepare: one stack with a function and a table that set every optional prop.
const stack = newStack();
new PipelineFunction(stack, 'ChargeFunction', {
  entry: `./${FIXTURE_ENTRY}`,
  handler: 'charge',
  serviceName: 'charges',
  reservedConcurrentExecutions: 4,
  environment: { EXTRA: 'value', NODE_OPTIONS: '--inspect' },
});
new PipelineTable(stack, 'TransactionsTable', {
  partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
  sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
  stream: dynamodb.StreamViewType.NEW_IMAGE,
  removalPolicy: RemovalPolicy.DESTROY,
});
const template = Template.fromStack(stack);

describe('PipelineFunction', () => {
  test('writes the normalised repo-relative entry and the handler name into the metadata', () => {
    template.hasResource('AWS::Lambda::Function', {
      Properties: Match.objectLike({ Handler: 'index.charge' }),
      Metadata: { 'commerce-pipeline:entry': FIXTURE_ENTRY, 'commerce-pipeline:handler': 'charge' },
    });
  });

  test('keeps the caller environment but not over the settings every function needs', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 4,
      MemorySize: 512,
      Timeout: 30,
      Environment: {
        Variables: {
          EXTRA: 'value',
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'charges',
          POWERTOOLS_METRICS_NAMESPACE: 'CommercePipeline',
          POWERTOOLS_LOG_LEVEL: 'INFO',
        },
      },
    });
  });

  test('its role has no managed policy: it writes its own log group, traces, and nothing else', () => {
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement,
    );
    expect(statements.flatMap((statement) => statement.Action).sort()).toEqual([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('alarms on any error in 5 minutes', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Period: 300,
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  test('refuses an absolute entry', () => {
    expect(
      () => new PipelineFunction(newStack(), 'Absolute', { entry: `${process.cwd()}/${FIXTURE_ENTRY}` }),
    ).toThrow(/entry must be relative to the repository root/);
  });
});

describe('PipelineTable', () => {
  test('passes keys and stream through and keeps its required settings', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      }),
      DeletionPolicy: 'Delete',
    });
  });
});
