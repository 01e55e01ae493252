import { Match, Template } from 'aws-cdk-lib/assertions';
import { createPipelineApp } from '../../lib/app';

/**
 * BillingOutboxFunction's stream mappings and what watches them: nothing skips a record, the events carry the
 * shard id (the run counters' fence is per shard), and a record that holds its shard reaches a human through the
 * alarm topic long before the stream's 24 h are up.
 */
const template = Template.fromStack(createPipelineApp({ bundle: false, nag: false }).stack);

const logicalIdOf = (type: string, idPrefix: string): string => {
  const id = Object.keys(template.findResources(type)).find((logicalId) => logicalId.startsWith(idPrefix));
  if (!id) throw new Error(`no ${type} whose logical id starts with ${idPrefix}`);
  return id;
};
const outboxId = logicalIdOf('AWS::Lambda::Function', 'BillingOutboxFunction');
const topicId = logicalIdOf('AWS::SNS::Topic', 'ObservabilityAlarmTopic');
const outboxService = (
  template.findResources('AWS::Lambda::Function')[outboxId] as {
    Properties: { Environment: { Variables: Record<string, string> } };
  }
).Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME;

describe('BillingOutboxFunction', () => {
  test.each(['SubscriptionsTable', 'ChargesTable'])(
    'reads the %s stream from the trim horizon, in order, one batch per shard, retried until it succeeds',
    (table) => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [logicalIdOf('AWS::DynamoDB::Table', table), 'StreamArn'] },
        FunctionName: { Ref: outboxId },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 100,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        // The shard id in every event: the counters' fence.
        TumblingWindowInSeconds: 900,
        ParallelizationFactor: 1,
        MaximumRetryAttempts: -1,
        // Nothing skips a record: no on-failure destination, no maximum record age, no halving that would
        // hand a later record to the function before an earlier one succeeded.
        DestinationConfig: Match.absent(),
        MaximumRecordAgeInSeconds: Match.absent(),
        BisectBatchOnFunctionError: Match.absent(),
      });
    },
  );

  test('alarms on the topic when it is more than an hour behind a stream', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: outboxId } }],
      Statistic: 'Maximum',
      Threshold: 60 * 60 * 1000,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmDescription: Match.stringLikeRegexp('24 h'),
      AlarmActions: [{ Ref: topicId }],
      OKActions: [{ Ref: topicId }],
    });
  });

  test('alarms on the topic on any stream record it reports as failed', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'CommercePipeline',
      MetricName: 'StreamRecordsFailed',
      Dimensions: [{ Name: 'service', Value: outboxService }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
    });
  });

  test('shows its iterator age, failed records and both alarms on the dashboard', () => {
    const body = JSON.stringify(
      Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties.DashboardBody,
    );
    for (const alarm of ['BillingOutboxIteratorAgeAlarm', 'BillingOutboxFailedRecordsAlarm']) {
      expect(body).toContain(logicalIdOf('AWS::CloudWatch::Alarm', alarm));
    }
    expect(body).toContain(`\\"IteratorAge\\",\\"FunctionName\\",\\"",{"Ref":"${outboxId}"}`);
    expect(body).toContain(`StreamRecordsFailed\\",\\"service\\",\\"${outboxService}`);
  });
});
