import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DurableQueue } from '../../lib/constructs/durable-queue';
import { PipelineFunction } from '../../lib/constructs/pipeline-function';

const FIXTURE_ENTRY = 'test/cdk/fixtures/noop-handler.ts';

function newStack(): Stack {
  // No stack matches: NodejsFunction does not bundle.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return new Stack(app, 'QueueTest');
}

// Prepare: one stack with a queue and its consumer, shared by the assertions below.
const stack = newStack();
const consumer = new PipelineFunction(stack, 'DeliverFunction', {
  entry: FIXTURE_ENTRY,
  timeout: Duration.seconds(20),
});
const deliveries = new DurableQueue(stack, 'Deliveries', {
  consumerTimeout: Duration.seconds(20),
  maxReceiveCount: 8,
});
deliveries.addConsumer(consumer, { maxConcurrency: 3 });
const template = Template.fromStack(stack);

const logicalIdOf = (idPrefix: string): string => {
  const id = Object.keys(template.findResources('AWS::SQS::Queue')).find((logicalId) =>
    logicalId.startsWith(idPrefix),
  );
  if (!id) throw new Error(`no queue whose logical id starts with ${idPrefix}`);
  return id;
};

test('the queue moves a message to its dead-letter queue after an explicit receive count', () => {
  template.hasResourceProperties('AWS::SQS::Queue', {
    RedrivePolicy: {
      deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOf('DeliveriesDeadLetterQueue'), 'Arn'] },
      maxReceiveCount: 8,
    },
    MessageRetentionPeriod: 4 * 24 * 3600,
  });
  template.hasResourceProperties('AWS::SQS::Queue', {
    RedrivePolicy: Match.absent(),
    MessageRetentionPeriod: 14 * 24 * 3600,
  });
});

test('the visibility timeout is 6x the consumer timeout', () => {
  template.hasResourceProperties('AWS::SQS::Queue', {
    VisibilityTimeout: 120,
    RedrivePolicy: Match.anyValue(),
  });
});

test('both queues are encrypted and refuse requests without TLS', () => {
  template.resourceCountIs('AWS::SQS::Queue', 2);
  template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  for (const queue of ['DeliveriesQueue', 'DeliveriesDeadLetterQueue']) {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalIdOf(queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  }
});

test('alarms on any dead letter and on an oldest message older than 15 minutes', () => {
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Dimensions: [
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf('DeliveriesDeadLetterQueue'), 'QueueName'] } },
    ],
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: 0,
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'ApproximateAgeOfOldestMessage',
    Dimensions: [
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf('DeliveriesQueue'), 'QueueName'] } },
    ],
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: 15 * 60,
  });
});

test('the consumer reports partial batch failures with bounded concurrency', () => {
  template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    EventSourceArn: { 'Fn::GetAtt': [logicalIdOf('DeliveriesQueue'), 'Arn'] },
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    ScalingConfig: { MaximumConcurrency: 3 },
    BatchSize: 10,
  });
});

test('the queue, its consumer and the function raise no cdk-nag AwsSolutions finding', () => {
  // The stack is not in the pipeline app yet, so the pack is run on it directly.
  const report = new AwsSolutionsChecks().validateScope(stack);
  expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
});

describe('refuses a visibility timeout shorter than 6x the consumer timeout', () => {
  test('in the props', () => {
    expect(
      () =>
        new DurableQueue(newStack(), 'Short', {
          consumerTimeout: Duration.seconds(30),
          visibilityTimeout: Duration.seconds(179),
        }),
    ).toThrow(/visibility timeout 2 minutes 59 seconds is shorter than 6x the consumer timeout 30 seconds/);
  });

  test('when adding a consumer whose timeout is longer than the queue was sized for', () => {
    const scope = newStack();
    const queue = new DurableQueue(scope, 'SizedFor30s');
    const slow = new PipelineFunction(scope, 'SlowFunction', {
      entry: FIXTURE_ENTRY,
      timeout: Duration.minutes(1),
    });
    expect(() => queue.addConsumer(slow)).toThrow(/shorter than 6x the consumer timeout 1 minute/);
  });
});

test('refuses a maximum concurrency below the AWS minimum of 2', () => {
  const scope = newStack();
  const queue = new DurableQueue(scope, 'Queue');
  const fn = new PipelineFunction(scope, 'Function', { entry: FIXTURE_ENTRY });
  expect(() => queue.addConsumer(fn, { maxConcurrency: 1 })).toThrow(
    /maxConcurrency must be between 2 and 1000/,
  );
});
