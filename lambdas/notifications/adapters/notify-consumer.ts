import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { issueManageToken, manageLinkKeyring, manageUrl } from '../../billing/domain/manage-link';
import { documentClient } from '../../platform/dynamodb';
import { metrics } from '../../platform/metrics';
import { type Notification, notificationOf } from '../domain/notification';
import { notificationMessage } from '../domain/notification-message';
import { type NotificationLogger, Notifier } from '../domain/notifier';
import type { NotifyConfig } from '../function-variables';
import { DynamoNotificationLog } from './dynamo-notification-log';
import { emailSender } from './email-sender';

/**
 * The notify function's consumer of one NotificationsQueue record: one email, sent once per event however often the
 * message arrives (domain/notifier.ts). A message that fails (a live lease elsewhere, a send that failed, a
 * malformed body) throws, so it is reported as a batch item failure: SQS brings it back after the visibility
 * timeout, and after maxReceiveCount it waits on the DLQ. Logs carry event ids, never addresses or bodies.
 */

/** The consumer also logs malformed messages at error. */
type NotifyLogger = NotificationLogger & {
  error(message: string, ...extra: Record<string, unknown>[]): void;
};

const RESULT_METRICS = {
  sent: 'NotificationsSent',
  rejected: 'NotificationsRejected',
  duplicate: 'NotificationsDuplicate',
} as const;

/** This invocation's secrets (platform/secrets.ts): the manage links' keyring. */
export interface NotifySecrets {
  readonly manageLinkKey: string;
}

/**
 * The consumer of one record, with its notifier built once per execution environment. Receipts and payment-failed
 * notices carry a manage link signed now, valid MANAGE_LINK_TTL from the send.
 */
export function notifyConsumer(
  config: NotifyConfig,
  logger: NotifyLogger,
  now: () => number = Date.now,
): (record: SQSRecord, secrets: NotifySecrets) => Promise<void> {
  const notifier = new Notifier({
    log: new DynamoNotificationLog({
      client: documentClient(),
      tableName: config.NOTIFICATIONS_LOG_TABLE_NAME,
    }),
    // SMTP when SMTP_URL is set (locally, the sink), SES otherwise.
    sender: emailSender({ smtpUrl: config.SMTP_URL }),
    from: config.EMAIL_FROM,
    logger,
  });
  return async (record, secrets) => {
    const notification = parse(record, logger);
    const ids = { eventId: notification.eventId, storeId: notification.storeId, type: notification.type };
    try {
      const { token } = issueManageToken(
        { storeId: notification.storeId, subscriptionId: notification.data.subscription.id },
        { now: now(), ttlMs: config.MANAGE_LINK_TTL, keyring: manageLinkKeyring(secrets.manageLinkKey) },
      );
      const linked = notification.type !== 'subscription.canceled';
      const result = await notifier.notify(
        notification,
        linked ? { manageUrl: manageUrl(config.PUBLIC_API_URL, token) } : {},
      );
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
  };
}

/** A malformed message is a bug upstream: it fails on every receive, so it ends on the DLQ rather than loop. */
function parse(record: SQSRecord, logger: NotifyLogger): Notification {
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
