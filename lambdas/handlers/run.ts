import { randomUUID } from 'node:crypto';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { DynamoChargesRepository } from '../adapters/dynamo-charges-repository';
import { DynamoEventsRepository } from '../adapters/dynamo-events-repository';
import { DynamoRunsRepository } from '../adapters/dynamo-runs-repository';
import { DynamoSubscriptionsRepository } from '../adapters/dynamo-subscriptions-repository';
import { documentClient } from '../adapters/dynamodb';
import { requireEnv } from '../adapters/environment';
import { createIndexGate } from '../adapters/gated-index-query';
import { metrics } from '../adapters/metrics';
import { runSettingsFromEnv } from '../adapters/run-settings';
import { S3DatafeedStore } from '../adapters/s3-datafeed-store';
import { SqsChargeQueue, SqsRunQueue } from '../adapters/sqs-billing-queues';
import { type RunMessage, type RunWorkDeps, triggerRun, workOnRun } from '../domain/subscriptions/runs';

/**
 * Subscription runs. Invoked two ways, one code path: by the primary and backup schedules (EventBridge Scheduler,
 * input `{"trigger": "primary" | "backup"}`), which trigger the day's run, and by RunsQueue, whose messages are
 * the steps of a run. A step works until shortly before the function's timeout, then sends its continuation.
 */
const logger = new Logger();
const sqs = new SQSClient({});
const settings = runSettingsFromEnv(process.env);
const runs = new DynamoRunsRepository({ client: documentClient(), tableName: requireEnv('RUNS_TABLE_NAME') });
const runQueue = new SqsRunQueue({ client: sqs, queueUrl: requireEnv('RUNS_QUEUE_URL') });
const deps: RunWorkDeps = {
  runs,
  due: new DynamoSubscriptionsRepository({
    client: documentClient(),
    tableName: requireEnv('SUBSCRIPTIONS_TABLE_NAME'),
    gate: createIndexGate(documentClient()),
  }),
  charges: new DynamoChargesRepository({
    client: documentClient(),
    tableName: requireEnv('CHARGES_TABLE_NAME'),
  }),
  chargeQueue: new SqsChargeQueue({ client: sqs, queueUrl: requireEnv('CHARGES_QUEUE_URL') }),
  datafeeds: new S3DatafeedStore({
    // Path-style addressing for the local S3 emulator; virtual-hosted (the default) in AWS.
    client: new S3Client({ forcePathStyle: process.env.AWS_ENDPOINT_URL_S3 !== undefined }),
    bucket: requireEnv('DATAFEEDS_BUCKET_NAME'),
  }),
  events: new DynamoEventsRepository({
    client: documentClient(),
    tableName: requireEnv('EVENTS_TABLE_NAME'),
  }),
  now: Date.now,
  settings: settings.run,
  onProgress: (run, view) => {
    metrics.addMetric('RunPendingCharges', MetricUnit.Count, view.pending);
    metrics.addMetric('RunChargesPerMinute', MetricUnit.Count, view.ratePerMinute);
    metrics.addMetric('RunPastDeadline', MetricUnit.Count, Date.now() > Date.parse(run.deadlineAt) ? 1 : 0);
  },
};
const processor = new BatchProcessor(EventType.SQS);
const runMessage = z.object({ runId: z.string().min(1), owner: z.string().min(1) });
const scheduledTrigger = z.object({ trigger: z.string().min(1).max(64) });

async function step(record: SQSRecord, context: Context): Promise<void> {
  const message: RunMessage = runMessage.parse(JSON.parse(record.body));
  // Stop early enough to checkpoint and send the continuation within the function's timeout.
  const deadline = Date.now() + Math.max(1_000, context.getRemainingTimeInMillis() - settings.stepMarginMs);
  let result: Awaited<ReturnType<typeof workOnRun>>;
  try {
    result = await workOnRun(deps, message, deadline);
  } catch (error) {
    // The message comes back after its visibility timeout and the step resumes from the checkpoint.
    logger.error('run step failed; it is retried from the checkpoint', { runId: message.runId, error });
    throw error;
  }
  logger.info('run step', { runId: message.runId, result });
  if (result === 'continue') await runQueue.send(message, settings.pollSeconds);
}

export const handler = middy<SQSEvent | unknown>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .handler(async (event, context) => {
    if (isSqsEvent(event)) {
      return processPartialResponse(event, (record: SQSRecord) => step(record, context), processor, {
        context,
      });
    }
    const { trigger } = scheduledTrigger.parse(event);
    const { run, outcome } = await triggerRun(
      { runs, queue: runQueue, now: Date.now, newOwner: randomUUID, settings: settings.run },
      { source: trigger },
    );
    logger.info('run triggered', { runId: run.runId, trigger, outcome });
    return { runId: run.runId, outcome };
  });

function isSqsEvent(event: unknown): event is SQSEvent {
  return Array.isArray((event as { Records?: unknown } | undefined)?.Records);
}
