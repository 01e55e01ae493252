import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readLocalStackFile } from './local-stack-file';

/** Which pipeline the CLI talks to, and with which admin key. */
export interface Target {
  readonly apiUrl: string;
  readonly adminApiKey?: string;
  readonly source: 'flags' | 'stack' | 'local';
}

export interface TargetOptions {
  readonly apiUrl?: string;
  readonly adminKey?: string;
  readonly stack?: string;
  /** The local stack's file. @default .local/stack.json, written by `npm start` */
  readonly stackFile?: string;
}

export class TargetError extends Error {}

/**
 * Flags win; then a deployed stack named by `--stack` (its ApiUrl output, and the admin key read from the secret
 * its AdminApiKeySecretArn output names, with the caller's AWS credentials); then the running `npm start`.
 */
export async function resolveTarget(options: TargetOptions): Promise<Target> {
  if (options.apiUrl) return { apiUrl: options.apiUrl, adminApiKey: options.adminKey, source: 'flags' };
  if (options.stack) return targetOfStack(options.stack, await stackOutputs(options.stack), options.adminKey);
  const local = readLocalStackFile(options.stackFile);
  if (local)
    return { apiUrl: local.apiUrl, adminApiKey: options.adminKey ?? local.adminApiKey, source: 'local' };
  throw new TargetError(
    'No pipeline to talk to: start the local stack with `npm start`, or pass --api-url <url> (and --admin-key), ' +
      'or --stack <name> for a deployed stack.',
  );
}

/** A deployed stack's outputs by key, read with the caller's AWS credentials. */
export async function stackOutputs(stackName: string): Promise<Readonly<Record<string, string | undefined>>> {
  const client = new CloudFormationClient({});
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    return Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  } finally {
    client.destroy();
  }
}

/** The API of a deployed stack: its ApiUrl output, and the admin key (given, or from its secret). */
export async function targetOfStack(
  stackName: string,
  outputs: Readonly<Record<string, string | undefined>>,
  adminKey: string | undefined,
): Promise<Target> {
  const apiUrl = outputs.ApiUrl;
  if (!apiUrl)
    throw new TargetError(`Stack ${stackName} has no ApiUrl output; is it a commerce-pipeline stack?`);
  if (adminKey) return { apiUrl, adminApiKey: adminKey, source: 'stack' };
  const secretArn = outputs.AdminApiKeySecretArn;
  if (!secretArn) return { apiUrl, source: 'stack' };
  const { SecretString } = await new SecretsManagerClient({}).send(
    new GetSecretValueCommand({ SecretId: secretArn }),
  );
  return { apiUrl, adminApiKey: SecretString, source: 'stack' };
}
