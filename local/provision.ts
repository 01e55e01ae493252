import { randomBytes } from 'node:crypto';
import {
  type BillingMode,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { LocalClients } from './aws-clients';
import type { LocalSecretsManager } from './emulators/secrets-manager';
import { arnOf, type LocalResource, physicalName, ResourceMap } from './resource-map';
import { LOCAL_VALUE_METADATA_KEY } from './runtime/function-definitions';
import { type CfnResource, type CfnTemplate, resourcesOfType } from './template';

/**
 * Creates a template's tables, queues and buckets on the emulators, as CloudFormation would, and returns the
 * resource map that resolves references to them. Every physical name starts with `prefix`.
 */
export async function provisionResources(
  template: CfnTemplate,
  options: { prefix: string; clients: LocalClients },
): Promise<ResourceMap> {
  const resources = new ResourceMap(template, options.prefix);
  const { dynamodb, sqs, s3 } = options.clients;
  await Promise.all([
    ...[
      ...resourcesOfType(template, 'AWS::DynamoDB::Table'),
      ...resourcesOfType(template, 'AWS::DynamoDB::GlobalTable'),
    ].map(async ([logicalId, resource]) =>
      resources.set(await createTable(dynamodb, logicalId, resource, resources)),
    ),
    createQueues(sqs, template, resources),
    ...resourcesOfType(template, 'AWS::S3::Bucket').map(async ([logicalId, resource]) => {
      const name = bucketName(options.prefix, logicalId, resource);
      await s3.send(new CreateBucketCommand({ Bucket: name }));
      resources.set({
        logicalId,
        type: resource.Type,
        ref: name,
        attributes: {
          Arn: `arn:aws:s3:::${name}`,
          DomainName: `${name}.s3.amazonaws.com`,
          RegionalDomainName: `${name}.s3.us-east-1.amazonaws.com`,
        },
      });
    }),
  ]);
  return resources;
}

/**
 * Creates a template's `AWS::SecretsManager::Secret`s in the local Secrets Manager, under the ARNs the resource
 * map gives them (what `Ref` of them resolves to in the functions' environments). The value is that of the
 * configuration variable named by the secret's `commerce-pipeline:local-value-from` metadata
 * (docs/conventions.md); a secret without it gets its template `SecretString`, or a generated value, as
 * CloudFormation would give it.
 *
 * @param localValues values of configuration variables by name.
 */
export function provisionSecrets(
  template: CfnTemplate,
  resources: ResourceMap,
  secretsManager: LocalSecretsManager,
  localValues: Readonly<Record<string, string | undefined>>,
): void {
  for (const [logicalId, resource] of resourcesOfType(template, 'AWS::SecretsManager::Secret')) {
    // Only the properties read here: the others (a KMS key, replicas) have no local role.
    const property = (name: string): string | undefined => {
      const value = resource.Properties?.[name];
      return value === undefined ? undefined : resources.resolveString(value, `${logicalId}.${name}`);
    };
    const variable = resource.Metadata?.[LOCAL_VALUE_METADATA_KEY];
    let value: string | undefined;
    if (typeof variable === 'string') {
      value = localValues[variable];
      if (value === undefined) {
        throw new Error(
          `Secret ${logicalId} takes its local value from ${variable}, which the local stack does not have.`,
        );
      }
    }
    const { ref } = resources.get(logicalId);
    secretsManager.create({
      arn: ref,
      name: property('Name') ?? ref.slice(ref.lastIndexOf(':') + 1),
      description: property('Description'),
      value: value ?? property('SecretString') ?? randomBytes(32).toString('base64url'),
    });
  }
}

interface CfnKeySchema {
  AttributeName: string;
  KeyType: 'HASH' | 'RANGE';
}
interface CfnIndex {
  IndexName: string;
  KeySchema: CfnKeySchema[];
  Projection: { ProjectionType?: 'ALL' | 'KEYS_ONLY' | 'INCLUDE'; NonKeyAttributes?: string[] };
  ProvisionedThroughput?: { ReadCapacityUnits: number; WriteCapacityUnits: number };
}
interface CfnTableProperties {
  TableName?: string;
  KeySchema: CfnKeySchema[];
  AttributeDefinitions: { AttributeName: string; AttributeType: 'S' | 'N' | 'B' }[];
  BillingMode?: BillingMode;
  ProvisionedThroughput?: { ReadCapacityUnits: number; WriteCapacityUnits: number };
  GlobalSecondaryIndexes?: CfnIndex[];
  LocalSecondaryIndexes?: CfnIndex[];
  StreamSpecification?: { StreamViewType?: 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY' };
  TimeToLiveSpecification?: { AttributeName?: string; Enabled?: boolean };
}

/** Both table types: AWS::DynamoDB::GlobalTable (CDK's TableV2) has the same shape for what is used here. */
async function createTable(
  dynamodb: DynamoDBClient,
  logicalId: string,
  resource: CfnResource,
  resources: ResourceMap,
): Promise<LocalResource> {
  const properties = resources.resolve(resource.Properties) as CfnTableProperties;
  const tableName = physicalName(resources.prefix, properties.TableName ?? logicalId, 255);
  // PROVISIONED is CloudFormation's default, and CDK leaves BillingMode out then.
  const provisioned = properties.BillingMode !== 'PAY_PER_REQUEST';
  // GlobalTable keeps its capacity elsewhere (per replica, with autoscaling); DynamoDB Local ignores capacity.
  const capacity = provisioned
    ? (properties.ProvisionedThroughput ?? { ReadCapacityUnits: 5, WriteCapacityUnits: 5 })
    : undefined;
  const input: CreateTableCommandInput = {
    TableName: tableName,
    KeySchema: properties.KeySchema,
    AttributeDefinitions: properties.AttributeDefinitions,
    BillingMode: provisioned ? 'PROVISIONED' : 'PAY_PER_REQUEST',
    ProvisionedThroughput: capacity,
    GlobalSecondaryIndexes: properties.GlobalSecondaryIndexes?.map((index) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
      ProvisionedThroughput: provisioned ? (index.ProvisionedThroughput ?? capacity) : undefined,
    })),
    LocalSecondaryIndexes: properties.LocalSecondaryIndexes?.map((index) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
    })),
    StreamSpecification: properties.StreamSpecification
      ? { StreamEnabled: true, StreamViewType: properties.StreamSpecification.StreamViewType }
      : undefined,
  };
  await dynamodb.send(new CreateTableCommand(input));
  const table = await waitForActiveTable(dynamodb, tableName);
  const ttl = properties.TimeToLiveSpecification;
  if (ttl?.Enabled && ttl.AttributeName) {
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
      }),
    );
  }
  const attributes: Record<string, string> = {
    Arn: table.TableArn ?? arnOf('dynamodb', `table/${tableName}`),
  };
  if (table.LatestStreamArn) attributes.StreamArn = table.LatestStreamArn;
  return { logicalId, type: resource.Type, ref: tableName, attributes };
}

/** CloudFormation completes a table once it and its indexes are ACTIVE. */
async function waitForActiveTable(dynamodb: DynamoDBClient, tableName: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every(
      (index) => index.IndexStatus === 'ACTIVE',
    );
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return Table;
    if (Date.now() > deadline) throw new Error(`Table ${tableName} did not become ACTIVE within 60 s.`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const QUEUE_ATTRIBUTES = [
  'VisibilityTimeout',
  'MessageRetentionPeriod',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
  'MaximumMessageSize',
  'FifoQueue',
  'ContentBasedDeduplication',
] as const;

/** Queues in waves: a queue is created once every queue it refers to (its DLQ) exists. */
async function createQueues(sqs: SQSClient, template: CfnTemplate, resources: ResourceMap): Promise<void> {
  let pending = resourcesOfType(template, 'AWS::SQS::Queue');
  const created = new Set<string>();
  while (pending.length > 0) {
    const ready = pending.filter(([, resource]) =>
      referencedLogicalIds(resource.Properties).every(
        (id) => created.has(id) || template.Resources[id]?.Type !== 'AWS::SQS::Queue',
      ),
    );
    if (ready.length === 0) {
      throw new Error(`Queues refer to each other in a cycle: ${pending.map(([id]) => id).join(', ')}`);
    }
    await Promise.all(
      ready.map(async ([logicalId, resource]) => {
        resources.set(await createQueue(sqs, logicalId, resource, resources));
        created.add(logicalId);
      }),
    );
    pending = pending.filter(([logicalId]) => !created.has(logicalId));
  }
}

async function createQueue(
  sqs: SQSClient,
  logicalId: string,
  resource: CfnResource,
  resources: ResourceMap,
): Promise<LocalResource> {
  const properties = (resources.resolve(resource.Properties) ?? {}) as Record<string, unknown>;
  const fifo = properties.FifoQueue === true || properties.FifoQueue === 'true';
  const baseName = String(properties.QueueName ?? logicalId).replace(/\.fifo$/, '');
  const queueName = fifo
    ? `${physicalName(resources.prefix, baseName, 75)}.fifo`
    : physicalName(resources.prefix, baseName, 80);
  const attributes: Record<string, string> = {};
  for (const name of QUEUE_ATTRIBUTES) {
    if (properties[name] !== undefined) attributes[name] = String(properties[name]);
  }
  if (properties.RedrivePolicy !== undefined) {
    attributes.RedrivePolicy =
      typeof properties.RedrivePolicy === 'string'
        ? properties.RedrivePolicy
        : JSON.stringify(properties.RedrivePolicy);
  }
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: queueName, Attributes: attributes }),
  );
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const queueUrl = QueueUrl as string;
  const arn = Attributes?.QueueArn ?? arnOf('sqs', queueName);
  return {
    logicalId,
    type: resource.Type,
    ref: queueUrl,
    attributes: { Arn: arn, QueueUrl: queueUrl, QueueName: queueName },
  };
}

function bucketName(prefix: string, logicalId: string, resource: CfnResource): string {
  const base =
    typeof resource.Properties?.BucketName === 'string' ? resource.Properties.BucketName : logicalId;
  return physicalName(prefix, base, 63)
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/-+$/, '');
}

/** The logical ids a value refers to through `Ref` and `Fn::GetAtt`. */
function referencedLogicalIds(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(referencedLogicalIds);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, item]) => {
    if (key === 'Ref' && typeof item === 'string') return [item];
    if (key === 'Fn::GetAtt')
      return [Array.isArray(item) ? String(item[0]) : (String(item).split('.')[0] ?? '')];
    return referencedLogicalIds(item);
  });
}
