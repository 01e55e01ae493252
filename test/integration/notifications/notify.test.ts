import { createServer } from 'node:net';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent } from 'aws-lambda';
import { SMTPServer } from 'smtp-server';
import { newEventId, type PipelineEvent } from '../../../lambdas/events/domain/events';
import {
  DynamoNotificationLog,
  notificationKey,
} from '../../../lambdas/notifications/adapters/dynamo-notification-log';
import {
  createMailTransport,
  NodemailerEmailSender,
} from '../../../lambdas/notifications/adapters/email-sender';
import { SqsNotificationQueue } from '../../../lambdas/notifications/adapters/sqs-notification-queue';
import { notificationOf } from '../../../lambdas/notifications/domain/notification';
import {
  type NotificationMessage,
  notificationMessage,
  notificationMessageFor,
} from '../../../lambdas/notifications/domain/notification-message';
import {
  NOTIFICATION_RECORD_RETENTION_SECONDS,
  Notifier,
  type NotifyResult,
} from '../../../lambdas/notifications/domain/notifier';
import { EVENT_ID_HEADER } from '../../../lambdas/notifications/domain/render-email';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { LOCAL_REGION, localClientConfig, QUIET_SDK_ENVIRONMENT } from '../../../local/aws-clients';
import { LocalSecretsManager } from '../../../local/emulators/secrets-manager';
import { SmtpSink } from '../../../local/smtp-sink/smtp-sink';
import { fakeLambdaContext } from '../../unit/support/lambda-context';
import { sharedEmulators, uniquePrefix } from '../support/emulators';
import { waitFor } from '../support/wait-for';

/**
 * Emails sent once, on the emulators: a throw-away sent-once table on DynamoDB Local, a notifications queue with
 * a DLQ on fauxqs, the bundled SMTP sink, and the real adapters driven as the notify function drives them
 * (receive, notify, delete on success; a failure is left for SQS to bring back after the visibility timeout).
 * Timings are shrunk: a 2 s visibility timeout and a 1 s lease (shorter than the visibility timeout, as deployed).
 */
jest.setTimeout(60_000);

const FROM = 'billing@shop.example.com';
const VISIBILITY_TIMEOUT_SECONDS = 2;
const LEASE_MS = 1_000;
const MAX_RECEIVE_COUNT = 4;

const emulators = sharedEmulators();
const prefix = uniquePrefix();
const tableName = `${prefix}-shared`;
const dynamodb = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
const documents = createDocumentClient(dynamodb);
const sqs = new SQSClient(localClientConfig(emulators.sqsEndpoint));
const log = new DynamoNotificationLog({ client: documents, tableName });
const queues: { url: string; dlqUrl: string }[] = [];
const servers: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    }),
  );
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  for (const { url, dlqUrl } of queues) {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: dlqUrl }));
  }
  await dynamodb.send(new DeleteTableCommand({ TableName: tableName }));
  dynamodb.destroy();
  sqs.destroy();
});

let queueSequence = 0;

/** A notifications queue with its DLQ, as the DurableQueue construct makes them (shorter timings). */
async function newQueue(): Promise<{ url: string; dlqUrl: string }> {
  queueSequence += 1;
  const name = `${prefix}-notifications-${queueSequence}`;
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqUrl = dlq.QueueUrl ?? '';
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
  );
  const created = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(VISIBILITY_TIMEOUT_SECONDS),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: Attributes.QueueArn,
          maxReceiveCount: MAX_RECEIVE_COUNT,
        }),
      },
    }),
  );
  const queue = { url: created.QueueUrl ?? '', dlqUrl };
  queues.push(queue);
  return queue;
}

async function startSink(port?: number): Promise<SmtpSink> {
  const sink = await SmtpSink.start(port === undefined ? {} : { port });
  servers.push(sink);
  return sink;
}

function notifierFor(smtpUrl: string): Notifier {
  return new Notifier({
    log,
    sender: new NodemailerEmailSender(() => createMailTransport({ smtpUrl })),
    from: FROM,
    leaseMs: LEASE_MS,
  });
}

function chargedEvent(email = 'ada@example.org'): PipelineEvent {
  const at = '2024-06-01T00:00:05.000Z';
  return {
    id: newEventId(),
    type: 'subscription.charged',
    createdAt: at,
    storeId: `${prefix}-store`,
    data: {
      subscription: {
        id: 'sub_1',
        customer: { id: 'cus_1', email },
        plan: 'Pro',
        amount: 120_000,
        currency: 'jpy',
        interval: 'month',
        intervalCount: 1,
        status: 'active',
        nextChargeAt: '2024-07-01T00:00:00.000Z',
      },
      charge: {
        period: '2024-06-01',
        attempt: 0,
        amount: 120_000,
        currency: 'jpy',
        runId: '2024-06-01',
        at,
        paymentIntentId: 'pi_it_1',
      },
    },
  };
}

function messageFor(event: PipelineEvent): NotificationMessage {
  const message = notificationMessageFor(event);
  if (!message) throw new Error('not notifiable');
  return message;
}

/**
 * One receive of up to 10 messages, processed concurrently as the notify function's batch is: a success deletes
 * its message, a failure leaves it to come back. Returns what each message came to.
 */
async function receiveOnce(queueUrl: string, notifier: Notifier): Promise<(NotifyResult | Error)[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return Promise.all(
    Messages.map(async (message) => {
      try {
        const notification = notificationOf(notificationMessage.parse(JSON.parse(message.Body ?? '')));
        const result = await notifier.notify(notification);
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
        return result;
      } catch (error) {
        return error as Error;
      }
    }),
  );
}

async function messagesIn(queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
}

/** Receives until the queue is empty; every outcome, in order. */
async function drain(queueUrl: string, notifier: Notifier): Promise<(NotifyResult | Error)[]> {
  const outcomes: (NotifyResult | Error)[] = [];
  await waitFor(
    async () => {
      outcomes.push(...(await receiveOnce(queueUrl, notifier)));
      return messagesIn(queueUrl);
    },
    (count) => count === 0,
    { timeoutMs: 20_000, intervalMs: 200, what: 'the notifications queue to empty' },
  );
  return outcomes;
}

/** A result, not a failure (failures may come from another realm, where `instanceof Error` does not hold). */
const isResult = (outcome: NotifyResult | Error): outcome is NotifyResult =>
  typeof (outcome as Partial<NotifyResult>).kind === 'string';

const recordOf = async (eventId: string) =>
  (await documents.send(new GetCommand({ TableName: tableName, Key: { pk: notificationKey(eventId) } })))
    .Item;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

it('delivers a notification from the queue to the mail server once, with the right headers', async () => {
  const sink = await startSink();
  const queue = await newQueue();
  const event = chargedEvent();
  await new SqsNotificationQueue({ client: sqs, queueUrl: queue.url }).send([messageFor(event)]);

  const outcomes = await drain(queue.url, notifierFor(sink.url));

  expect(outcomes).toEqual([{ kind: 'sent' }]);
  expect(sink.mails).toHaveLength(1);
  const [mail] = sink.mails;
  expect(mail?.from).toBe(FROM);
  expect(mail?.to).toEqual(['ada@example.org']);
  expect(mail?.subject).toBe('Receipt for your Pro subscription: ¥120,000');
  expect(mail?.messageId).toBe(`<${event.id}.receipt@shop.example.com>`);
  expect(mail?.headers[EVENT_ID_HEADER.toLowerCase()]).toBe(event.id);
  expect(mail?.text).toContain('Payment reference: pi_it_1');

  const record = await recordOf(event.id);
  expect(record).toMatchObject({ status: 'sent', eventId: event.id, type: 'subscription.charged' });
  expect(record?.leaseUntil).toBeUndefined();
  expect(record?.expiresAt).toBeGreaterThanOrEqual(
    Math.floor(Date.now() / 1000) + NOTIFICATION_RECORD_RETENTION_SECONDS - 60,
  );
  expect(JSON.stringify(record)).not.toContain('ada@example.org');
});

it('sends one email for the same message queued twice', async () => {
  const sink = await startSink();
  const queue = await newQueue();
  const event = chargedEvent();
  const message = messageFor(event);
  // Two queue messages with one notification: a fan-out record processed twice.
  const notifications = new SqsNotificationQueue({ client: sqs, queueUrl: queue.url });
  await notifications.send([message]);
  await notifications.send([message]);

  const outcomes = await drain(queue.url, notifierFor(sink.url));

  expect(sink.mails.filter((mail) => mail.messageId?.includes(event.id))).toHaveLength(1);
  expect(outcomes.filter((o) => isResult(o) && o.kind === 'sent')).toHaveLength(1);
  // The other copy either met the live lease (and came back) or found the notification sent.
  expect(outcomes.filter((o) => isResult(o) && o.kind === 'duplicate')).toHaveLength(1);
  expect(await messagesIn(queue.dlqUrl)).toBe(0);
});

it('retries while the mail server is down, then sends once it is back', async () => {
  const port = await freePort();
  const queue = await newQueue();
  const event = chargedEvent();
  await new SqsNotificationQueue({ client: sqs, queueUrl: queue.url }).send([messageFor(event)]);
  const notifier = notifierFor(`smtp://127.0.0.1:${port}`);

  // Down: nothing listens on the port.
  const first = await receiveOnce(queue.url, notifier);
  expect(first).toHaveLength(1);
  // nodemailer's connection failure: retried, not a rejection.
  expect(first[0]).toMatchObject({ code: 'ESOCKET', originalCode: 'ECONNREFUSED' });
  expect(await recordOf(event.id)).toMatchObject({ status: 'sending' });
  expect(await messagesIn(queue.url)).toBe(1);

  // Back: the message returns after its visibility timeout, the lease has run out, the notification is taken over.
  const sink = await startSink(port);
  const outcomes = await drain(queue.url, notifier);

  expect(outcomes.filter(isResult)).toEqual([{ kind: 'sent' }]);
  expect(sink.mails).toHaveLength(1);
  expect(sink.mails[0]?.messageId).toBe(`<${event.id}.receipt@shop.example.com>`);
  expect(await recordOf(event.id)).toMatchObject({ status: 'sent' });
  expect(await messagesIn(queue.dlqUrl)).toBe(0);
});

it('records a recipient the server refuses for good, and does not retry it', async () => {
  // A server that knows no such mailbox: 550 5.1.1 in reply to RCPT TO.
  const accepted: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('nobody@')) {
        callback(Object.assign(new Error('5.1.1 No such user here'), { responseCode: 550 }));
        return;
      }
      accepted.push(address.address);
      callback();
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => callback());
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ stop: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');

  const queue = await newQueue();
  const event = chargedEvent('nobody@example.org');
  await new SqsNotificationQueue({ client: sqs, queueUrl: queue.url }).send([messageFor(event)]);

  const outcomes = await drain(queue.url, notifierFor(`smtp://127.0.0.1:${address.port}`));

  expect(outcomes).toEqual([{ kind: 'rejected', reason: 'SMTP 550 5.1.1 in reply to RCPT TO' }]);
  expect(accepted).toEqual([]);
  expect(await recordOf(event.id)).toMatchObject({
    status: 'rejected',
    reason: 'SMTP 550 5.1.1 in reply to RCPT TO',
  });
  expect(await messagesIn(queue.dlqUrl)).toBe(0);
});

describe('the notify handler on the emulators', () => {
  const context = fakeLambdaContext({ functionName: 'notify' });

  it('sends from SQS records through its own wiring, and fails a malformed message for the DLQ', async () => {
    const sink = await startSink();
    // The manage link key, read from Secrets Manager as in AWS.
    const secrets = await LocalSecretsManager.start();
    const keyArn = `arn:aws:secretsmanager:${LOCAL_REGION}:000000000000:secret:manage-link-key`;
    secrets.create({ arn: keyArn, name: 'manage-link-key', value: 'notify-integration-key-0123456789' });
    const saved = { ...process.env };
    Object.assign(process.env, {
      ...QUIET_SDK_ENVIRONMENT,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_METRICS_NAMESPACE: 'Test',
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
      NOTIFICATIONS_LOG_TABLE_NAME: tableName,
      SMTP_URL: sink.url,
      EMAIL_FROM: FROM,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      MANAGE_LINK_KEY_SECRET_ARN: keyArn,
      PUBLIC_API_URL: 'https://api.shop.example.com',
    });
    // The secrets middleware's cache refreshes itself on a timer: cleared at the end, in the handler's module copy.
    let clearSecretsCache: (() => void) | undefined;
    try {
      let handler: ((event: SQSEvent, context: Context) => Promise<unknown>) | undefined;
      jest.isolateModules(() => {
        handler = require('../../../lambdas/notifications/handlers/notify').handler;
        clearSecretsCache = require('@middy/util').clearCache;
      });
      if (!handler) throw new Error('handler not loaded');
      const event = chargedEvent();
      const record = (id: string, body: string) =>
        ({
          messageId: id,
          body,
          attributes: { ApproximateReceiveCount: '1' },
        }) as unknown as SQSEvent['Records'][0];

      const response = await handler(
        { Records: [record('m1', JSON.stringify(messageFor(event))), record('m2', '{"eventId":"evt_x"}')] },
        context,
      );
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });

      // A redelivery of m1 sends nothing more.
      await handler({ Records: [record('m1', JSON.stringify(messageFor(event)))] }, context);
      expect(sink.mails.map((mail) => mail.messageId)).toEqual([`<${event.id}.receipt@shop.example.com>`]);
      expect(sink.mails[0]?.text).toMatch(/https:\/\/api\.shop\.example\.com\/manage\/v1\.[\w-]+\.[\w-]+/);
    } finally {
      process.env = saved;
      clearSecretsCache?.();
      await secrets.stop();
    }
  });
});
