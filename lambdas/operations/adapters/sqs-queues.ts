import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { QueueDepth, QueueDepthReader } from '../domain/queues';
import type { RedriveQueues } from '../domain/redrive';

type SqsSender = Pick<SQSClient, 'send'>;

/** SQS's approximate counts of a queue (GetQueueAttributes: `sqs:GetQueueAttributes` on the queue). */
export class SqsQueueDepths implements QueueDepthReader {
  constructor(private readonly sqs: SqsSender) {}

  async depth(queueUrl: string): Promise<QueueDepth> {
    const { Attributes = {} } = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }
}

/** Messages visible on a queue (SQS's approximate count). */
export async function approximateDepth(sqs: SqsSender, queueUrl: string): Promise<number> {
  return (await new SqsQueueDepths(sqs).depth(queueUrl)).visible;
}

const BATCH = 10;

/**
 * The redrive's queue operations on SQS: ReceiveMessage and DeleteMessage on the dead-letter queue, SendMessage
 * on the source queue (the batch actions are authorized by the single ones).
 */
export class SqsRedriveQueues implements RedriveQueues<Message> {
  constructor(private readonly sqs: SqsSender) {}

  async receive(
    queueUrl: string,
    options: { readonly waitTimeSeconds: number; readonly visibilityTimeoutSeconds: number },
  ): Promise<readonly Message[]> {
    const { Messages = [] } = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: BATCH,
        WaitTimeSeconds: options.waitTimeSeconds,
        VisibilityTimeout: options.visibilityTimeoutSeconds,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
      }),
    );
    return Messages;
  }

  /** Sends `messages` to `queueUrl` as they were; returns those that were sent. */
  async send(queueUrl: string, messages: readonly Message[]): Promise<readonly Message[]> {
    const { Successful = [] } = await this.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((message, index) => ({
          Id: String(index),
          MessageBody: message.Body ?? '',
          ...(message.MessageAttributes && Object.keys(message.MessageAttributes).length > 0
            ? { MessageAttributes: message.MessageAttributes }
            : {}),
          ...(message.Attributes?.MessageGroupId
            ? { MessageGroupId: message.Attributes.MessageGroupId }
            : {}),
          ...(message.Attributes?.MessageDeduplicationId
            ? { MessageDeduplicationId: message.Attributes.MessageDeduplicationId }
            : {}),
        })),
      }),
    );
    return Successful.flatMap((entry) => {
      const message = messages[Number(entry.Id)];
      return message ? [message] : [];
    });
  }

  async delete(queueUrl: string, messages: readonly Message[]): Promise<number> {
    const { Failed = [] } = await this.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle,
        })),
      }),
    );
    return messages.length - Failed.length;
  }
}
