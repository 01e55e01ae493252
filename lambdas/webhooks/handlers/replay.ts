import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { documentClient } from '../../platform/dynamodb';
import { requireEnv } from '../../platform/environment';
import { SqsDeliveryQueue } from '../adapters/sqs-delivery-queue';
import { replayJob } from '../domain/messages';
import { runReplay } from '../domain/replay';

/**
 * Replays (refeeds): one ReplaysQueue message per `POST /v1/webhooks/{id}/replay`, turned into one delivery
 * message per event of the window. A job that fails is reported and retried whole, which is safe (see replay.ts).
 */
const logger = new Logger();
const deps = {
  events: new DynamoEventsRepository({
    client: documentClient(),
    tableName: requireEnv('EVENTS_TABLE_NAME'),
  }),
  queue: new SqsDeliveryQueue({
    client: new SQSClient({}),
    queueUrl: requireEnv('DELIVERIES_QUEUE_URL'),
    deadLetterQueueUrl: requireEnv('DELIVERIES_DLQ_URL'),
  }),
};
const processor = new BatchProcessor(EventType.SQS);

async function replay(record: SQSRecord): Promise<void> {
  const job = replayJob.parse(JSON.parse(record.body));
  const sent = await runReplay(job, deps);
  logger.info('replay queued', {
    storeId: job.storeId,
    endpointId: job.endpointId,
    replayId: job.replayId,
    since: new Date(job.since).toISOString(),
    until: new Date(job.until).toISOString(),
    deliveries: sent,
  });
}

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => processPartialResponse(event, replay, processor, { context }));
