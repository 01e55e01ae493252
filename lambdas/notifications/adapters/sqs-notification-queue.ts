import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendMessages } from '../../platform/sqs-batch-sender';
import type { NotificationMessage, NotificationQueue } from '../domain/notification-message';

/**
 * The notifications queue. Whatever SQS still refuses after the batch sender's retries throws, so the fan-out's
 * stream record fails and is retried (the sender sends each notification once, so the entries that did go through
 * are harmless to repeat).
 */
export class SqsNotificationQueue implements NotificationQueue {
  constructor(private readonly props: { client: SQSClient; queueUrl: string }) {}

  async send(messages: readonly NotificationMessage[]): Promise<void> {
    await sendMessages(
      this.props.client,
      this.props.queueUrl,
      messages.map((message) => ({ body: JSON.stringify(message) })),
      'notification messages',
    );
  }
}
