import { Match, Template } from 'aws-cdk-lib/assertions';
import { createPipelineApp } from '../../lib/app';

/**
 * The alarms of the exactly-once paths that a person must act on: a gateway that refuses the API key (every charge
 * waits, unasked), and a delivered webhook whose record was lost (a copy may send it again). Both on the topic.
 */
const template = Template.fromStack(createPipelineApp({ bundle: false, nag: false }).stack);

const functionIdOf = (prefix: string): string => {
  const id = Object.keys(template.findResources('AWS::Lambda::Function')).find((logicalId) =>
    logicalId.startsWith(prefix),
  );
  if (!id) throw new Error(`no function whose logical id starts with ${prefix}`);
  return id;
};
const serviceOf = (prefix: string): string =>
  (
    template.findResources('AWS::Lambda::Function')[functionIdOf(prefix)] as {
      Properties: { Environment: { Variables: Record<string, string> } };
    }
  ).Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME as string;
const topicId = Object.keys(template.findResources('AWS::SNS::Topic')).find((id) =>
  id.startsWith('ObservabilityAlarmTopic'),
);

test.each([
  ['GatewayAuthRefused', 'ChargeFunction', /refused the API key/],
  ['DeliveryRecordLost', 'DeliverFunction', /record could not be written/],
])('alarms on the topic at the first %s of %s', (metricName, fn, description) => {
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'CommercePipeline',
    MetricName: metricName,
    Dimensions: [{ Name: 'service', Value: serviceOf(fn) }],
    Statistic: 'Sum',
    Threshold: 0,
    ComparisonOperator: 'GreaterThanThreshold',
    EvaluationPeriods: 1,
    TreatMissingData: 'notBreaching',
    AlarmDescription: Match.stringLikeRegexp(description.source),
    AlarmActions: [{ Ref: topicId }],
  });
});
