import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { delaySecondsUntil } from '../../platform/delayed-messages';
import type { DeliveryMessage, DeliveryQueue } from '../domain/messages';

/**
 * The deliveries queue and its dead-letter queue. A message waits until its `notBefore` as far as SQS allows
 * (15 minutes); a longer wait is finished by the consumer re-sending it (see domain/webhooks/delivery.ts).
 */
const BATCH_SIZE = 10;
/** SendMessageBatch reports entries it could not take (often throttling); they are tried again this many times. */
const BATCH_RETRIES = 3;

export class SqsDeliveryQueue implements DeliveryQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly deadLetterQueueUrl: string;
  private readonly now: () => number;

  constructor(props: {
    client: SQSClient;
    queueUrl: string;
    deadLetterQueueUrl: string;
    now?: () => number;
  }) {
    this.client = props.client;
    this.queueUrl = props.queueUrl;
    this.deadLetterQueueUrl = props.deadLetterQueueUrl;
    this.now = props.now ?? Date.now;
  }

  async send(messages: readonly DeliveryMessage[]): Promise<void> {
    for (let start = 0; start < messages.length; start += BATCH_SIZE) {
      await this.sendBatch(messages.slice(start, start + BATCH_SIZE));
    }
  }

  async sendToDeadLetter(message: DeliveryMessage, reason: string): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.deadLetterQueueUrl,
        MessageBody: JSON.stringify(message),
        MessageAttributes: { reason: { DataType: 'String', StringValue: reason } },
      }),
    );
  }

  private async sendBatch(messages: readonly DeliveryMessage[]): Promise<void> {
    const now = this.now();
    let pending: SendMessageBatchRequestEntry[] = messages.map((message, index) => ({
      Id: String(index),
      MessageBody: JSON.stringify(message),
      DelaySeconds: delaySeconds(message, now),
    }));
    for (let tries = 0; ; tries += 1) {
      const { Failed = [] } = await this.client.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
      );
      if (Failed.length === 0) return;
      const failedIds = new Set(Failed.map((failure) => failure.Id));
      pending = pending.filter((entry) => failedIds.has(entry.Id));
      // A sender fault (a malformed entry) fails the same way every time: no point trying again.
      if (tries >= BATCH_RETRIES || Failed.some((failure) => failure.SenderFault)) {
        const first = Failed[0];
        throw new Error(
          `SQS refused ${Failed.length} of the delivery messages: ${first?.Code ?? 'unknown'} ${first?.Message ?? ''}`.trim(),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
    }
  }
}

/** The delay SQS applies: up to the message's notBefore, at most 15 minutes. */
export function delaySeconds(message: DeliveryMessage, now: number): number {
  return message.notBefore === undefined ? 0 : delaySecondsUntil(message.notBefore, now);
}
