import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { redrive } from '../../../cli/redrive';
import { localClientConfig } from '../../../local/aws-clients';
import { sharedEmulators, uniquePrefix } from '../support/emulators';

// Emulator round trips and the redrive's two empty reads: more than jest's default 5 s.
jest.setTimeout(30_000);

describe('npx pipeline redrive', () => {
  const sqs = new SQSClient(localClientConfig(sharedEmulators().sqsEndpoint));
  const prefix = uniquePrefix();
  let sourceUrl = '';
  let deadLetterUrl = '';

  beforeAll(async () => {
    deadLetterUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${prefix}-dlq` }))).QueueUrl ?? '';
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ['QueueArn'] }),
    );
    sourceUrl =
      (
        await sqs.send(
          new CreateQueueCommand({
            QueueName: `${prefix}-source`,
            Attributes: {
              RedrivePolicy: JSON.stringify({
                deadLetterTargetArn: Attributes?.QueueArn,
                maxReceiveCount: 3,
              }),
            },
          }),
        )
      ).QueueUrl ?? '';
  });
  afterAll(async () => {
    await Promise.all(
      [sourceUrl, deadLetterUrl].map((QueueUrl) => sqs.send(new DeleteQueueCommand({ QueueUrl }))),
    );
    sqs.destroy();
  });

  /** Every message on a queue, received with a visibility timeout long enough that none comes twice. */
  const drain = async (queueUrl: string) => {
    const messages = [];
    for (let empty = 0; empty < 2; ) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 60,
          MessageAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) empty += 1;
      messages.push(...Messages);
    }
    return messages;
  };

  it('moves all 25 messages of the dead-letter queue to the source queue, bodies and attributes intact', async () => {
    // Prepare: 25 dead letters with distinct bodies and an attribute.
    const bodies = Array.from({ length: 25 }, (_, index) =>
      JSON.stringify({ storeId: 's1', endpointId: 'ep_1', eventId: `evt_${index}`, attempt: 8 }),
    );
    for (let index = 0; index < bodies.length; index += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: deadLetterUrl,
          Entries: bodies.slice(index, index + 10).map((body, position) => ({
            Id: String(position),
            MessageBody: body,
            MessageAttributes: {
              reason: { DataType: 'String', StringValue: `HTTP 500 #${index + position}` },
            },
          })),
        }),
      );
    }
    const progress: number[] = [];

    // Act
    const result = await redrive(
      sqs,
      { sourceUrl, deadLetterUrl },
      { onProgress: (moved) => progress.push(moved) },
    );

    // Assess
    expect(result).toEqual({ moved: 25, failed: 0 });
    expect(progress[progress.length - 1]).toBe(25);
    const onSource = await drain(sourceUrl);
    expect(onSource.map((message) => message.Body).sort()).toEqual([...bodies].sort());
    const reasons = onSource.map((message) => message.MessageAttributes?.reason?.StringValue).sort();
    expect(reasons).toEqual(Array.from({ length: 25 }, (_, index) => `HTTP 500 #${index}`).sort());
    expect(await drain(deadLetterUrl)).toEqual([]);
  });

  it('on an empty dead-letter queue, moves nothing', async () => {
    await expect(redrive(sqs, { sourceUrl, deadLetterUrl }, { waitTimeSeconds: 0 })).resolves.toEqual({
      moved: 0,
      failed: 0,
    });
  });
});
