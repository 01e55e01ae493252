import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { SqsNotificationQueue } from '../../notifications/adapters/sqs-notification-queue';
import { documentClient } from '../../platform/dynamodb';
import type { WebhookLogger } from '../domain/delivery';
import { fanOutBatch } from '../domain/fanout';
import type { BatchResponse } from '../domain/messages';
import type { FanoutConfig } from '../function-variables';
import { DynamoEndpointsRepository } from './dynamo-endpoints-repository';
import { SqsDeliveryQueue } from './sqs-delivery-queue';
import { streamRecordInput } from './stream-records';

/**
 * The fan-out consumer of one stream batch (domain/fanout.ts `fanOutBatch`) with its adapters, built once per
 * execution environment. A subscription event that emails the subscriber also becomes one notifications queue
 * message when NOTIFICATIONS_QUEUE_URL is set.
 */
export function fanoutConsumer(
  config: FanoutConfig,
  logger: WebhookLogger,
): (event: DynamoDBStreamEvent) => Promise<BatchResponse> {
  const tables = { transactions: config.TRANSACTIONS_TABLE_NAME, events: config.EVENTS_TABLE_NAME };
  const sqs = new SQSClient({});
  const notificationsQueueUrl = config.NOTIFICATIONS_QUEUE_URL;
  const deps = {
    events: new DynamoEventsRepository({ client: documentClient(), tableName: tables.events }),
    endpoints: new DynamoEndpointsRepository({
      client: documentClient(),
      tableName: config.WEBHOOKS_TABLE_NAME,
    }),
    // Fan-out only sends first attempts: the dead-letter queue is delivery's.
    queue: new SqsDeliveryQueue({ client: sqs, queueUrl: config.DELIVERIES_QUEUE_URL }),
    // Optional: a deployment without the notifications queue sends no emails.
    ...(notificationsQueueUrl
      ? { notifications: new SqsNotificationQueue({ client: sqs, queueUrl: notificationsQueueUrl }) }
      : {}),
    retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE,
    logger,
  };
  return (event) =>
    fanOutBatch(
      deps,
      event.Records.map((record) => streamRecordInput(record, tables)),
    );
}
