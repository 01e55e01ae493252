import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendMessage, sendMessages } from '../../platform/sqs-batch-sender';
import type { ChargeMessage, ReconcileMessage, RunMessage } from '../domain/messages';
import type { ReconciliationQueue } from '../domain/reconciliation';
import type { ChargeQueue, RunQueue } from '../domain/runs/ports';

/** The charges queue: one message per charge to process, sent ten to a request. */
export class SqsChargeQueue implements ChargeQueue {
  constructor(private readonly props: { client: SQSClient; queueUrl: string; deadLetterQueueUrl?: string }) {}

  /** The same charge again after `delaySeconds` (at most 15 minutes): its gateway answer is still unknown. */
  async retryLater(message: ChargeMessage, delaySeconds: number): Promise<void> {
    await sendMessage(this.props.client, this.props.queueUrl, {
      body: JSON.stringify(message),
      delaySeconds,
    });
  }

  /** Gives up on asking for now: the message waits on the DLQ, and the run's stall sweep sends the charge again. */
  async sendToDeadLetter(message: ChargeMessage, reason: string): Promise<void> {
    if (!this.props.deadLetterQueueUrl) throw new Error('SqsChargeQueue: no dead-letter queue configured.');
    await sendMessage(this.props.client, this.props.deadLetterQueueUrl, {
      body: JSON.stringify(message),
      reason,
    });
  }

  async send(messages: readonly ChargeMessage[]): Promise<void> {
    await sendMessages(
      this.props.client,
      this.props.queueUrl,
      messages.map((message) => ({ body: JSON.stringify(message) })),
      'charge messages',
    );
  }
}

/** The runs queue: a run's steps, and its continuation after a delay (at most SQS's 15 minutes). */
export class SqsRunQueue implements RunQueue {
  constructor(private readonly props: { client: SQSClient; queueUrl: string }) {}

  async send(message: RunMessage, delaySeconds = 0): Promise<void> {
    await sendMessage(this.props.client, this.props.queueUrl, {
      body: JSON.stringify(message),
      delaySeconds,
    });
  }
}

/**
 * The runs queue, for reconcile messages (`{kind: 'reconcile', date, notBefore?}`): RunFunction tells them from a
 * run's steps by `kind`. A delay past SQS's 15 minutes is chained by the receiver (`notBefore`).
 */
export class SqsReconciliationQueue implements ReconciliationQueue {
  constructor(private readonly props: { client: SQSClient; queueUrl: string }) {}

  async send(message: ReconcileMessage, delaySeconds: number): Promise<void> {
    await sendMessage(this.props.client, this.props.queueUrl, {
      body: JSON.stringify(message),
      delaySeconds,
    });
  }
}
