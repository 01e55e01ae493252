import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

/** The region and account every local resource lives in. */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';
/** The emulators accept any credentials; the SDK only needs some to sign with. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** Where the emulators listen. `sqs` serves S3 too (fauxqs). */
export interface LocalEndpoints {
  readonly dynamodb: string;
  readonly sqs: string;
  readonly s3: string;
  /** The local Secrets Manager (`local/emulators/secrets-manager.ts`); a local stack always has one. */
  readonly secretsManager?: string;
}

export function localClientConfig(endpoint: string) {
  return { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint, maxAttempts: 3 };
}

/** The SDK clients the local runtime itself uses (provisioning, pollers); handlers make their own. */
export interface LocalClients {
  readonly dynamodb: DynamoDBClient;
  readonly streams: DynamoDBStreamsClient;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  destroy(): void;
}

export function createLocalClients(endpoints: LocalEndpoints): LocalClients {
  const clients = {
    dynamodb: new DynamoDBClient(localClientConfig(endpoints.dynamodb)),
    streams: new DynamoDBStreamsClient(localClientConfig(endpoints.dynamodb)),
    sqs: new SQSClient(localClientConfig(endpoints.sqs)),
    s3: new S3Client({ ...localClientConfig(endpoints.s3), forcePathStyle: true }),
  };
  return {
    ...clients,
    destroy: () => {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}

/**
 * The environment that points a handler's default-configured SDK clients at the emulators (see
 * docs/conventions.md), with dummy credentials.
 */
export function localSdkEnvironment(endpoints: LocalEndpoints): Record<string, string> {
  return {
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    ...(endpoints.secretsManager ? { AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager } : {}),
    ...QUIET_SDK_ENVIRONMENT,
  };
}

/**
 * The SDK warns once per process (and per worker) that its 2027 releases need Node 22. This machine runs Node 20
 * on purpose and the deployed functions run Node 22+, so locally the warning is only noise.
 */
export const QUIET_SDK_ENVIRONMENT = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } as const;
