import { Template } from 'aws-cdk-lib/assertions';
import { createPipelineApp } from '../../lib/app';

/**
 * What the console's routes need of the stack: the subscriptions list's index (read only once it is ready), the
 * work queues' and dead-letter queues' URLs in the API function's environment, and the permissions of the queue
 * routes (depths, ages, redrive).
 */
const template = Template.fromStack(createPipelineApp({ bundle: false, nag: false }).stack);

type Resource = {
  Properties: Record<string, unknown>;
  DependsOn?: string[];
  Metadata?: Record<string, unknown>;
};
const logicalIdOf = (type: string, idPrefix: string): string => {
  const id = Object.keys(template.findResources(type)).find((logicalId) => logicalId.startsWith(idPrefix));
  if (!id) throw new Error(`no ${type} whose logical id starts with ${idPrefix}`);
  return id;
};
const apiFunctionId = logicalIdOf('AWS::Lambda::Function', 'ApiFunction');
const apiFunction = template.findResources('AWS::Lambda::Function')[apiFunctionId] as Resource;
const apiStatements = () => {
  const roleId = logicalIdOf('AWS::IAM::Role', 'ApiFunctionRole');
  return Object.values(
    template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
  )
    .flatMap((policy) => (policy as Resource).Properties.PolicyDocument as { Statement: unknown[] })
    .flatMap((document) => document.Statement) as { Action: string | string[]; Resource: unknown }[];
};
const actionsOn = (resourceId: string) =>
  [
    ...new Set(
      apiStatements()
        .filter((statement) => JSON.stringify(statement.Resource).includes(`"${resourceId}"`))
        .flatMap((statement) => statement.Action),
    ),
  ].sort();

describe('the subscriptions list', () => {
  test('the subscriptions table has the created index: store, createdAt, keys and status only', () => {
    const table = template.findResources('AWS::DynamoDB::Table')[
      logicalIdOf('AWS::DynamoDB::Table', 'SubscriptionsTable')
    ] as Resource;
    const indexes = table.Properties.GlobalSecondaryIndexes as { IndexName: string }[];
    expect(indexes.map((index) => index.IndexName)).toEqual(['due', 'created']);
    expect(indexes[1]).toEqual({
      IndexName: 'created',
      KeySchema: [
        { AttributeName: 'storeId', KeyType: 'HASH' },
        { AttributeName: 'createdAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] },
    });
  });

  test('the API function is deployed only once the indexes are ready, and may describe the table', () => {
    const readiness = logicalIdOf('Custom::IndexReadiness', 'SubscriptionsTableIndexReadiness');
    expect(apiFunction.DependsOn).toEqual(expect.arrayContaining([readiness]));
    const table = logicalIdOf('AWS::DynamoDB::Table', 'SubscriptionsTable');
    expect(actionsOn(table)).toEqual(
      expect.arrayContaining(['dynamodb:BatchGetItem', 'dynamodb:DescribeTable', 'dynamodb:Query']),
    );
  });

  test('there are alarms on the new index', () => {
    const alarms = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.some((id) => id.includes('createdAlarms'))).toBe(true);
  });
});

describe('the queue routes', () => {
  const queues = ['Deliveries', 'Replays', 'Charges', 'Runs', 'Notifications'];

  test("the API function has every work queue's and dead-letter queue's URL", () => {
    const variables = (apiFunction.Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    for (const name of queues) {
      const prefix = name.toUpperCase();
      expect(variables[`${prefix}_QUEUE_URL`]).toEqual({
        Ref: logicalIdOf('AWS::SQS::Queue', `${name}Queue`),
      });
      expect(variables[`${prefix}_DLQ_URL`]).toEqual({
        Ref: logicalIdOf('AWS::SQS::Queue', `${name}DeadLetterQueue`),
      });
    }
  });

  test.each(queues)(
    '%s: depths of both queues, send to the queue, receive and delete on its dead-letter queue',
    (name) => {
      const queue = actionsOn(logicalIdOf('AWS::SQS::Queue', `${name}Queue`));
      const deadLetters = actionsOn(logicalIdOf('AWS::SQS::Queue', `${name}DeadLetterQueue`));
      expect(queue).toEqual(expect.arrayContaining(['sqs:GetQueueAttributes', 'sqs:SendMessage']));
      expect(queue).not.toContain('sqs:ReceiveMessage');
      expect(queue).not.toContain('sqs:DeleteMessage');
      expect(queue).not.toContain('sqs:PurgeQueue');
      expect(deadLetters).toEqual(
        expect.arrayContaining(['sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:DeleteMessage']),
      );
      expect(deadLetters).not.toContain('sqs:SendMessage');
      expect(deadLetters).not.toContain('sqs:PurgeQueue');
    },
  );

  test('the oldest ages: cloudwatch:GetMetricData alone, in a policy of its own (cdk-nag.test.ts: its wildcard is acknowledged)', () => {
    const roleId = logicalIdOf('AWS::IAM::Role', 'ApiFunctionRole');
    const policies = Object.entries(
      template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
    ) as [string, Resource][];
    const withCloudWatch = policies.filter(([, policy]) =>
      JSON.stringify(policy.Properties.PolicyDocument).includes('cloudwatch:'),
    );
    expect(withCloudWatch).toHaveLength(1);
    const [id, policy] = withCloudWatch[0] as [string, Resource];
    expect(id).toMatch(/QueueAgesPolicy/);
    expect(policy.Properties.PolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Action: 'cloudwatch:GetMetricData', Effect: 'Allow', Resource: '*' }],
    });
  });
});
