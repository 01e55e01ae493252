import type { SendMessageBatchCommand, SendMessageBatchCommandOutput, SQSClient } from '@aws-sdk/client-sqs';
import { SqsNotificationQueue } from '../../lambdas/notifications/adapters/sqs-notification-queue';
import { batchesOf } from '../../lambdas/platform/sqs-batch-sender';
import { chargedData, messageOf, subscriptionEvent } from './support/notification-fakes';

/**
 * Only what the emulator cannot produce: entries a batch refuses. Sending in batches to a real queue is covered by
 * test/integration/notifications.
 */
function fakeSqs(answer: (entryIds: string[], call: number) => Partial<SendMessageBatchCommandOutput>) {
  const batches: SendMessageBatchCommand[] = [];
  const client = {
    send: async (command: SendMessageBatchCommand) => {
      batches.push(command);
      return answer(
        (command.input.Entries ?? []).map((e) => e.Id ?? ''),
        batches.length,
      );
    },
  };
  return { client: client as unknown as SQSClient, batches };
}

const messages = (n: number) =>
  Array.from({ length: n }, () => messageOf(subscriptionEvent('subscription.charged', chargedData())));

describe('SqsNotificationQueue', () => {
  it('sends again only the entries a batch refused', async () => {
    const sqs = fakeSqs((ids, call) =>
      call === 1 ? { Failed: [{ Id: ids[2], Code: 'ThrottlingException', SenderFault: false }] } : {},
    );
    const sent = messages(4);
    await new SqsNotificationQueue({ client: sqs.client, queueUrl: 'q' }).send(sent);

    expect(sqs.batches).toHaveLength(2);
    const retried = sqs.batches[1]?.input.Entries ?? [];
    expect(retried.map((e) => JSON.parse(e.MessageBody ?? '').eventId)).toEqual([sent[2]?.eventId]);
  });

  it('throws when entries keep failing, so the fan-out’s record fails and the stream retries it', async () => {
    const sqs = fakeSqs((ids) => ({ Failed: [{ Id: ids[0], Code: 'InternalError', SenderFault: false }] }));
    await expect(
      new SqsNotificationQueue({ client: sqs.client, queueUrl: 'q' }).send(messages(1)),
    ).rejects.toThrow(/SQS refused 1 of the notification messages: InternalError/);
    expect(sqs.batches).toHaveLength(4);
  });

  it('does not retry a sender fault', async () => {
    const sqs = fakeSqs((ids) => ({
      Failed: [{ Id: ids[0], Code: 'InvalidMessageContents', SenderFault: true }],
    }));
    await expect(
      new SqsNotificationQueue({ client: sqs.client, queueUrl: 'q' }).send(messages(2)),
    ).rejects.toThrow(/InvalidMessageContents/);
    expect(sqs.batches).toHaveLength(1);
  });
});

describe('batchesOf (the one SQS batch sender, platform/sqs-batch-sender.ts)', () => {
  it('cuts at 10 entries', () => {
    expect(batchesOf(Array.from({ length: 23 }, () => ({ body: 'x' }))).map((b) => b.length)).toEqual([
      10, 10, 3,
    ]);
  });

  it('cuts at 256 KiB in all', () => {
    const body = 'x'.repeat(100 * 1024);
    expect(batchesOf([body, body, body, 'y'].map((text) => ({ body: text }))).map((b) => b.length)).toEqual([
      2, 2,
    ]);
  });

  it('sends nothing for nothing', () => {
    expect(batchesOf([])).toEqual([]);
  });
});
