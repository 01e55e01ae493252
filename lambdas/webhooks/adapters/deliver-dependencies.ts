import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { documentClient } from '../../platform/dynamodb';
import { metrics } from '../../platform/metrics';
import { Delivery, type DeliveryMetrics, type WebhookLogger } from '../domain/delivery';
import { EndpointPace } from '../domain/endpoint-pace';
import { BatchedEndpointStats } from '../domain/endpoint-stats';
import { CachedEndpoints } from '../domain/fanout';
import type { DeliverConfig } from '../function-variables';
import { dnsResolver } from './dns-resolver';
import { DynamoAttemptsRepository } from './dynamo-attempts-repository';
import { DynamoEndpointSchedule } from './dynamo-endpoint-schedule';
import { DynamoEndpointStats } from './dynamo-endpoint-stats';
import { DynamoEndpointsRepository } from './dynamo-endpoints-repository';
import { SqsDeliveryQueue } from './sqs-delivery-queue';
import { WebhookHttpClient } from './webhook-http-client';

/** The attempt metrics as Powertools EMF metrics, published at the end of the invocation. */
const deliveryMetrics: DeliveryMetrics = {
  attempted(succeeded, durationMs) {
    metrics.addMetric(succeeded ? 'DeliveriesSucceeded' : 'DeliveriesFailed', MetricUnit.Count, 1);
    metrics.addMetric('DeliveryAttemptLatency', MetricUnit.Milliseconds, durationMs);
  },
  count(name) {
    metrics.addMetric(name, MetricUnit.Count, 1);
  },
};

/**
 * The `Delivery` of one execution environment, with its adapters: it holds the endpoint cache and the cool-downs,
 * so it is built once per environment.
 */
export function createDelivery(config: DeliverConfig, logger: WebhookLogger): Delivery {
  const endpoints = new DynamoEndpointsRepository({
    client: documentClient(),
    tableName: config.WEBHOOKS_TABLE_NAME,
  });
  const allowPrivateTargets = config.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? false;
  return new Delivery({
    endpoints: new CachedEndpoints(endpoints),
    endpointWrites: endpoints,
    events: new DynamoEventsRepository({ client: documentClient(), tableName: config.EVENTS_TABLE_NAME }),
    attempts: new DynamoAttemptsRepository({
      client: documentClient(),
      tableName: config.ATTEMPTS_TABLE_NAME,
    }),
    stats: new BatchedEndpointStats(
      new DynamoEndpointStats({ client: documentClient(), tableName: config.ATTEMPTS_TABLE_NAME }),
      {
        onError: (error) =>
          logger.warn('endpoint stats could not be written; kept for the next flush', { error }),
      },
    ),
    queue: new SqsDeliveryQueue({
      client: new SQSClient({}),
      queueUrl: config.DELIVERIES_QUEUE_URL,
      deadLetterQueueUrl: config.DELIVERIES_DLQ_URL,
    }),
    sender: new WebhookHttpClient({
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      allowPrivateTargets,
      // https is required wherever private targets are refused, i.e. deployed; the local stack's receivers are http.
      requireHttps: !allowPrivateTargets,
      resolver: dnsResolver,
    }),
    // Rate-limited endpoints' schedules live in the attempts table, which delivery already writes.
    pace: new EndpointPace(
      new DynamoEndpointSchedule({ client: documentClient(), tableName: config.ATTEMPTS_TABLE_NAME }),
    ),
    metrics: deliveryMetrics,
    logger,
    retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE,
    disableAfterMs: config.WEBHOOK_DISABLE_AFTER,
  });
}
