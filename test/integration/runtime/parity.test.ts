import {
  type AttributeDefinition,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type KeySchemaElement,
  type Projection,
} from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { createLocalClients, type LocalClients } from '../../../local/aws-clients';
import { provisionResources } from '../../../local/provision';
import type { ResourceMap } from '../../../local/resource-map';
import { resourcesOfType, synthesizePipelineTemplate } from '../../../local/template';
import { sharedEmulators, uniquePrefix } from '../support/emulators';

// Emulator round trips: more than jest's default 5 s per test or hook.
jest.setTimeout(30_000);

/** The template's properties this test compares, as CloudFormation spells them. */
interface TemplateTable {
  KeySchema: KeySchemaElement[];
  AttributeDefinitions: AttributeDefinition[];
  BillingMode?: string;
  GlobalSecondaryIndexes?: TemplateIndex[];
  LocalSecondaryIndexes?: TemplateIndex[];
  StreamSpecification?: { StreamViewType: string };
  TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
}
interface TemplateIndex {
  IndexName?: string;
  KeySchema?: KeySchemaElement[];
  Projection?: Projection;
}
interface TemplateQueue {
  VisibilityTimeout?: number;
  MessageRetentionPeriod?: number;
  DelaySeconds?: number;
  ReceiveMessageWaitTimeSeconds?: number;
  FifoQueue?: boolean;
  RedrivePolicy?: { deadLetterTargetArn: { 'Fn::GetAtt': [string, string] }; maxReceiveCount: number };
}

/**
 * What is tested locally is what deploys: every table, index, stream, TTL and queue of the pipeline's synthesized
 * template exists on the emulators with the same keys and settings, read back from the emulators themselves.
 */
describe('parity of the local stack with the synthesized pipeline template', () => {
  const template = synthesizePipelineTemplate();
  let clients: LocalClients;
  let resources: ResourceMap;

  beforeAll(async () => {
    const { dynamodbEndpoint, sqsEndpoint } = sharedEmulators();
    clients = createLocalClients({ dynamodb: dynamodbEndpoint, sqs: sqsEndpoint, s3: sqsEndpoint });
    resources = await provisionResources(template, { prefix: uniquePrefix(), clients });
  });
  afterAll(() => clients.destroy());

  const tables = resourcesOfType(template, 'AWS::DynamoDB::Table').map(
    ([logicalId, resource]) => [logicalId, resource.Properties as unknown as TemplateTable] as const,
  );
  const queues = resourcesOfType(template, 'AWS::SQS::Queue').map(
    ([logicalId, resource]) => [logicalId, (resource.Properties ?? {}) as TemplateQueue] as const,
  );
  const byName = <T extends { AttributeName?: string; IndexName?: string }>(items: readonly T[] = []) =>
    [...items].sort((a, b) =>
      String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName)),
    );
  const comparableIndexes = (indexes: readonly TemplateIndex[] | undefined) =>
    byName(indexes).map((index) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: { NonKeyAttributes: undefined, ...index.Projection },
    }));

  it('has the tables the stack needs', () => {
    expect(tables.length).toBeGreaterThanOrEqual(2);
  });

  it.each(tables)(
    'table %s has the keys, indexes, stream and TTL of the template',
    async (logicalId, expected) => {
      const tableName = resources.get(logicalId).ref;

      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
      const { TimeToLiveDescription } = await clients.dynamodb.send(
        new DescribeTimeToLiveCommand({ TableName: tableName }),
      );

      expect(Table?.KeySchema).toEqual(expected.KeySchema);
      expect(byName(Table?.AttributeDefinitions)).toEqual(byName(expected.AttributeDefinitions));
      expect(Table?.BillingModeSummary?.BillingMode ?? 'PROVISIONED').toBe(
        expected.BillingMode ?? 'PROVISIONED',
      );
      expect(comparableIndexes(Table?.GlobalSecondaryIndexes)).toEqual(
        comparableIndexes(expected.GlobalSecondaryIndexes),
      );
      expect(comparableIndexes(Table?.LocalSecondaryIndexes)).toEqual(
        comparableIndexes(expected.LocalSecondaryIndexes),
      );
      expect(Table?.GlobalSecondaryIndexes?.every((index) => index.IndexStatus === 'ACTIVE') ?? true).toBe(
        true,
      );
      expect(Table?.StreamSpecification?.StreamViewType).toBe(expected.StreamSpecification?.StreamViewType);
      const ttl = expected.TimeToLiveSpecification;
      expect(TimeToLiveDescription?.TimeToLiveStatus).toBe(ttl?.Enabled ? 'ENABLED' : 'DISABLED');
      expect(TimeToLiveDescription?.AttributeName).toBe(ttl?.Enabled ? ttl.AttributeName : undefined);
    },
  );

  it('has every queue of the template, and no other', async () => {
    const { QueueUrls = [] } = await clients.sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: resources.prefix }),
    );

    expect(QueueUrls.sort()).toEqual(queues.map(([logicalId]) => resources.get(logicalId).ref).sort());
  });

  // it.each needs at least one row; the pipeline gets its queues in later issues.
  if (queues.length > 0) {
    it.each(queues)(
      'queue %s has the settings and redrive policy of the template',
      async (logicalId, expected) => {
        const { Attributes = {} } = await clients.sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: resources.get(logicalId).ref, AttributeNames: ['All'] }),
        );

        const settings = [
          'VisibilityTimeout',
          'MessageRetentionPeriod',
          'DelaySeconds',
          'ReceiveMessageWaitTimeSeconds',
        ] as const;
        for (const name of settings) {
          if (expected[name] !== undefined) expect(Attributes[name]).toBe(String(expected[name]));
        }
        expect(Attributes.FifoQueue ?? 'false').toBe(String(expected.FifoQueue ?? false));
        if (expected.RedrivePolicy) {
          // The DLQ is the queue the template names, its ARN read from the emulator.
          const deadLetterId = expected.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
          const { Attributes: deadLetter } = await clients.sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: resources.get(deadLetterId).ref,
              AttributeNames: ['QueueArn'],
            }),
          );
          expect(JSON.parse(Attributes.RedrivePolicy ?? '{}')).toEqual({
            deadLetterTargetArn: deadLetter?.QueueArn,
            maxReceiveCount: Number(expected.RedrivePolicy.maxReceiveCount),
          });
        } else {
          expect(Attributes.RedrivePolicy).toBeUndefined();
        }
      },
    );
  }
});
