import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type CfnTemplate, synthesizeTemplate } from '../../../local/template';
import { startTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';

// Emulator round trips and retries with back-off: more than jest's default 5 s per test or hook.
jest.setTimeout(60_000);

/**
 * The pipeline's fan-out mapping (MaximumRetryAttempts -1, bisect, partial batch responses) and pausing event
 * sources, on a fixture stack of the same shape: a stream consumer and a queue consumer.
 */
function unboundedTemplate(): CfnTemplate {
  const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'UnboundedFixture');
  const observations = new dynamodb.Table(stack, 'Observations', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const fixtureFunction = (scope: Construct, id: string, handlerFile: string) => {
    const fn = new lambda.Function(scope, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {};'),
      timeout: Duration.seconds(2),
      environment: { OBSERVATIONS_TABLE_NAME: observations.tableName },
    });
    (fn.node.defaultChild as lambda.CfnFunction).addMetadata(
      'commerce-pipeline:entry',
      `test/fixtures/handlers/${handlerFile}`,
    );
    return fn;
  };
  const source = new dynamodb.Table(stack, 'Source', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    stream: dynamodb.StreamViewType.NEW_IMAGE,
  });
  fixtureFunction(stack, 'StreamConsumer', 'stream-recorder.ts').addEventSource(
    new DynamoEventSource(source, {
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: 100,
      retryAttempts: -1,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
    }),
  );
  const work = new sqs.Queue(stack, 'Work', { visibilityTimeout: Duration.seconds(2) });
  fixtureFunction(stack, 'QueueConsumer', 'sqs-recorder.ts').addEventSource(
    new SqsEventSource(work, { reportBatchItemFailures: true, maxConcurrency: 2 }),
  );
  return synthesizeTemplate(stack);
}

describe('unbounded stream retries and paused event sources', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack(unboundedTemplate());
  });
  afterAll(() => stack.stop());

  const put = (item: Record<string, { S: string } | { N: string } | { BOOL: boolean }>) =>
    stack.clients.dynamodb.send(new PutItemCommand({ TableName: stack.ref('Source'), Item: item }));
  const streamIds = async (prefix: string) =>
    (await stack.observations<{ at: number; ids: string[] }>('stream'))
      .sort((a, b) => a.at - b.at)
      .flatMap((observation) => observation.ids)
      .filter((id) => id.startsWith(prefix));
  const source = (pattern: RegExp) => {
    const found = stack.eventSources.find((candidate) => pattern.test(candidate.description));
    if (!found) throw new Error(`no event source matches ${pattern}`);
    return found;
  };

  it('with MaximumRetryAttempts -1, retries a failing record past any bound until it succeeds', async () => {
    // Prepare: a record that fails (as a reported item) on its first 7 attempts, between two good ones.
    await put({ pk: { S: 'unbounded-a' } });
    await put({ pk: { S: 'unbounded-b' }, failUntilAttempt: { N: '8' } });
    await put({ pk: { S: 'unbounded-c' } });

    // Assess
    await waitFor(
      () => streamIds('unbounded-'),
      (found) => found.filter((id) => id === 'unbounded-b').length >= 8,
      { timeoutMs: 45_000, what: 'unbounded-b to succeed on its eighth attempt' },
    );
    // Time for a ninth attempt, which must not come.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const delivered = await streamIds('unbounded-');
    // unbounded-a succeeded at once and is not sent again; the batch is retried from unbounded-b on, past the
    // default of the fixture stack's bounded mapping (2), with nothing sent to an on-failure destination.
    expect(delivered.filter((id) => id === 'unbounded-a')).toHaveLength(1);
    expect(delivered.filter((id) => id === 'unbounded-b')).toHaveLength(8);
    expect(delivered.filter((id) => id === 'unbounded-c')).toHaveLength(8);
    expect(stack.logs.filter((line) => /poller/.test(line))).toEqual([]);
  });

  it('a paused stream source holds its records back, and delivers them on resume', async () => {
    const stream = source(/stream →/);
    await stream.pause();

    await put({ pk: { S: 'paused-1' } });
    await put({ pk: { S: 'paused-2' } });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await streamIds('paused-')).toEqual([]);

    stream.resume();
    const delivered = await waitFor(
      () => streamIds('paused-'),
      (found) => found.length >= 2,
      { what: 'the records written while paused' },
    );
    expect(delivered).toEqual(['paused-1', 'paused-2']);
  });

  it('a paused queue source leaves messages on the queue, and consumes them on resume', async () => {
    const queue = source(/Work.* →/);
    await queue.pause();

    await stack.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.ref('Work'),
        MessageBody: JSON.stringify({ id: 'queued-1' }),
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const consumedIds = async () =>
      (await stack.observations<{ ids: string[] }>('sqs')).flatMap((observation) => observation.ids);
    expect(await consumedIds()).toEqual([]);

    queue.resume();
    await waitFor(consumedIds, (ids) => ids.includes('queued-1'), { what: 'the message sent while paused' });
  });
});
