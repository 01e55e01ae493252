import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import middy from '@middy/core';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { SqsNotificationQueue } from '../../notifications/adapters/sqs-notification-queue';
import { loadConfig } from '../../platform/config';
import { documentClient } from '../../platform/dynamodb';
import { requireEnv } from '../../platform/environment';
import { DynamoEndpointsRepository } from '../adapters/dynamo-endpoints-repository';
import { SqsDeliveryQueue } from '../adapters/sqs-delivery-queue';
import { type FanoutBatchDependencies, fanOutBatch, type StreamRecordInput } from '../domain/fanout';

/**
 * Fan-out, attached to the streams of the transactions table and of the events table (ReportBatchItemFailures):
 * the consumer is domain/webhooks/fanout.ts `fanOutBatch`; this wires its adapters and unmarshalls the images. A
 * subscription event that emails the subscriber also becomes one notifications queue message when
 * NOTIFICATIONS_QUEUE_URL is set.
 */
const logger = new Logger();
const config = loadConfig(process.env, 'aws');
const tables = {
  transactions: requireEnv('TRANSACTIONS_TABLE_NAME'),
  events: requireEnv('EVENTS_TABLE_NAME'),
};
const sqs = new SQSClient({});
// Optional: a deployment without the notifications queue sends no emails.
const notificationsQueueUrl = process.env.NOTIFICATIONS_QUEUE_URL;
const deps: FanoutBatchDependencies = {
  tables,
  events: new DynamoEventsRepository({ client: documentClient(), tableName: tables.events }),
  endpoints: new DynamoEndpointsRepository({
    client: documentClient(),
    tableName: requireEnv('WEBHOOKS_TABLE_NAME'),
  }),
  queue: new SqsDeliveryQueue({
    client: sqs,
    queueUrl: requireEnv('DELIVERIES_QUEUE_URL'),
    // Fan-out only sends first attempts; the DLQ is delivery's.
    deadLetterQueueUrl: process.env.DELIVERIES_DLQ_URL ?? '',
  }),
  ...(notificationsQueueUrl
    ? { notifications: new SqsNotificationQueue({ client: sqs, queueUrl: notificationsQueueUrl }) }
    : {}),
  retryScheduleMs: config.webhookRetryScheduleMs,
  logger,
};

function streamRecordInput(record: DynamoDBRecord): StreamRecordInput {
  const { dynamodb } = record;
  let newImage: Record<string, unknown> | undefined;
  try {
    newImage = dynamodb?.NewImage
      ? unmarshall(dynamodb.NewImage as Record<string, AttributeValue>)
      : undefined;
  } catch {
    // Reported by the consumer as a record without a readable image.
  }
  return {
    sequenceNumber: dynamodb?.SequenceNumber ?? '',
    ...(record.eventName ? { eventName: record.eventName } : {}),
    ...(record.eventSourceARN ? { eventSourceArn: record.eventSourceARN } : {}),
    ...(dynamodb?.Keys ? { keys: unmarshall(dynamodb.Keys as Record<string, AttributeValue>) } : {}),
    ...(newImage ? { newImage } : {}),
  };
}

export const handler = middy<DynamoDBStreamEvent>()
  .use(injectLambdaContext(logger))
  .handler((event) => fanOutBatch(deps, event.Records.map(streamRecordInput)));
