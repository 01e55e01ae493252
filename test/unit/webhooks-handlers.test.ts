import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBStreamEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import { newEventId } from '../../lambdas/events/domain/events';
import type { AttemptResult } from '../../lambdas/webhooks/domain/delivery';
import { fakeLambdaContext } from './support/lambda-context';
import {
  endpointFixture,
  eventFixture,
  FakeDeliveryQueue,
  InMemoryAttemptsRepository,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
  ScriptedSender,
} from './support/webhook-fakes';

/**
 * The handlers' wiring, with the adapters replaced by the in-memory fakes: what the event source gets back
 * (partial batch responses) and that a delivery batch runs its items concurrently.
 */
const context = fakeLambdaContext();

const env = {
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_NAMESPACE: 'Test',
  POWERTOOLS_METRICS_DISABLED: 'true',
  TRANSACTIONS_TABLE_NAME: 'Transactions',
  EVENTS_TABLE_NAME: 'Events',
  WEBHOOKS_TABLE_NAME: 'Webhooks',
  ATTEMPTS_TABLE_NAME: 'Attempts',
  DELIVERIES_QUEUE_URL: 'https://sqs/deliveries',
  DELIVERIES_DLQ_URL: 'https://sqs/deliveries-dlq',
  WEBHOOK_RETRY_SCHEDULE: '0s,5s',
  AWS_REGION: 'eu-west-1',
};

interface Fakes {
  events: InMemoryEventsRepository;
  endpoints: InMemoryEndpointsRepository;
  attempts: InMemoryAttemptsRepository;
  queue: FakeDeliveryQueue;
  sender: ScriptedSender;
}

/** Loads a handler module afresh with the fakes in place of its adapters. */
function loadHandler<T>(name: 'fanout' | 'deliver', sender: ScriptedSender): { handler: T; fakes: Fakes } {
  const fakes: Fakes = {
    events: new InMemoryEventsRepository(),
    endpoints: new InMemoryEndpointsRepository(),
    attempts: new InMemoryAttemptsRepository(),
    queue: new FakeDeliveryQueue(),
    sender,
  };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  let handler: T | undefined;
  try {
    jest.isolateModules(() => {
      jest.doMock('../../lambdas/events/adapters/dynamo-events-repository', () => ({
        DynamoEventsRepository: jest.fn(() => fakes.events),
      }));
      jest.doMock('../../lambdas/webhooks/adapters/dynamo-endpoints-repository', () => ({
        DynamoEndpointsRepository: jest.fn(() => fakes.endpoints),
      }));
      jest.doMock('../../lambdas/webhooks/adapters/dynamo-attempts-repository', () => ({
        DynamoAttemptsRepository: jest.fn(() => fakes.attempts),
      }));
      jest.doMock('../../lambdas/webhooks/adapters/sqs-delivery-queue', () => ({
        SqsDeliveryQueue: jest.fn(() => fakes.queue),
      }));
      jest.doMock('../../lambdas/webhooks/adapters/webhook-http-client', () => ({
        WebhookHttpClient: jest.fn(() => fakes.sender),
      }));
      handler = require(`../../lambdas/webhooks/handlers/${name}`).handler;
    });
  } finally {
    process.env = saved;
  }
  if (!handler) throw new Error('handler not loaded');
  return { handler, fakes };
}

const streamArn = (table: string) =>
  `arn:aws:dynamodb:eu-west-1:123456789012:table/${table}/stream/2024-06-01T00:00:00.000`;

function streamRecord(table: string, item: Record<string, unknown>, sequence: string) {
  return {
    eventID: sequence,
    eventName: 'INSERT' as const,
    eventSource: 'aws:dynamodb',
    eventSourceARN: streamArn(table),
    dynamodb: {
      Keys: marshall({
        storeId: item.storeId,
        ...('txnId' in item ? { txnId: item.txnId } : { eventId: item.eventId }),
      }),
      NewImage: marshall(item, { removeUndefinedValues: true }),
      SequenceNumber: sequence,
      StreamViewType: 'NEW_IMAGE' as const,
    },
  };
}

describe('fanout handler', () => {
  it('fans out good records and reports the malformed one as a batch item failure', async () => {
    const { handler, fakes } = loadHandler<(e: DynamoDBStreamEvent, c: Context) => Promise<unknown>>(
      'fanout',
      new ScriptedSender([]),
    );
    fakes.endpoints.seed(endpointFixture());
    const eventId = newEventId();
    const event = {
      Records: [
        streamRecord(
          'Transactions',
          {
            storeId: 'store_1',
            txnId: 'txn_1',
            eventId,
            fingerprint: 'f',
            acceptedAt: new Date().toISOString(),
            transaction: { id: 'txn_1' },
          },
          '100',
        ),
        streamRecord('Transactions', { storeId: 'store_1', txnId: 'txn_2', eventId: 'garbage' }, '200'),
        streamRecord(
          'Events',
          {
            storeId: 'store_1',
            eventId,
            type: 'transaction.created',
            createdAt: new Date().toISOString(),
            data: {},
            origin: 'transaction',
          },
          '300',
        ),
      ],
    } as unknown as DynamoDBStreamEvent;

    const response = await handler(event, context);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }] });
    expect(fakes.queue.sent.map((m) => m.eventId)).toEqual([eventId]);
    expect(fakes.events.items.size).toBe(1);
  });
});

describe('deliver handler', () => {
  function sqsRecord(body: string, id: string): SQSRecord {
    return { messageId: id, body } as SQSRecord;
  }

  it('delivers the items of a batch concurrently and reports only the malformed one', async () => {
    const order: string[] = [];
    const sender = new ScriptedSender([
      async (url: string): Promise<AttemptResult> => {
        if (url.includes('slow')) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          order.push('slow');
          return { durationMs: 200, error: 'timeout' };
        }
        order.push('fast');
        return { status: 200, durationMs: 1 };
      },
    ]);
    const { handler, fakes } = loadHandler<(e: SQSEvent, c: Context) => Promise<unknown>>('deliver', sender);
    fakes.endpoints.seed(endpointFixture({ id: 'ep_slow', url: 'https://slow.example.com/' }));
    fakes.endpoints.seed(endpointFixture({ id: 'ep_fast', url: 'https://fast.example.com/' }));
    const event = eventFixture(newEventId());
    fakes.events.seed(event);
    const message = (endpointId: string) =>
      JSON.stringify({ storeId: 'store_1', endpointId, eventId: event.id, attempt: 1 });

    const response = await handler(
      {
        Records: [
          sqsRecord(message('ep_slow'), 'm1'),
          sqsRecord(message('ep_fast'), 'm2'),
          sqsRecord('{"not":"a delivery"}', 'm3'),
        ],
      },
      context,
    );

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm3' }] });
    // The fast endpoint, second in the batch, was not held behind the slow one.
    expect(order).toEqual(['fast', 'slow']);
    expect(fakes.attempts.attempts.map((a) => [a.endpointId, a.status])).toEqual([
      ['ep_fast', 'succeeded'],
      ['ep_slow', 'failed'],
    ]);
    expect(fakes.queue.sent).toEqual([expect.objectContaining({ endpointId: 'ep_slow', attempt: 2 })]);
  });
});
