import type { SQSClient } from '@aws-sdk/client-sqs';
import { delaySecondsUntil } from '../../platform/delayed-messages';
import { sendMessage, sendMessages } from '../../platform/sqs-batch-sender';
import type { DeliveryMessage, DeliveryQueue } from '../domain/messages';

/**
 * The deliveries queue and, for delivery, its dead-letter queue (fan-out and replay only send first attempts). A
 * message waits until its `notBefore` as far as SQS allows (15 minutes); a longer wait is finished by the consumer
 * re-sending it (see domain/delivery.ts).
 */
export class SqsDeliveryQueue implements DeliveryQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly deadLetterQueueUrl: string | undefined;
  private readonly now: () => number;

  constructor(props: {
    client: SQSClient;
    queueUrl: string;
    /** Only a sender of retries (delivery) needs it. */
    deadLetterQueueUrl?: string;
    now?: () => number;
  }) {
    this.client = props.client;
    this.queueUrl = props.queueUrl;
    this.deadLetterQueueUrl = props.deadLetterQueueUrl;
    this.now = props.now ?? Date.now;
  }

  async send(messages: readonly DeliveryMessage[]): Promise<void> {
    const now = this.now();
    await sendMessages(
      this.client,
      this.queueUrl,
      messages.map((message) => ({
        body: JSON.stringify(message),
        delaySeconds: delaySeconds(message, now),
      })),
      'delivery messages',
    );
  }

  async sendToDeadLetter(message: DeliveryMessage, reason: string): Promise<void> {
    if (this.deadLetterQueueUrl === undefined) {
      throw new Error(
        'This deliveries queue was built without its dead-letter queue: only delivery sends there.',
      );
    }
    await sendMessage(this.client, this.deadLetterQueueUrl, { body: JSON.stringify(message), reason });
  }
}

/** The delay SQS applies: up to the message's notBefore, at most 15 minutes. */
export function delaySeconds(message: DeliveryMessage, now: number): number {
  return message.notBefore === undefined ? 0 : delaySecondsUntil(message.notBefore, now);
}
