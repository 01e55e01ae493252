import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { loadConfig } from '../../platform/config';
import { documentClient } from '../../platform/dynamodb';
import { requireEnv } from '../../platform/environment';
import { metrics } from '../../platform/metrics';
import { DynamoNotificationLog } from '../adapters/dynamo-notification-log';
import { emailSender } from '../adapters/email-sender';
import { type Notification, notificationOf } from '../domain/notification';
import { notificationMessage } from '../domain/notification-message';
import { Notifier } from '../domain/notifier';

/**
 * Notify: one NotificationsQueue message is one email (a receipt, a payment-failed or a cancellation notice), sent
 * once per event however often the message arrives (domain/notifications/notifier.ts). A message that fails
 * (a live lease elsewhere, a send that failed, a malformed body) is reported as a batch item failure: SQS brings
 * it back after the visibility timeout, and after maxReceiveCount it waits on the DLQ.
 * Logs carry event ids, never addresses or bodies.
 */
const logger = new Logger();
const config = loadConfig(process.env, 'aws');
const notifier = new Notifier({
  log: new DynamoNotificationLog({
    client: documentClient(),
    tableName: requireEnv('NOTIFICATIONS_LOG_TABLE_NAME'),
  }),
  // SMTP when SMTP_URL is set (locally, the sink), SES otherwise.
  sender: emailSender({ smtpUrl: config.smtpUrl }),
  from: config.emailFrom,
  logger,
});
const processor = new BatchProcessor(EventType.SQS);

const RESULT_METRICS = {
  sent: 'NotificationsSent',
  rejected: 'NotificationsRejected',
  duplicate: 'NotificationsDuplicate',
} as const;

async function notify(record: SQSRecord): Promise<void> {
  const notification = parse(record);
  const ids = { eventId: notification.eventId, storeId: notification.storeId, type: notification.type };
  try {
    const result = await notifier.notify(notification);
    metrics.addMetric(RESULT_METRICS[result.kind], MetricUnit.Count, 1);
    if (result.kind === 'rejected') {
      logger.warn('email rejected for good: recorded, not retried', { ...ids, reason: result.reason });
    } else {
      logger.info('notification processed', { ...ids, result: result.kind });
    }
  } catch (error) {
    metrics.addMetric('NotificationsFailed', MetricUnit.Count, 1);
    logger.warn('notification not sent; SQS retries it', {
      ...ids,
      receiveCount: receiveCount(record),
      failure: failureOf(error),
    });
    throw error;
  }
}

/** A malformed message is a bug upstream: it fails on every receive, so it ends on the DLQ rather than loop. */
function parse(record: SQSRecord): Notification {
  try {
    return notificationOf(notificationMessage.parse(JSON.parse(record.body)));
  } catch (error) {
    metrics.addMetric('NotificationsMalformed', MetricUnit.Count, 1);
    logger.error('malformed notification message; it goes to the DLQ after the queue’s retries', {
      messageId: record.messageId,
      receiveCount: receiveCount(record),
      problems: problemsOf(error),
    });
    throw error;
  }
}

function receiveCount(record: SQSRecord): number {
  return Number(record.attributes?.ApproximateReceiveCount ?? '1');
}

/** Which fields are wrong, without their values (the body holds an address). */
function problemsOf(error: unknown): string[] {
  if (error instanceof SyntaxError) return ['the body is not JSON'];
  if (error instanceof z.ZodError) {
    return error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  }
  return [...((error as { issues?: string[] }).issues ?? [String((error as Error).name)])];
}

/**
 * The kind of a send failure without its message: SMTP replies and SDK messages may quote the recipient. The code
 * (ECONNECTION, ETIMEDOUT, ESES...) and the reply code say what happened.
 */
function failureOf(error: unknown): Record<string, unknown> {
  const e = error as { name?: string; code?: string; responseCode?: number; command?: string };
  return { name: e.name, code: e.code, responseCode: e.responseCode, command: e.command };
}

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .handler((event, context) => processPartialResponse(event, notify, processor, { context }));
