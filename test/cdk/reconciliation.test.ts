import { Match, Template } from 'aws-cdk-lib/assertions';
import { createPipelineApp } from '../../lib/app';

// No bundling, no cdk-nag (cdk-nag.test.ts checks the whole stack, this alarm and grant included).
const template = Template.fromStack(createPipelineApp({ bundle: false, nag: false }).stack);

const logicalIdOf = (type: string, idPrefix: string): string => {
  const id = Object.keys(template.findResources(type)).find((logicalId) => logicalId.startsWith(idPrefix));
  if (!id) throw new Error(`no ${type} whose logical id starts with ${idPrefix}`);
  return id;
};

describe('the reconciliation of runs with the gateway', () => {
  test('RunFunction reads the gateway: its URL and the ARN of the key secret; no function has the key itself', () => {
    const secret = logicalIdOf('AWS::SecretsManager::Secret', 'PaymentGatewayApiKeySecret');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          RUN_DEADLINE_MINUTES: Match.anyValue(),
          PAYMENT_GATEWAY_URL: Match.anyValue(),
          PAYMENT_GATEWAY_API_KEY_SECRET_ARN: { Ref: secret },
        }),
      },
    });
    const functions = template.findResources('AWS::Lambda::Function');
    for (const fn of Object.values(functions) as { Properties: { Environment?: { Variables?: object } } }[]) {
      expect(Object.keys(fn.Properties.Environment?.Variables ?? {})).not.toContain(
        'PAYMENT_GATEWAY_API_KEY',
      );
    }
  });

  test("RunFunction's role may read the gateway key secret", () => {
    const secret = logicalIdOf('AWS::SecretsManager::Secret', 'PaymentGatewayApiKeySecret');
    const runRole = logicalIdOf('AWS::IAM::Role', 'RunFunctionRole');
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: runRole }] },
    });
    const statements = Object.values(policies).flatMap(
      (policy) =>
        (policy as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument
          .Statement,
    );
    // CDK merges grants of the same actions into one statement (the manage links' key is read too).
    const readsSecret = (statement: unknown) => {
      const { Action, Resource } = statement as { Action: unknown; Resource: unknown };
      const resources = Array.isArray(Resource) ? Resource : [Resource];
      return (
        Array.isArray(Action) &&
        Action.includes('secretsmanager:GetSecretValue') &&
        resources.some((resource) => JSON.stringify(resource) === JSON.stringify({ Ref: secret }))
      );
    };
    expect(statements.some(readsSecret)).toBe(true);
  });

  test('ReconciliationMismatchAlarm fires on one duplicate or orphan, and notifies the alarm topic', () => {
    const topic = logicalIdOf('AWS::SNS::Topic', 'ObservabilityAlarmTopic');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('duplicate or orphan'),
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topic }],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'FILL(duplicates, 0) + FILL(orphans, 0)' }),
        Match.objectLike({
          Id: 'duplicates',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'ReconciliationDuplicates' }),
          }),
        }),
        Match.objectLike({
          Id: 'orphans',
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ReconciliationOrphans' }) }),
        }),
      ]),
    });
  });
});
