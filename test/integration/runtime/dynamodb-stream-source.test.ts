import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { streamTemplate } from '../../fixtures/stacks';
import { startTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';

// Emulator round trips, visibility timeouts and retries: more than jest's default 5 s per test or hook.
jest.setTimeout(30_000);

interface StreamObservation {
  at: number;
  ids: string[];
  eventNames: string[];
  eventSourceARN: string;
}

describe('DynamoDB stream event source mapping', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack(streamTemplate());
  });
  afterAll(() => stack.stop());

  const put = (item: Record<string, { S: string } | { N: string } | { BOOL: boolean }>) =>
    stack.clients.dynamodb.send(new PutItemCommand({ TableName: stack.ref('Source'), Item: item }));
  const deliveredIds = async (prefix: string) =>
    (await stack.observations<StreamObservation>('stream'))
      .sort((a, b) => a.at - b.at)
      .flatMap((observation) => observation.ids)
      .filter((id) => id.startsWith(prefix));

  it('delivers inserts in the order they were written', async () => {
    // Prepare
    const ids = Array.from({ length: 12 }, (_, index) => `order-${String(index).padStart(2, '0')}`);

    // Act
    for (const id of ids) await put({ pk: { S: id } });

    // Assess
    const delivered = await waitFor(
      () => deliveredIds('order-'),
      (found) => found.length >= ids.length,
      { what: 'every insert' },
    );
    expect(delivered).toEqual(ids);
    const [observation] = await stack.observations<StreamObservation>('stream');
    expect(observation?.eventNames[0]).toBe('INSERT');
    expect(observation?.eventSourceARN).toBe(
      stack.resources.get(logicalIdOf(stack, 'Source')).attributes.StreamArn,
    );
  });

  it('retries a batch from the first reported failure until it succeeds', async () => {
    await put({ pk: { S: 'retry-a' } });
    await put({ pk: { S: 'retry-b' }, failUntilAttempt: { N: '3' } });
    await put({ pk: { S: 'retry-c' } });

    const delivered = await waitFor(
      () => deliveredIds('retry-'),
      (found) =>
        found.filter((id) => id === 'retry-c').length >= 1 &&
        found.filter((id) => id === 'retry-b').length >= 3,
      { what: 'retry-b to succeed on its third attempt' },
    );

    // retry-a succeeded once and is not sent again; retry-b and what follows it are retried.
    expect(delivered.filter((id) => id === 'retry-a')).toHaveLength(1);
    expect(delivered.filter((id) => id === 'retry-b')).toHaveLength(3);
  });

  it('sends a batch that exhausts its retries to the on-failure queue and moves on', async () => {
    await put({ pk: { S: 'poison-x' }, throw: { BOOL: true } });

    const { Messages = [] } = await waitFor(
      () =>
        stack.clients.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: stack.ref('StreamFailures'), WaitTimeSeconds: 1 }),
        ),
      (result) => (result.Messages?.length ?? 0) > 0,
      { timeoutMs: 15_000, what: 'the failure record' },
    );

    const record = JSON.parse(Messages[0]?.Body ?? '{}');
    expect(record.requestContext).toMatchObject({
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
    });
    expect(record.DDBStreamBatchInfo).toMatchObject({
      batchSize: 1,
      streamArn: stack.resources.get(logicalIdOf(stack, 'Source')).attributes.StreamArn,
    });
    await put({ pk: { S: 'after-poison' } });
    await waitFor(
      () => deliveredIds('after-poison'),
      (found) => found.length === 1,
      { what: 'the record after the poison one' },
    );
  });
});

function logicalIdOf(stack: TestStack, constructId: string): string {
  return stack.resources
    .all()
    .find((resource) => new RegExp(`^${constructId}[0-9A-F]{8}$`).test(resource.logicalId))
    ?.logicalId as string;
}
