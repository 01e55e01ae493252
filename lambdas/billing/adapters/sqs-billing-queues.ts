import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { ReconcileMessage, ReconciliationQueue } from '../domain/reconciliation';
import type { ChargeMessage, ChargeQueue, RunMessage, RunQueue } from '../domain/runs';

const BATCH_SIZE = 10;
/** SendMessageBatch reports entries it could not take (often throttling); they are tried again this many times. */
const BATCH_RETRIES = 3;

/** The charges queue: one message per charge to process, sent ten to a request. */
export class SqsChargeQueue implements ChargeQueue {
  constructor(private readonly props: { client: SQSClient; queueUrl: string; deadLetterQueueUrl?: string }) {}

  /** The same charge again after `delaySeconds` (at most 15 minutes): its gateway answer is still unknown. */
  async retryLater(
    message: ChargeMessage & { readonly retries: number },
    delaySeconds: number,
  ): Promise<void> {
    await this.props.client.send(
      new SendMessageCommand({
        QueueUrl: this.props.queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
      }),
    );
  }

  /** Gives up on asking for now: the message waits on the DLQ, and the run's stall sweep sends the charge again. */
  async sendToDeadLetter(message: ChargeMessage, reason: string): Promise<void> {
    if (!this.props.deadLetterQueueUrl) throw new Error('SqsChargeQueue: no dead-letter queue configured.');
    await this.props.client.send(
      new SendMessageCommand({
        QueueUrl: this.props.deadLetterQueueUrl,
        MessageBody: JSON.stringify(message),
        MessageAttributes: { reason: { DataType: 'String', StringValue: reason.slice(0, 1000) } },
      }),
    );
  }

  async send(messages: readonly ChargeMessage[]): Promise<void> {
    for (let start = 0; start < messages.length; start += BATCH_SIZE) {
      await sendBatch(
        this.props.client,
        this.props.queueUrl,
        messages.slice(start, start + BATCH_SIZE).map((message) => JSON.stringify(message)),
      );
    }
  }
}

/** The runs queue: a run's steps, and its continuation after a delay (at most SQS's 15 minutes). */
export class SqsRunQueue implements RunQueue {
  constructor(private readonly props: { client: SQSClient; queueUrl: string }) {}

  async send(message: RunMessage, delaySeconds = 0): Promise<void> {
    await this.props.client.send(
      new SendMessageCommand({
        QueueUrl: this.props.queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
      }),
    );
  }
}

async function sendBatch(client: SQSClient, queueUrl: string, bodies: readonly string[]): Promise<void> {
  let pending: SendMessageBatchRequestEntry[] = bodies.map((body, index) => ({
    Id: String(index),
    MessageBody: body,
  }));
  for (let tries = 0; ; tries += 1) {
    const { Failed = [] } = await client.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }),
    );
    if (Failed.length === 0) return;
    const failedIds = new Set(Failed.map((failure) => failure.Id));
    pending = pending.filter((entry) => failedIds.has(entry.Id));
    if (tries >= BATCH_RETRIES || Failed.some((failure) => failure.SenderFault)) {
      const first = Failed[0];
      throw new Error(
        `SQS refused ${Failed.length} of the messages: ${first?.Code ?? 'unknown'} ${first?.Message ?? ''}`.trim(),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
  }
}

/**
 * The runs queue, for reconcile messages (`{kind: 'reconcile', date, notBefore?}`): RunFunction tells them from a
 * run's steps by `kind`. A delay past SQS's 15 minutes is chained by the receiver (`notBefore`).
 */
export class SqsReconciliationQueue implements ReconciliationQueue {
  constructor(private readonly props: { client: SQSClient; queueUrl: string }) {}

  async send(message: ReconcileMessage, delaySeconds: number): Promise<void> {
    await this.props.client.send(
      new SendMessageCommand({
        QueueUrl: this.props.queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
      }),
    );
  }
}
