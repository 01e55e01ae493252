import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { localClientConfig } from '../../local/aws-clients';
import { readLocalStackFile } from '../local-stack-file';
import { deployedQueuePairs, localQueuePairs, localResource } from '../redrive';
import {
  resolveTarget,
  stackOutputs,
  type Target,
  TargetError,
  type TargetOptions,
  targetOfStack,
} from '../target';
import { readSection, type Section } from './section';
import { cloudWatchAges } from './sources/cloudwatch';
import type { EndpointsSource } from './sources/dynamodb';
import { fauxqsAges } from './sources/local-inspection';
import type { QueueSource } from './sources/sqs';

/** The stack output that names the webhooks table of a deployed stack (for the failing endpoints). */
export const WEBHOOKS_TABLE_OUTPUT = 'WebhooksTableName';

/** Where `status` reads each section from. */
export interface StatusSources {
  readonly target: string;
  readonly redriveCommand: string;
  readonly api: Section<Target>;
  readonly queues: Section<QueueSource>;
  readonly endpoints: Section<EndpointsSource>;
  /** Closes the SDK clients. */
  destroy(): void;
}

/**
 * The sources of `status`: `--stack` reads a deployed stack's outputs (queues, table, API) and uses the caller's
 * AWS credentials; otherwise the local stack's file gives the emulators and the resources, and the API is the
 * flags' or the local stack's (as for every command).
 */
export async function resolveStatusSources(options: TargetOptions): Promise<StatusSources> {
  if (options.stack) return deployedSources(options.stack, options);
  const local = readLocalStackFile(options.stackFile);
  const api = await readSection(() => resolveTarget(options));
  if (!local) {
    if (api.state !== 'ok') {
      throw new TargetError(
        'No pipeline to look at: start the local stack with `npm start`, or pass --stack <name> for a deployed ' +
          'stack (or --api-url <url> and --admin-key for the run alone).',
      );
    }
    const reason = 'only the API is known (--api-url): pass --stack <name>, or run `npm start`';
    return {
      target: api.value.apiUrl,
      redriveCommand: 'npx pipeline redrive',
      api,
      queues: { state: 'unavailable', reason },
      endpoints: { state: 'unavailable', reason },
      destroy: () => undefined,
    };
  }
  const resources = local.resources ?? {};
  const sqs = new SQSClient(localClientConfig(local.endpoints.sqs));
  const dynamodb = new DynamoDBClient(localClientConfig(local.endpoints.dynamodb));
  const tableName = localResource(resources, 'WebhooksTable');
  return {
    target: `local stack (${local.apiUrl})`,
    redriveCommand: `npx pipeline${options.stackFile ? ` --stack-file ${options.stackFile}` : ''} redrive`,
    api,
    queues: {
      state: 'ok',
      value: { sqs, pairs: localQueuePairs(resources), ages: fauxqsAges(local.endpoints.sqs) },
    },
    endpoints: tableName
      ? { state: 'ok', value: { dynamodb, tableName } }
      : { state: 'unavailable', reason: 'the local stack has no webhooks table' },
    destroy: () => {
      sqs.destroy();
      dynamodb.destroy();
    },
  };
}

async function deployedSources(stackName: string, options: TargetOptions): Promise<StatusSources> {
  const outputs = await stackOutputs(stackName);
  const api = await readSection(() =>
    options.apiUrl ? resolveTarget(options) : targetOfStack(stackName, outputs, options.adminKey),
  );
  const sqs = new SQSClient({});
  const dynamodb = new DynamoDBClient({});
  const cloudwatch = new CloudWatchClient({});
  const tableName = outputs[WEBHOOKS_TABLE_OUTPUT];
  return {
    target: `stack ${stackName}`,
    redriveCommand: `npx pipeline --stack ${stackName} redrive`,
    api,
    queues: {
      state: 'ok',
      value: { sqs, pairs: deployedQueuePairs(outputs), ages: cloudWatchAges(cloudwatch) },
    },
    endpoints: tableName
      ? { state: 'ok', value: { dynamodb, tableName } }
      : { state: 'unavailable', reason: `stack ${stackName} has no ${WEBHOOKS_TABLE_OUTPUT} output` },
    destroy: () => {
      sqs.destroy();
      dynamodb.destroy();
      cloudwatch.destroy();
    },
  };
}
