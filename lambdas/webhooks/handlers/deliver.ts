import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { SQSEvent } from 'aws-lambda';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { loadConfig } from '../../platform/config';
import { documentClient } from '../../platform/dynamodb';
import { requireEnv } from '../../platform/environment';
import { metrics } from '../../platform/metrics';
import { dnsResolver } from '../adapters/dns-resolver';
import { DynamoAttemptsRepository } from '../adapters/dynamo-attempts-repository';
import { DynamoEndpointsRepository } from '../adapters/dynamo-endpoints-repository';
import { SqsDeliveryQueue } from '../adapters/sqs-delivery-queue';
import { WebhookHttpClient } from '../adapters/webhook-http-client';
import { Delivery, deliverBatch } from '../domain/delivery';
import { CachedEndpoints } from '../domain/fanout';
import { parseDeliveryRecord } from '../domain/messages';

/**
 * Delivery: one DeliveriesQueue message is one attempt (or a reschedule) of one event to one endpoint. The consumer
 * is domain/webhooks/delivery.ts `deliverBatch`; this wires its adapters, one Delivery per execution environment
 * (it holds the endpoint cache and the cool-downs).
 */
const logger = new Logger();
const config = loadConfig(process.env, 'aws');
const endpoints = new DynamoEndpointsRepository({
  client: documentClient(),
  tableName: requireEnv('WEBHOOKS_TABLE_NAME'),
});
const delivery = new Delivery({
  endpoints: new CachedEndpoints(endpoints),
  endpointWrites: endpoints,
  events: new DynamoEventsRepository({
    client: documentClient(),
    tableName: requireEnv('EVENTS_TABLE_NAME'),
  }),
  attempts: new DynamoAttemptsRepository({
    client: documentClient(),
    tableName: requireEnv('ATTEMPTS_TABLE_NAME'),
  }),
  queue: new SqsDeliveryQueue({
    client: new SQSClient({}),
    queueUrl: requireEnv('DELIVERIES_QUEUE_URL'),
    deadLetterQueueUrl: requireEnv('DELIVERIES_DLQ_URL'),
  }),
  sender: new WebhookHttpClient({
    timeoutMs: config.webhookTimeoutMs,
    allowPrivateTargets: config.webhookAllowPrivateTargets,
    // https is required wherever private targets are refused, i.e. deployed; the local stack's receivers are http.
    requireHttps: !config.webhookAllowPrivateTargets,
    resolver: dnsResolver,
  }),
  metrics: {
    attempted(succeeded, durationMs) {
      metrics.addMetric(succeeded ? 'DeliveriesSucceeded' : 'DeliveriesFailed', MetricUnit.Count, 1);
      metrics.addMetric('DeliveryAttemptLatency', MetricUnit.Milliseconds, durationMs);
    },
    count(name) {
      metrics.addMetric(name, MetricUnit.Count, 1);
    },
  },
  logger,
  retryScheduleMs: config.webhookRetryScheduleMs,
  disableAfterMs: config.webhookDisableAfterMs,
});

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .handler((event, context) =>
    deliverBatch(delivery, event.Records.map(parseDeliveryRecord), {
      deadline: Date.now() + context.getRemainingTimeInMillis(),
    }),
  );
