import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { createLocalClients, type LocalClients } from '../../../local/aws-clients';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../../local/stack';
import { type CfnTemplate, synthesizePipelineTemplate } from '../../../local/template';
import { sharedEmulators, uniquePrefix } from './emulators';

export interface TestStack extends LocalStack {
  /** SDK clients on the shared emulators. */
  readonly clients: LocalClients;
  /** What the stack logged (failed invocations, poller errors). */
  readonly logs: string[];
  /** What the functions wrote (their logs, EMF metrics), prefixed by function name. */
  readonly functionOutput: string[];
  /** The physical name or URL (`Ref`) of a resource, by its construct id (the logical id less CDK's hash). */
  ref(constructId: string): string;
  /** The items the fixture handlers recorded of one kind (`sqs`, `stream`, `schedule`). */
  observations<T = Record<string, unknown>>(kind: string): Promise<T[]>;
}

/** A local stack for `template` on the shared emulators, with a unique prefix and a free port. */
export async function startTestStack(
  template: CfnTemplate,
  options: Omit<LocalStackOptions, 'template' | 'dynamodbEndpoint' | 'sqsEndpoint' | 'log'> = {},
): Promise<TestStack> {
  const emulators = sharedEmulators();
  const logs: string[] = [];
  const functionOutput: string[] = [];
  const stack = await startLocalStack({
    ...emulators,
    prefix: uniquePrefix(),
    ...options,
    template,
    log: (message) => logs.push(message),
    // Kept, not printed: a failing test can print them; a passing run stays readable.
    functionOutput: (name, chunk) => functionOutput.push(`${name}: ${chunk}`),
  });
  const clients = createLocalClients(stack.endpoints);
  const ref = (constructId: string) => {
    const pattern = new RegExp(`^${constructId}[0-9A-F]{8}$`);
    const resource = stack.resources.all().find((candidate) => pattern.test(candidate.logicalId));
    if (!resource) throw new Error(`No resource with the construct id ${constructId}`);
    return resource.ref;
  };
  return {
    ...stack,
    clients,
    logs,
    functionOutput,
    ref,
    observations: async <T>(kind: string) => {
      const { Items = [] } = await clients.dynamodb.send(
        new ScanCommand({
          TableName: ref('Observations'),
          FilterExpression: 'kind = :kind',
          ExpressionAttributeValues: { ':kind': { S: kind } },
          ConsistentRead: true,
        }),
      );
      return Items.map((item) => unmarshall(item) as T);
    },
    stop: async () => {
      clients.destroy();
      await stack.stop();
    },
  };
}

/**
 * The real pipeline on the shared emulators, set up for webhook tests: local receivers allowed, fast retries
 * (0s,1s,1s) and a 2 s delivery timeout, plus whatever `settings` add.
 */
export function startWebhookTestStack(
  adminApiKey: string,
  settings: Record<string, string> = {},
): Promise<TestStack> {
  return startTestStack(synthesizePipelineTemplate(), {
    config: {
      adminApiKey,
      settings: {
        WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
        WEBHOOK_RETRY_SCHEDULE: '0s,1s,1s',
        WEBHOOK_TIMEOUT_MS: '2000',
        ...settings,
      },
    },
  });
}
