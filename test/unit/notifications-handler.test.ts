import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { verifyManageToken } from '../../lambdas/billing/domain/manage-link';
import { fakeLambdaContext } from './support/lambda-context';
import {
  canceledData,
  chargedData,
  InMemoryNotificationLog,
  messageOf,
  ScriptedEmailSender,
  subscriptionEvent,
} from './support/notification-fakes';

/** The notify handler's wiring, with the adapters replaced: what SQS gets back (partial batch responses). */
const context = fakeLambdaContext();

const env = {
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_NAMESPACE: 'Test',
  POWERTOOLS_METRICS_DISABLED: 'true',
  NOTIFICATIONS_LOG_TABLE_NAME: 'Shared',
  EMAIL_FROM: 'billing@shop.example.com',
  SMTP_URL: 'smtp://127.0.0.1:2525',
  AWS_REGION: 'eu-west-1',
  MANAGE_LINK_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:000000000000:secret:manage-links',
  PUBLIC_API_URL: 'https://api.shop.example.com',
};

/** What Secrets Manager holds under MANAGE_LINK_KEY_SECRET_ARN, put on the context as the middleware does. */
const MANAGE_LINK_KEY = 'notify-handler-test-key-0123456789';

function loadNotify(sender: ScriptedEmailSender) {
  const log = new InMemoryNotificationLog();
  const emailSender = jest.fn(() => sender);
  const saved = { ...process.env };
  Object.assign(process.env, env);
  let handler: ((e: SQSEvent, c: Context) => Promise<unknown>) | undefined;
  try {
    jest.isolateModules(() => {
      jest.doMock('../../lambdas/notifications/adapters/dynamo-notification-log', () => ({
        DynamoNotificationLog: jest.fn(() => log),
      }));
      jest.doMock('../../lambdas/notifications/adapters/email-sender', () => ({ emailSender }));
      jest.doMock('../../lambdas/platform/secrets', () => ({
        loadSecrets: () => ({
          before: (request: { context: Record<string, unknown> }) => {
            request.context.manageLinkKey = MANAGE_LINK_KEY;
          },
        }),
      }));
      handler = require('../../lambdas/notifications/handlers/notify').handler;
    });
  } finally {
    process.env = saved;
  }
  if (!handler) throw new Error('handler not loaded');
  return { handler, log, emailSender };
}

const sqsRecord = (body: string, id: string): SQSRecord =>
  ({ messageId: id, body, attributes: { ApproximateReceiveCount: '1' } }) as unknown as SQSRecord;

describe('notify handler', () => {
  it('sends each notification once, and fails only the malformed messages (for the DLQ)', async () => {
    const sender = new ScriptedEmailSender();
    const { handler, log, emailSender } = loadNotify(sender);
    const charged = messageOf(subscriptionEvent('subscription.charged', chargedData()));
    const canceled = messageOf(subscriptionEvent('subscription.canceled', canceledData()));

    const response = await handler(
      {
        Records: [
          sqsRecord(JSON.stringify(charged), 'm1'),
          sqsRecord(JSON.stringify(canceled), 'm2'),
          sqsRecord(JSON.stringify(charged), 'm3'),
          sqsRecord('not json', 'm4'),
          sqsRecord(JSON.stringify({ ...charged, event: { ...charged.event, data: {} } }), 'm5'),
        ],
      },
      context,
    );

    // m1 and m3 are the same notification, processed concurrently: m3 meets m1's live lease and fails, for SQS to
    // bring back; m4 and m5 are malformed and fail on every receive.
    const failures = (response as { batchItemFailures: { itemIdentifier: string }[] }).batchItemFailures;
    expect(failures.map((f) => f.itemIdentifier).sort()).toEqual(['m3', 'm4', 'm5']);
    expect(emailSender).toHaveBeenCalledWith({ smtpUrl: 'smtp://127.0.0.1:2525' });
    expect(sender.accepted.map((e) => e.subject).sort()).toEqual([
      'Receipt for your Pro subscription: $19.99',
      'Your Pro subscription has been canceled',
    ]);
    expect(sender.accepted[0]?.from).toBe('billing@shop.example.com');
    // The receipt carries a manage link signed with the secret's key; the cancellation notice none.
    const receipt = sender.accepted.find((email) => email.subject.startsWith('Receipt'));
    const link = /https:\/\/api\.shop\.example\.com\/manage\/(\S+)/.exec(receipt?.text ?? '');
    expect(verifyManageToken(link?.[1] ?? '', [MANAGE_LINK_KEY], Date.now())).toMatchObject({
      valid: true,
      claims: { storeId: 'store_1', subscriptionId: chargedData().subscription.id },
    });
    const cancellation = sender.accepted.find((email) => email.subject.includes('canceled'));
    expect(cancellation?.text).not.toContain('/manage/');

    // m3 comes back (with another message, as a batch that is not all failures): it finds the receipt sent.
    const again = await handler(
      { Records: [sqsRecord(JSON.stringify(charged), 'm3'), sqsRecord(JSON.stringify(canceled), 'm2')] },
      context,
    );
    expect(again).toEqual({ batchItemFailures: [] });
    expect(sender.attempts).toHaveLength(2);
    expect(log.records.get(charged.eventId)?.status).toBe('sent');
  });

  it('fails a message whose send failed, and succeeds for a permanent rejection', async () => {
    const sender = new ScriptedEmailSender([
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ESOCKET' }),
      { kind: 'rejected', reason: 'SMTP 550 5.1.1 in reply to RCPT TO' },
    ]);
    const { handler, log } = loadNotify(sender);
    const first = messageOf(subscriptionEvent('subscription.charged', chargedData()));
    const second = messageOf(subscriptionEvent('subscription.canceled', canceledData()));

    const failed = await handler({ Records: [sqsRecord(JSON.stringify(first), 'm1')] }, context).catch(
      (error: Error) => error.name,
    );
    expect(failed).toBe('FullBatchFailureError');
    await expect(handler({ Records: [sqsRecord(JSON.stringify(second), 'm2')] }, context)).resolves.toEqual({
      batchItemFailures: [],
    });
    expect(log.records.get(second.eventId)?.status).toBe('rejected');
  });
});
