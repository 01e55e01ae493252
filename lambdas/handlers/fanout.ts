import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import middy from '@middy/core';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoEndpointsRepository } from '../adapters/dynamo-endpoints-repository';
import { DynamoEventsRepository } from '../adapters/dynamo-events-repository';
import { documentClient } from '../adapters/dynamodb';
import { requireEnv } from '../adapters/environment';
import { SqsDeliveryQueue } from '../adapters/sqs-delivery-queue';
import { SqsNotificationQueue } from '../adapters/sqs-notification-queue';
import { loadConfig } from '../config';
import { CachedEndpoints, Fanout, fanoutWorkFor, streamTableOf } from '../domain/webhooks/fanout';

/**
 * Fan-out, attached to the streams of the transactions table and of the events table (ReportBatchItemFailures):
 * each inserted item becomes one delivery message per endpoint that wants its event, and a subscription event that
 * emails the subscriber one notifications queue message (when NOTIFICATIONS_QUEUE_URL is set). A record that fails
 * is reported, so the stream retries it; nothing is dropped.
 */
const logger = new Logger();
const config = loadConfig(process.env, 'aws');
const tables = {
  transactions: requireEnv('TRANSACTIONS_TABLE_NAME'),
  events: requireEnv('EVENTS_TABLE_NAME'),
};
const endpointsRepository = new DynamoEndpointsRepository({
  client: documentClient(),
  tableName: requireEnv('WEBHOOKS_TABLE_NAME'),
});
const sqs = new SQSClient({});
const deliveryQueue = new SqsDeliveryQueue({
  client: sqs,
  queueUrl: requireEnv('DELIVERIES_QUEUE_URL'),
  // Fan-out only sends first attempts; the DLQ is delivery's.
  deadLetterQueueUrl: process.env.DELIVERIES_DLQ_URL ?? '',
});
const eventsRepository = new DynamoEventsRepository({ client: documentClient(), tableName: tables.events });
// Optional: a deployment without the notifications queue sends no emails.
const notificationsQueueUrl = process.env.NOTIFICATIONS_QUEUE_URL;
const notificationQueue = notificationsQueueUrl
  ? new SqsNotificationQueue({ client: sqs, queueUrl: notificationsQueueUrl })
  : undefined;

/**
 * A fan-out for one invocation. Its endpoint cache lives only as long as the batch: every record of a batch was
 * written before the batch was read, so a list read during the invocation includes every endpoint registered
 * before any of those events. A cache kept across invocations could miss an endpoint registered a moment ago.
 */
function fanoutForInvocation(): Fanout {
  return new Fanout({
    events: eventsRepository,
    endpoints: new CachedEndpoints(endpointsRepository, { ttlMs: Number.POSITIVE_INFINITY }),
    queue: deliveryQueue,
    notifications: notificationQueue,
    retryScheduleMs: config.webhookRetryScheduleMs,
  });
}
const processor = new BatchProcessor(EventType.DynamoDBStreams);

async function fanOutRecord(fanout: Fanout, record: DynamoDBRecord): Promise<void> {
  // Items are immutable once written: only their insertion means anything here.
  if (record.eventName !== 'INSERT') return;
  const image = record.dynamodb?.NewImage;
  const keys = record.dynamodb?.Keys
    ? unmarshall(record.dynamodb.Keys as Record<string, AttributeValue>)
    : {};
  try {
    if (!image) throw new Error('The record has no NEW_IMAGE: the stream view type must include new images.');
    const item = unmarshall(image as Record<string, AttributeValue>);
    const work = fanoutWorkFor(streamTableOf(record.eventSourceARN, tables, item), item);
    const sent = await fanout.run(work);
    logger.debug('fanned out', { keys, kind: work.kind, sent });
  } catch (error) {
    logger.error('fan-out failed; the stream retries the record', { keys, error });
    throw error;
  }
}

export const handler = middy<DynamoDBStreamEvent>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => {
    const fanout = fanoutForInvocation();
    return processPartialResponse(
      event,
      (record: DynamoDBRecord) => fanOutRecord(fanout, record),
      processor,
      {
        context,
      },
    );
  });
