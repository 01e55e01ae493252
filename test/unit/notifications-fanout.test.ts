import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { newEventId } from '../../lambdas/events/domain/events';
import { CachedEndpoints, Fanout, fanoutWorkFor } from '../../lambdas/webhooks/domain/fanout';
import { FakeClock } from './support/clock';
import { fakeLambdaContext } from './support/lambda-context';
import {
  canceledData,
  chargedData,
  FakeNotificationQueue,
  paymentFailedData,
} from './support/notification-fakes';
import {
  endpointFixture,
  FakeDeliveryQueue,
  InMemoryEndpointsRepository,
  InMemoryEventsRepository,
} from './support/webhook-fakes';

/** The fan-out's notification hook: a direct subscription event that emails the subscriber is one queue message. */
const NOW = Date.parse('2024-06-01T12:00:00.000Z');

const directItem = (type: string, data: unknown = {}) => ({
  storeId: 'store_1',
  eventId: newEventId(NOW),
  type,
  createdAt: '2024-06-01T12:00:00.000Z',
  data,
  origin: 'direct',
});

function setUp(options: { notifications?: boolean } = {}) {
  const clock = new FakeClock(NOW);
  const endpoints = new InMemoryEndpointsRepository();
  endpoints.seed(endpointFixture({ id: 'ep_all', events: ['*'] }));
  const deliveries = new FakeDeliveryQueue();
  const notifications = new FakeNotificationQueue();
  const fanout = new Fanout({
    events: new InMemoryEventsRepository(),
    endpoints: new CachedEndpoints(endpoints, { now: clock.now }),
    queue: deliveries,
    ...(options.notifications === false ? {} : { notifications }),
    retryScheduleMs: [0],
    now: clock.now,
  });
  return { fanout, deliveries, notifications };
}

describe('Fanout: notifications', () => {
  it.each([
    ['subscription.charged', chargedData()],
    ['subscription.payment_failed', paymentFailedData()],
    ['subscription.canceled', canceledData()],
  ])('sends one notification for a direct %s, beside its webhook deliveries', async (type, data) => {
    const t = setUp();
    const item = directItem(type, data);
    const sent = await t.fanout.run(fanoutWorkFor('events', item));

    expect(sent).toBe(1);
    expect(t.notifications.sent).toEqual([
      {
        eventId: item.eventId,
        storeId: 'store_1',
        type,
        event: { id: item.eventId, type, createdAt: item.createdAt, storeId: 'store_1', data },
      },
    ]);
    expect(t.deliveries.sent).toHaveLength(1);
  });

  it('sends none for events that email nobody', async () => {
    const t = setUp();
    await t.fanout.run(fanoutWorkFor('events', directItem('subscription.created')));
    await t.fanout.run(fanoutWorkFor('events', directItem('datafeed.ready')));
    await t.fanout.run(
      fanoutWorkFor('transactions', {
        storeId: 'store_1',
        txnId: 'txn_1',
        eventId: newEventId(NOW),
        acceptedAt: '2024-06-01T12:00:00.000Z',
        transaction: { id: 'txn_1' },
      }),
    );
    expect(t.notifications.sendCalls).toBe(0);
    expect(t.deliveries.sent).toHaveLength(3);
  });

  it('sends none without a notifications queue', async () => {
    const t = setUp({ notifications: false });
    await t.fanout.run(fanoutWorkFor('events', directItem('subscription.charged', chargedData())));
    expect(t.notifications.sendCalls).toBe(0);
    expect(t.deliveries.sent).toHaveLength(1);
  });

  it('sends the event as it is, even one the sender will find malformed (the DLQ gets it, not the stream)', async () => {
    const t = setUp();
    await t.fanout.run(fanoutWorkFor('events', directItem('subscription.charged', { nothing: 'useful' })));
    expect(t.notifications.sent).toHaveLength(1);
  });

  it('fails the record when the notification cannot be queued, before any delivery goes out', async () => {
    const t = setUp();
    t.notifications.failNext = new Error('SQS refused 1 of the notification messages: InternalError');
    const work = fanoutWorkFor('events', directItem('subscription.charged', chargedData()));
    await expect(t.fanout.run(work)).rejects.toThrow('InternalError');
    expect(t.deliveries.sent).toHaveLength(0);

    // The stream's retry sends both; a repeat of the notification would be harmless (the sender dedups).
    await t.fanout.run(work);
    expect(t.notifications.sent).toHaveLength(1);
    expect(t.deliveries.sent).toHaveLength(1);
  });
});

describe('fanout handler: NOTIFICATIONS_QUEUE_URL', () => {
  const context = fakeLambdaContext();
  const env = {
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    TRANSACTIONS_TABLE_NAME: 'Transactions',
    EVENTS_TABLE_NAME: 'Events',
    WEBHOOKS_TABLE_NAME: 'Webhooks',
    DELIVERIES_QUEUE_URL: 'https://sqs/deliveries',
    AWS_REGION: 'eu-west-1',
  };

  function loadFanout(queueUrl: string | undefined) {
    const notifications = new FakeNotificationQueue();
    const made = jest.fn(() => notifications);
    const saved = { ...process.env };
    Object.assign(process.env, env);
    delete process.env.NOTIFICATIONS_QUEUE_URL;
    if (queueUrl) process.env.NOTIFICATIONS_QUEUE_URL = queueUrl;
    let handler: ((e: DynamoDBStreamEvent, c: Context) => Promise<unknown>) | undefined;
    try {
      jest.isolateModules(() => {
        jest.doMock('../../lambdas/events/adapters/dynamo-events-repository', () => ({
          DynamoEventsRepository: jest.fn(() => new InMemoryEventsRepository()),
        }));
        jest.doMock('../../lambdas/webhooks/adapters/dynamo-endpoints-repository', () => ({
          DynamoEndpointsRepository: jest.fn(() => new InMemoryEndpointsRepository()),
        }));
        jest.doMock('../../lambdas/webhooks/adapters/sqs-delivery-queue', () => ({
          SqsDeliveryQueue: jest.fn(() => new FakeDeliveryQueue()),
        }));
        jest.doMock('../../lambdas/notifications/adapters/sqs-notification-queue', () => ({
          SqsNotificationQueue: made,
        }));
        handler = require('../../lambdas/webhooks/handlers/fanout').handler;
      });
    } finally {
      process.env = saved;
    }
    if (!handler) throw new Error('handler not loaded');
    return { handler, notifications, made };
  }

  const records = (...items: Record<string, unknown>[]) =>
    ({
      Records: items.map((item, index) => ({
        eventID: String(index + 1),
        eventName: 'INSERT',
        eventSource: 'aws:dynamodb',
        eventSourceARN: 'arn:aws:dynamodb:eu-west-1:123456789012:table/Events/stream/2024-06-01T00:00:00.000',
        dynamodb: {
          Keys: marshall({ storeId: item.storeId, eventId: item.eventId }),
          NewImage: marshall(item, { removeUndefinedValues: true }),
          SequenceNumber: String(index + 1),
          StreamViewType: 'NEW_IMAGE',
        },
      })),
    }) as unknown as DynamoDBStreamEvent;

  it('queues notifications to the configured queue', async () => {
    const { handler, notifications, made } = loadFanout('https://sqs/notifications');
    const item = directItem('subscription.charged', chargedData());
    await expect(handler(records(item), context)).resolves.toEqual({ batchItemFailures: [] });
    expect(made).toHaveBeenCalledWith(expect.objectContaining({ queueUrl: 'https://sqs/notifications' }));
    expect(notifications.sent.map((m) => m.eventId)).toEqual([item.eventId]);
  });

  it('reports the record as failed when the notification cannot be queued', async () => {
    const { handler, notifications } = loadFanout('https://sqs/notifications');
    notifications.failNext = new Error('throttled');
    const batch = records(
      directItem('subscription.canceled', canceledData()),
      directItem('subscription.created'),
    );
    await expect(handler(batch, context)).resolves.toEqual({ batchItemFailures: [{ itemIdentifier: '1' }] });
  });

  it('makes no notifications queue when the variable is unset', async () => {
    const { handler, made } = loadFanout(undefined);
    await handler(records(directItem('subscription.charged', chargedData())), context);
    expect(made).not.toHaveBeenCalled();
  });
});
