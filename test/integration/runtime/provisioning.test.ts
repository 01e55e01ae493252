import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { createLocalClients, type LocalClients } from '../../../local/aws-clients';
import { provisionResources } from '../../../local/provision';
import type { ResourceMap } from '../../../local/resource-map';
import { provisioningTemplate } from '../../fixtures/stacks';
import { sharedEmulators, uniquePrefix } from '../support/emulators';

// Emulator round trips, visibility timeouts and retries: more than jest's default 5 s per test or hook.
jest.setTimeout(30_000);

describe('provisioning a template on the emulators', () => {
  const template = provisioningTemplate();
  let clients: LocalClients;
  let resources: ResourceMap;
  // CDK's logical ids: the construct id and an 8-digit hash.
  const logicalId = (name: string) =>
    Object.keys(template.Resources).find((id) => new RegExp(`^${name}[0-9A-F]{8}$`).test(id)) ?? '';

  beforeAll(async () => {
    const { dynamodbEndpoint, sqsEndpoint } = sharedEmulators();
    clients = createLocalClients({ dynamodb: dynamodbEndpoint, sqs: sqsEndpoint, s3: sqsEndpoint });
    resources = await provisionResources(template, { prefix: uniquePrefix(), clients });
  });
  afterAll(() => clients.destroy());

  it('creates a table with its keys, indexes, stream and TTL', async () => {
    // Act
    const tableName = resources.get(logicalId('Orders')).ref;
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const { TimeToLiveDescription } = await clients.dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: tableName }),
    );

    // Assess
    expect(tableName.startsWith(resources.prefix)).toBe(true);
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Table?.GlobalSecondaryIndexes?.[0]).toMatchObject({
      IndexName: 'byCustomer',
      IndexStatus: 'ACTIVE',
      KeySchema: [
        { AttributeName: 'customerId', KeyType: 'HASH' },
        { AttributeName: 'createdAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['total'] },
    });
    expect(Table?.LocalSecondaryIndexes?.[0]).toMatchObject({
      IndexName: 'byStatus',
      Projection: { ProjectionType: 'KEYS_ONLY' },
    });
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(resources.get(logicalId('Orders')).attributes.StreamArn).toBe(Table?.LatestStreamArn);
    expect(TimeToLiveDescription).toEqual({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });
  });

  it('creates a provisioned table with the capacity of the table and its index', async () => {
    const { Table } = await clients.dynamodb.send(
      new DescribeTableCommand({ TableName: resources.get(logicalId('Counters')).ref }),
    );

    expect(Table?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 3, WriteCapacityUnits: 2 });
    expect(Table?.GlobalSecondaryIndexes?.[0]?.ProvisionedThroughput).toMatchObject({
      ReadCapacityUnits: 1,
      WriteCapacityUnits: 1,
    });
  });

  it('creates queues with their settings and a redrive policy to the created DLQ', async () => {
    const work = resources.get(logicalId('Work'));
    const deadLetters = resources.get(logicalId('DeadLetters'));
    const { Attributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: work.ref, AttributeNames: ['All'] }),
    );

    expect(Attributes).toMatchObject({
      VisibilityTimeout: '45',
      DelaySeconds: '2',
      ReceiveMessageWaitTimeSeconds: '5',
      QueueArn: work.attributes.Arn,
    });
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: deadLetters.attributes.Arn,
      maxReceiveCount: 4,
    });
    const { Attributes: deadLetterAttributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: deadLetters.ref,
        AttributeNames: ['MessageRetentionPeriod'],
      }),
    );
    expect(deadLetterAttributes?.MessageRetentionPeriod).toBe(String(14 * 24 * 3600));
  });

  it('creates FIFO queues with a .fifo name', async () => {
    const ordered = resources.get(logicalId('Ordered'));
    const { Attributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: ordered.ref, AttributeNames: ['All'] }),
    );

    expect(ordered.attributes.QueueName).toMatch(/\.fifo$/);
    expect(Attributes).toMatchObject({ FifoQueue: 'true', ContentBasedDeduplication: 'true' });
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}').deadLetterTargetArn).toMatch(/\.fifo$/);
  });

  it('creates buckets', async () => {
    const bucket = resources.get(logicalId('Datafeeds')).ref;

    await expect(clients.s3.send(new HeadBucketCommand({ Bucket: bucket }))).resolves.toBeDefined();
    expect(bucket).toMatch(/^[a-z0-9][a-z0-9.-]{2,62}$/);
  });

  it('provisions the same template again beside it under another prefix', async () => {
    const second = await provisionResources(template, { prefix: uniquePrefix(), clients });

    expect(second.get(logicalId('Orders')).ref).not.toBe(resources.get(logicalId('Orders')).ref);
    const { Table } = await clients.dynamodb.send(
      new DescribeTableCommand({ TableName: second.get(logicalId('Orders')).ref }),
    );
    expect(Table?.TableStatus).toBe('ACTIVE');
  });

  it('resolves Ref, Fn::GetAtt, Fn::Join and Fn::Sub against the local resources', () => {
    const work = resources.get(logicalId('Work'));

    expect(resources.resolve({ Ref: logicalId('Work') })).toBe(work.ref);
    expect(resources.resolve({ 'Fn::GetAtt': [logicalId('Work'), 'QueueName'] })).toBe(
      work.attributes.QueueName,
    );
    expect(
      resources.resolve({
        'Fn::Join': ['|', [{ Ref: 'AWS::Region' }, { 'Fn::GetAtt': [logicalId('Work'), 'Arn'] }]],
      }),
    ).toBe(`us-east-1|${work.attributes.Arn}`);
    expect(resources.resolve({ 'Fn::Sub': `\${${logicalId('Work')}.QueueUrl}/x/\${!Literal}` })).toBe(
      `${work.attributes.QueueUrl}/x/\${Literal}`,
    );
  });
});
