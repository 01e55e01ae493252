import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type RefeedJob, type ReplayQueue, refeedJob } from '../domain/messages';

/** The replays queue: one message per replay, recover, resend or test request; ReplayFunction runs it. */
export class SqsReplayQueue implements ReplayQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;

  constructor(props: { client: SQSClient; queueUrl: string }) {
    this.client = props.client;
    this.queueUrl = props.queueUrl;
  }

  async send(job: RefeedJob): Promise<void> {
    // Parsed here too, so a malformed job fails the request that made it rather than the consumer.
    await this.client.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(refeedJob.parse(job)) }),
    );
  }
}
