import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import type { FixtureMessage } from '../../fixtures/handlers/sqs-recorder';
import { sqsTemplate } from '../../fixtures/stacks';
import { startTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';

// Emulator round trips, visibility timeouts and retries: more than jest's default 5 s per test or hook.
jest.setTimeout(30_000);

interface SqsObservation {
  startedAt: number;
  endedAt: number;
  ids: string[];
  receiveCounts: number[];
  eventSourceARN: string;
  functionName: string;
}

describe('SQS event source mapping', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack(sqsTemplate());
  });
  afterAll(() => stack.stop());

  const send = (queue: string, messages: FixtureMessage[]) =>
    stack.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: stack.ref(queue),
        Entries: messages.map((message, index) => ({
          Id: String(index),
          MessageBody: JSON.stringify(message),
        })),
      }),
    );
  const observationsOf = async (id: string) =>
    (await stack.observations<SqsObservation>('sqs')).filter((observation) => observation.ids.includes(id));
  const messageCount = async (queue: string) => {
    const { Attributes = {} } = await stack.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.ref(queue),
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(Attributes.ApproximateNumberOfMessages) +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible)
    );
  };

  it('deletes the successes of a partial batch failure and redelivers only the failures', async () => {
    // Prepare
    await send('BasicQueue', [{ id: 'ok-1' }, { id: 'bad-1', fail: true }, { id: 'ok-2' }]);

    // Act: the failed message comes back after the 2 s visibility timeout.
    const redelivered = await waitFor(
      () => observationsOf('bad-1'),
      (observations) => observations.some((observation) => observation.receiveCounts.includes(2)),
      { what: 'bad-1 to be redelivered' },
    );

    // Assess
    expect(redelivered.length).toBeGreaterThanOrEqual(2);
    expect(await observationsOf('ok-1')).toHaveLength(1);
    expect(await observationsOf('ok-2')).toHaveLength(1);
    const [first] = await observationsOf('ok-1');
    expect(first?.eventSourceARN).toMatch(/^arn:aws:sqs:us-east-1:000000000000:t[0-9a-f]{8}-BasicQueue/);
    expect(first?.functionName).toBe(stack.ref('BasicFunction'));
  });

  it('moves a message that keeps failing to the DLQ after maxReceiveCount', async () => {
    await send('PoisonQueue', [{ id: 'poison-1', fail: true }]);

    const { Messages = [] } = await waitFor(
      () =>
        stack.clients.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: stack.ref('PoisonDeadLetters'), WaitTimeSeconds: 1 }),
        ),
      (result) => (result.Messages?.length ?? 0) > 0,
      { timeoutMs: 15_000, what: 'the message in the DLQ' },
    );

    expect(JSON.parse(Messages[0]?.Body ?? '{}')).toEqual({ id: 'poison-1', fail: true });
    const observations = await observationsOf('poison-1');
    expect(observations.flatMap((observation) => observation.receiveCounts).sort()).toEqual([1, 2]);
    expect(await messageCount('PoisonQueue')).toBe(0);
  });

  it('kills an invocation past the function timeout and gets its messages again', async () => {
    // The first receive sleeps 3 s in a function with a 1 s timeout; the second is quick.
    await send('SlowQueue', [{ id: 'slow-1', sleepMs: 3000, slowReceives: 1 }]);

    const observations = await waitFor(
      () => observationsOf('slow-1'),
      (found) => found.length > 0,
      { timeoutMs: 15_000, what: 'the redelivered message' },
    );

    // The timed-out invocation never got to record anything: its environment was terminated.
    expect(observations.map((observation) => observation.receiveCounts)).toEqual([[2]]);
    expect(stack.logs.some((line) => line.includes('Task timed out after 1.00 seconds'))).toBe(true);
    await waitFor(
      () => messageCount('SlowQueue'),
      (count) => count === 0,
      { what: 'an empty queue' },
    );
  });

  it('never runs more invocations at once than the maximum concurrency', async () => {
    const ids = Array.from({ length: 8 }, (_, index) => `bounded-${index}`);
    await send(
      'BoundedQueue',
      ids.map((id) => ({ id, sleepMs: 300 })),
    );

    const observations = await waitFor(
      async () =>
        (await stack.observations<SqsObservation>('sqs')).filter((o) => o.ids[0]?.startsWith('bounded-')),
      (found) => found.length === ids.length,
      { timeoutMs: 15_000, what: 'every bounded message' },
    );

    // The most invocations whose [start, end] intervals overlap at one instant.
    const edges = observations.flatMap((o) => [
      { at: o.startedAt, delta: 1 },
      { at: o.endedAt, delta: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let peak = 0;
    for (const edge of edges) {
      running += edge.delta;
      peak = Math.max(peak, running);
    }
    expect(peak).toBe(2);
    expect(observations.every((o) => o.ids.length === 1)).toBe(true);
  });
});
