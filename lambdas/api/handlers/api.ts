import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DynamoChargesRepository } from '../../billing/adapters/dynamo-charges-repository';
import { DynamoReconciliationReports } from '../../billing/adapters/dynamo-reconciliation-reports';
import { DynamoRunsRepository } from '../../billing/adapters/dynamo-runs-repository';
import { DynamoSubscriptionsRepository } from '../../billing/adapters/dynamo-subscriptions-repository';
import { S3DatafeedStore } from '../../billing/adapters/s3-datafeed-store';
import { SqsReconciliationQueue, SqsRunQueue } from '../../billing/adapters/sqs-billing-queues';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { DynamoTransactionsRepository } from '../../events/adapters/dynamo-transactions-repository';
import { loadConfig } from '../../platform/config';
import { createDocumentClient } from '../../platform/dynamodb';
import { requireEnv } from '../../platform/environment';
import { publishCount } from '../../platform/metrics';
import { type ContextWithSecrets, loadSecrets } from '../../platform/secrets';
import { DynamoStoreWindowCounters } from '../../stores/adapters/dynamo-store-window-counters';
import { DynamoStoresRepository } from '../../stores/adapters/dynamo-stores-repository';
import { dnsResolver } from '../../webhooks/adapters/dns-resolver';
import { DynamoAttemptsRepository } from '../../webhooks/adapters/dynamo-attempts-repository';
import { DynamoEndpointsRepository } from '../../webhooks/adapters/dynamo-endpoints-repository';
import { SqsReplayQueue } from '../../webhooks/adapters/sqs-replay-queue';
import { DynamoIdempotencyStore } from '../adapters/dynamo-idempotency-store';
import { createApi } from '../create-api';

/** The HTTP API function: API Gateway (HTTP API, payload v2) in AWS, the local gateway in `npm start`. */
const logger = new Logger();
const secretBindings = { adminApiKey: 'ADMIN_API_KEY_SECRET_ARN' } as const;
const config = loadConfig(process.env, 'aws');
const sqs = new SQSClient({});
// The request path sheds load instead of hanging: two SDK retries, and a DynamoDB call that takes longer than
// 3 s is given up (the answer is 503 with Retry-After; nothing was acknowledged).
const dynamodb = createDocumentClient(
  new DynamoDBClient({ maxAttempts: 3, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } }),
);
const table = (variable: string) => ({ client: dynamodb, tableName: requireEnv(variable) });
const storeThrottle = {
  rateLimit: Number(process.env.STORE_RATE_LIMIT ?? '0'),
  burstLimit: Number(process.env.STORE_BURST_LIMIT ?? '0'),
};
// The per-store limit's counts, shared by every environment through the idempotency table (pk + TTL). Best effort:
// one attempt, given up after 500 ms, and a failure falls back to this environment's bucket (never a 429 or 5xx).
const storeCounters = new DynamoStoreWindowCounters({
  client: createDocumentClient(
    new DynamoDBClient({ maxAttempts: 1, requestHandler: { connectionTimeout: 500, requestTimeout: 500 } }),
  ),
  tableName: requireEnv('IDEMPOTENCY_TABLE_NAME'),
});

const api = createApi(
  {
    stores: new DynamoStoresRepository(table('STORES_TABLE_NAME')),
    idempotency: new DynamoIdempotencyStore(table('IDEMPOTENCY_TABLE_NAME')),
    transactions: new DynamoTransactionsRepository(table('TRANSACTIONS_TABLE_NAME')),
    events: new DynamoEventsRepository(table('EVENTS_TABLE_NAME')),
    endpoints: new DynamoEndpointsRepository(table('WEBHOOKS_TABLE_NAME')),
    attempts: new DynamoAttemptsRepository(table('ATTEMPTS_TABLE_NAME')),
    replays: new SqsReplayQueue({ client: sqs, queueUrl: requireEnv('REPLAYS_QUEUE_URL') }),
    billing: {
      subscriptions: new DynamoSubscriptionsRepository(table('SUBSCRIPTIONS_TABLE_NAME')),
      charges: new DynamoChargesRepository(table('CHARGES_TABLE_NAME')),
      runs: new DynamoRunsRepository(table('RUNS_TABLE_NAME')),
      runQueue: new SqsRunQueue({ client: sqs, queueUrl: requireEnv('RUNS_QUEUE_URL') }),
      datafeeds: new S3DatafeedStore({
        // Path-style addressing for the local S3 emulator; virtual-hosted (the default) in AWS.
        client: new S3Client({ forcePathStyle: process.env.AWS_ENDPOINT_URL_S3 !== undefined }),
        bucket: requireEnv('DATAFEEDS_BUCKET_NAME'),
      }),
      // Reports live beside their runs; the reconcile message goes to RunFunction on the runs queue.
      reconciliations: {
        reports: new DynamoReconciliationReports(table('RUNS_TABLE_NAME')),
        queue: new SqsReconciliationQueue({ client: sqs, queueUrl: requireEnv('RUNS_QUEUE_URL') }),
      },
    },
    ...(storeThrottle.rateLimit > 0 ? { storeThrottle, storeCounters } : {}),
    onStoreCountersFailure: (storeId, error) => {
      logger.warn('store limit sync failed: this environment limits the store alone', {
        storeId,
        error: (error as { name?: string } | undefined)?.name ?? String(error),
      });
      publishCount('StoreLimitSyncFailures');
    },
    resolver: dnsResolver,
    webhookPolicy: {
      allowPrivate: config.webhookAllowPrivateTargets,
      // Plain http is for local receivers only: wherever private targets are refused (AWS), https is required.
      requireHttps: !config.webhookAllowPrivateTargets,
    },
    // Published at once (one EMF line), so requests that accept nothing publish no empty metric set.
    onTransactionAccepted: () => publishCount('TransactionsAccepted'),
  },
  logger,
);

export const handler = middy<APIGatewayProxyEventV2>()
  .use(injectLambdaContext(logger))
  .use(loadSecrets(secretBindings))
  .handler(async (event, context) => {
    const { adminApiKey } = context as ContextWithSecrets<typeof secretBindings>;
    const result = await api(event, { adminApiKey });
    // Every request is in the HTTP API's access log already; the function logs only what that log cannot tell:
    // client mistakes at debug (they are common and cheap to repeat), server errors inside createApi at error.
    logger.debug('request', {
      method: event.requestContext.http.method,
      path: event.rawPath,
      status: result.statusCode,
    });
    return result;
  });
