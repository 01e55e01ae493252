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
}

export class TargetError extends Error {}

/**
 * Flags win; then a deployed stack named by `--stack` (its ApiUrl output, and the admin key read from the secret
 * its AdminApiKeySecretArn output names, with the caller's AWS credentials); then the running `npm start`.
 */
export async function resolveTarget(options: TargetOptions): Promise<Target> {
  if (options.apiUrl) return { apiUrl: options.apiUrl, adminApiKey: options.adminKey, source: 'flags' };
  if (options.stack) return resolveDeployedStack(options.stack, options.adminKey);
  const local = readLocalStackFile();
  if (local)
    return { apiUrl: local.apiUrl, adminApiKey: options.adminKey ?? local.adminApiKey, source: 'local' };
  throw new TargetError(
    'No pipeline to talk to: start the local stack with `npm start`, or pass --api-url <url> (and --admin-key), ' +
      'or --stack <name> for a deployed stack.',
  );
}

async function resolveDeployedStack(stackName: string, adminKey: string | undefined): Promise<Target> {
  const { Stacks } = await new CloudFormationClient({}).send(
    new DescribeStacksCommand({ StackName: stackName }),
  );
  const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
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
