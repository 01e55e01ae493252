import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSEvent } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { metrics } from '../../platform/metrics';
import { notifyConsumer } from '../adapters/notify-consumer';
import { NOTIFY_FUNCTION_VARIABLES } from '../function-variables';

/**
 * Notify: one NotificationsQueue message is one email (a receipt, a payment-failed or a cancellation notice), sent
 * once per event however often the message arrives (adapters/notify-consumer.ts). A message that fails is reported
 * as a batch item failure: SQS brings it back after the visibility timeout, and after maxReceiveCount it waits on
 * the DLQ.
 */
const logger = new Logger();
const notify = notifyConsumer(readConfig(NOTIFY_FUNCTION_VARIABLES, process.env), logger);
const processor = new BatchProcessor(EventType.SQS);

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .handler((event, context) => processPartialResponse(event, notify, processor, { context }));
