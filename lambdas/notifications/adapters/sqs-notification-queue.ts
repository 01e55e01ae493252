import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { NotificationMessage, NotificationQueue } from '../domain/notification-message';

/**
 * The notifications queue. SendMessageBatch takes at most 10 entries and 256 KiB in all, so batches are cut at
 * whichever comes first. Entries a batch refuses (usually throttling) are sent again; whatever still fails throws,
 * so the fan-out's stream record fails and is retried (the sender sends each notification once, so the entries
 * that did go through are harmless to repeat).
 */
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;
/** Entries refused for a reason other than the sender's fault are tried again this many times. */
const BATCH_RETRIES = 3;

export class SqsNotificationQueue implements NotificationQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;

  constructor(props: { client: SQSClient; queueUrl: string }) {
    this.client = props.client;
    this.queueUrl = props.queueUrl;
  }

  async send(messages: readonly NotificationMessage[]): Promise<void> {
    for (const batch of batchesOf(messages.map((message) => JSON.stringify(message)))) {
      await this.sendBatch(batch);
    }
  }

  private async sendBatch(bodies: readonly string[]): Promise<void> {
    let pending: SendMessageBatchRequestEntry[] = bodies.map((body, index) => ({
      Id: String(index),
      MessageBody: body,
    }));
    for (let tries = 0; ; tries += 1) {
      const { Failed = [] } = await this.client.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
      );
      if (Failed.length === 0) return;
      const failedIds = new Set(Failed.map((failure) => failure.Id));
      pending = pending.filter((entry) => failedIds.has(entry.Id));
      // A sender fault (a malformed or oversized entry) fails the same way every time: no point trying again.
      if (tries >= BATCH_RETRIES || Failed.some((failure) => failure.SenderFault)) {
        const first = Failed[0];
        throw new Error(
          `SQS refused ${Failed.length} of the notification messages: ${first?.Code ?? 'unknown'} ${first?.Message ?? ''}`.trim(),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
    }
  }
}

/** Message bodies cut into batches of at most 10 entries and 256 KiB in all (a larger body goes alone). */
export function batchesOf(bodies: readonly string[]): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body);
    if (current.length === MAX_BATCH_ENTRIES || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
