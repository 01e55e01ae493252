import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoChargesRepository } from '../billing/adapters/dynamo-charges-repository';
import { DynamoReconciliationReports } from '../billing/adapters/dynamo-reconciliation-reports';
import { DynamoRunsRepository } from '../billing/adapters/dynamo-runs-repository';
import { DynamoSubscriptionsRepository } from '../billing/adapters/dynamo-subscriptions-repository';
import { datafeedsS3Client, S3DatafeedStore } from '../billing/adapters/s3-datafeed-store';
import { SqsReconciliationQueue, SqsRunQueue } from '../billing/adapters/sqs-billing-queues';
import { DynamoEventsRepository } from '../events/adapters/dynamo-events-repository';
import { DynamoTransactionsRepository } from '../events/adapters/dynamo-transactions-repository';
import { createIndexGate } from '../index-gate/adapters/gated-index-query';
import { queueAgeReader, sqsQueueOperations } from '../operations/adapters/queue-operations';
import { createDocumentClient } from '../platform/dynamodb';
import { publishCount } from '../platform/metrics';
import { DynamoStoreWindowCounters } from '../stores/adapters/dynamo-store-window-counters';
import { DynamoStoresRepository } from '../stores/adapters/dynamo-stores-repository';
import { dnsResolver } from '../webhooks/adapters/dns-resolver';
import { DynamoAttemptsRepository } from '../webhooks/adapters/dynamo-attempts-repository';
import { DynamoEndpointStats } from '../webhooks/adapters/dynamo-endpoint-stats';
import { DynamoEndpointsRepository } from '../webhooks/adapters/dynamo-endpoints-repository';
import { SqsReplayQueue } from '../webhooks/adapters/sqs-replay-queue';
import { DynamoIdempotencyStore } from './adapters/dynamo-idempotency-store';
import type { ApiConfig } from './function-variables';
import type { ApiDependencies } from './services';

/**
 * The request path's DynamoDB client. It sheds load instead of hanging: two SDK retries, and a DynamoDB call that
 * takes longer than 3 s is given up (the answer is 503 with Retry-After; nothing was acknowledged). Exported so
 * that bench/api-overhead.ts compares the handler with a raw put made with exactly these settings.
 */
export function requestPathDocumentClient(): DynamoDBDocumentClient {
  return createDocumentClient(
    new DynamoDBClient({
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
    }),
  );
}

/** The API function's adapters, built once per execution environment from its configuration. */
export function apiDependencies(config: ApiConfig, logger: Logger): ApiDependencies {
  const sqs = new SQSClient({});
  const dynamodb = requestPathDocumentClient();
  const table = (tableName: string) => ({ client: dynamodb, tableName });
  const storeThrottle = { rateLimit: config.STORE_RATE_LIMIT, burstLimit: config.STORE_BURST_LIMIT };
  // The per-store limit's counts, shared by every environment through the idempotency table (pk + TTL). Best
  // effort: one attempt, given up after 500 ms, and a failure falls back to this environment's bucket (never a 429
  // or 5xx).
  const storeCounters = new DynamoStoreWindowCounters({
    client: createDocumentClient(
      new DynamoDBClient({ maxAttempts: 1, requestHandler: { connectionTimeout: 500, requestTimeout: 500 } }),
    ),
    tableName: config.IDEMPOTENCY_TABLE_NAME,
  });
  const allowPrivate = config.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? false;
  return {
    stores: new DynamoStoresRepository(table(config.STORES_TABLE_NAME)),
    idempotency: new DynamoIdempotencyStore(table(config.IDEMPOTENCY_TABLE_NAME)),
    transactions: new DynamoTransactionsRepository(table(config.TRANSACTIONS_TABLE_NAME)),
    events: new DynamoEventsRepository(table(config.EVENTS_TABLE_NAME)),
    endpoints: new DynamoEndpointsRepository(table(config.WEBHOOKS_TABLE_NAME)),
    attempts: new DynamoAttemptsRepository(table(config.ATTEMPTS_TABLE_NAME)),
    endpointStats: new DynamoEndpointStats(table(config.ATTEMPTS_TABLE_NAME)),
    replays: new SqsReplayQueue({ client: sqs, queueUrl: config.REPLAYS_QUEUE_URL }),
    billing: {
      // The list reads the created index through the readiness gate (503 while it is built).
      subscriptions: new DynamoSubscriptionsRepository({
        ...table(config.SUBSCRIPTIONS_TABLE_NAME),
        gate: createIndexGate(dynamodb),
      }),
      charges: new DynamoChargesRepository(table(config.CHARGES_TABLE_NAME)),
      runs: new DynamoRunsRepository(table(config.RUNS_TABLE_NAME)),
      runQueue: new SqsRunQueue({ client: sqs, queueUrl: config.RUNS_QUEUE_URL }),
      datafeeds: new S3DatafeedStore({ client: datafeedsS3Client(), bucket: config.DATAFEEDS_BUCKET_NAME }),
      // Reports live beside their runs; the reconcile message goes to RunFunction on the runs queue.
      reconciliations: {
        reports: new DynamoReconciliationReports(table(config.RUNS_TABLE_NAME)),
        queue: new SqsReconciliationQueue({ client: sqs, queueUrl: config.RUNS_QUEUE_URL }),
      },
    },
    operations: sqsQueueOperations(sqs, queuePairs(config), queueAgeReader()),
    ...(storeThrottle.rateLimit > 0 ? { storeThrottle, storeCounters } : {}),
    onStoreCountersFailure: (storeId, error) => {
      logger.warn('store limit sync failed: this environment limits the store alone', {
        storeId,
        error: (error as { name?: string } | undefined)?.name ?? String(error),
      });
      publishCount('StoreLimitSyncFailures');
    },
    manageLinks: { baseUrl: config.PUBLIC_API_URL, ttlMs: config.MANAGE_LINK_TTL },
    resolver: dnsResolver,
    // Plain http is for local receivers only: wherever private targets are refused (AWS), https is required.
    webhookPolicy: { allowPrivate, requireHttps: !allowPrivate },
    // Published at once (one EMF line), so requests that accept nothing publish no empty metric set.
    onTransactionAccepted: () => publishCount('TransactionsAccepted'),
  };
}

/** The work queues and their dead-letter queues; notifications' only in a deployment that has them. */
function queuePairs(config: ApiConfig) {
  const pair = (sourceUrl: string, deadLetterUrl: string) => ({ sourceUrl, deadLetterUrl });
  return {
    deliveries: pair(config.DELIVERIES_QUEUE_URL, config.DELIVERIES_DLQ_URL),
    replays: pair(config.REPLAYS_QUEUE_URL, config.REPLAYS_DLQ_URL),
    charges: pair(config.CHARGES_QUEUE_URL, config.CHARGES_DLQ_URL),
    runs: pair(config.RUNS_QUEUE_URL, config.RUNS_DLQ_URL),
    ...(config.NOTIFICATIONS_QUEUE_URL && config.NOTIFICATIONS_DLQ_URL
      ? { notifications: pair(config.NOTIFICATIONS_QUEUE_URL, config.NOTIFICATIONS_DLQ_URL) }
      : {}),
  };
}
