import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  type SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { SqsDeliveryQueue } from '../../lambdas/webhooks/adapters/sqs-delivery-queue';
import type { DeliveryMessage } from '../../lambdas/webhooks/domain/messages';

const NOW = 1_717_243_200_000;

/** An SQSClient stand-in that records commands and answers batches with `answer`. */
function fakeSqs(
  answer: (entryIds: string[], call: number) => Partial<SendMessageBatchCommandOutput> = () => ({}),
) {
  const commands: (SendMessageBatchCommand | SendMessageCommand)[] = [];
  let batchCalls = 0;
  const client = {
    send: async (command: SendMessageBatchCommand | SendMessageCommand) => {
      commands.push(command);
      if (command instanceof SendMessageBatchCommand) {
        batchCalls += 1;
        return answer(
          (command.input.Entries ?? []).map((e) => e.Id ?? ''),
          batchCalls,
        );
      }
      return {};
    },
  };
  return { client: client as unknown as SQSClient, commands };
}

function queue(client: SQSClient) {
  return new SqsDeliveryQueue({ client, queueUrl: 'q', deadLetterQueueUrl: 'dlq', now: () => NOW });
}

const message = (i: number, notBefore?: number): DeliveryMessage => ({
  storeId: 's',
  endpointId: `ep_${i}`,
  eventId: 'evt_1',
  attempt: 1,
  ...(notBefore !== undefined ? { notBefore } : {}),
});

describe('SqsDeliveryQueue', () => {
  it('sends in batches of 10, each message delayed until its notBefore, at most 15 minutes', async () => {
    const sqs = fakeSqs();
    const messages = Array.from({ length: 23 }, (_, i) => message(i));
    messages[0] = message(0, NOW + 1_500);
    messages[1] = message(1, NOW + 2 * 3_600_000);
    messages[2] = message(2, NOW - 60_000);
    await queue(sqs.client).send(messages);

    const batches = sqs.commands.map((c) => (c as SendMessageBatchCommand).input);
    expect(batches.map((b) => b.Entries?.length)).toEqual([10, 10, 3]);
    expect(batches[0]?.QueueUrl).toBe('q');
    expect(batches[0]?.Entries?.slice(0, 4).map((e) => e.DelaySeconds)).toEqual([2, 900, 0, 0]);
    expect(JSON.parse(batches[0]?.Entries?.[1]?.MessageBody ?? '')).toEqual(messages[1]);
  });

  it('sends the entries a batch refused again', async () => {
    const sqs = fakeSqs((ids, call) =>
      call === 1 ? { Failed: [{ Id: ids[3], Code: 'ThrottlingException', SenderFault: false }] } : {},
    );
    await queue(sqs.client).send(Array.from({ length: 5 }, (_, i) => message(i)));
    const retried = (sqs.commands[1] as SendMessageBatchCommand).input.Entries ?? [];
    expect(retried.map((e) => JSON.parse(e.MessageBody ?? '').endpointId)).toEqual(['ep_3']);
  });

  it('throws when entries keep failing, so the caller reports its item as failed', async () => {
    const sqs = fakeSqs((ids) => ({ Failed: [{ Id: ids[0], Code: 'InternalError', SenderFault: false }] }));
    await expect(queue(sqs.client).send([message(1)])).rejects.toThrow(/InternalError/);
    expect(sqs.commands).toHaveLength(4);
  });

  it('does not retry a sender fault', async () => {
    const sqs = fakeSqs((ids) => ({
      Failed: [{ Id: ids[0], Code: 'InvalidParameterValue', SenderFault: true }],
    }));
    await expect(queue(sqs.client).send([message(1)])).rejects.toThrow(/InvalidParameterValue/);
    expect(sqs.commands).toHaveLength(1);
  });

  it('puts an exhausted delivery on the DLQ with its reason', async () => {
    const sqs = fakeSqs();
    await queue(sqs.client).sendToDeadLetter(message(1), 'HTTP 500');
    const input = (sqs.commands[0] as SendMessageCommand).input;
    expect(input.QueueUrl).toBe('dlq');
    expect(JSON.parse(input.MessageBody ?? '')).toEqual(message(1));
    expect(input.MessageAttributes).toEqual({ reason: { DataType: 'String', StringValue: 'HTTP 500' } });
  });
});
