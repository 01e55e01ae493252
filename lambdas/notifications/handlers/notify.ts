import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { metrics } from '../../platform/metrics';
import { type ContextWithSecrets, loadSecrets } from '../../platform/secrets';
import { notifyConsumer } from '../adapters/notify-consumer';
import { NOTIFY_FUNCTION_VARIABLES } from '../function-variables';

/**
 * Notify: one NotificationsQueue message is one email (a receipt, a payment-failed or a cancellation notice), sent
 * once per event however often the message arrives (adapters/notify-consumer.ts). A message that fails is reported
 * as a batch item failure: SQS brings it back after the visibility timeout, and after maxReceiveCount it waits on
 * the DLQ. Receipts and payment-failed notices carry the customer's manage link, signed with the key read from
 * Secrets Manager (platform/secrets.ts).
 */
const logger = new Logger();
const secretBindings = { manageLinkKey: 'MANAGE_LINK_KEY_SECRET_ARN' } as const;
const notify = notifyConsumer(readConfig(NOTIFY_FUNCTION_VARIABLES, process.env), logger);
const processor = new BatchProcessor(EventType.SQS);

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(loadSecrets(secretBindings))
  .handler((event, context) => {
    const { manageLinkKey } = context as ContextWithSecrets<typeof secretBindings>;
    return processPartialResponse(
      event,
      (record: SQSRecord) => notify(record, { manageLinkKey }),
      processor,
      {
        context,
      },
    );
  });
