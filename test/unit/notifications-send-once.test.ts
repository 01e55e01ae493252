import { notificationOf } from '../../lambdas/notifications/domain/notification';
import {
  isPlainEmailAddress,
  NOTIFICATION_LEASE_MS,
  NOTIFICATION_RECORD_RETENTION_SECONDS,
  NotificationLeasedError,
  Notifier,
} from '../../lambdas/notifications/domain/notifier';
import { FakeClock } from './support/clock';
import {
  chargedData,
  InMemoryNotificationLog,
  messageOf,
  ScriptedEmailSender,
  subscriptionEvent,
} from './support/notification-fakes';

const NOW = Date.parse('2024-06-01T00:00:10.000Z');

function setUp(script: ConstructorParameters<typeof ScriptedEmailSender>[0] = []) {
  const clock = new FakeClock(NOW);
  const log = new InMemoryNotificationLog();
  const sender = new ScriptedEmailSender(script);
  const logger = { info: jest.fn(), warn: jest.fn() };
  const notifier = new Notifier({ log, sender, from: 'billing@example.com', logger, now: clock.now });
  const event = subscriptionEvent('subscription.charged', chargedData());
  const notification = notificationOf(messageOf(event));
  return { clock, log, sender, logger, notifier, notification, eventId: event.id };
}

/** A send that failed the way a dead SMTP server fails. */
const connectionRefused = () =>
  Object.assign(new Error('Connection refused'), { code: 'ESOCKET', originalCode: 'ECONNREFUSED' });

describe('Notifier: each notification is sent once', () => {
  it('sends it, then records it sent for at least 7 days', async () => {
    const t = setUp();
    await expect(t.notifier.notify(t.notification)).resolves.toEqual({ kind: 'sent' });
    expect(t.sender.accepted).toHaveLength(1);
    const record = t.log.records.get(t.eventId);
    expect(record).toMatchObject({ status: 'sent', sentAt: new Date(NOW).toISOString() });
    expect(record?.expiresAt).toBe(Math.floor(NOW / 1000) + NOTIFICATION_RECORD_RETENTION_SECONDS);
    expect(NOTIFICATION_RECORD_RETENTION_SECONDS).toBeGreaterThanOrEqual(7 * 86_400);
  });

  it('sends nothing for a notification already sent (a duplicate message)', async () => {
    const t = setUp();
    await t.notifier.notify(t.notification);
    t.clock.advance(60 * 60_000);
    await expect(t.notifier.notify(t.notification)).resolves.toEqual({ kind: 'duplicate', status: 'sent' });
    expect(t.sender.attempts).toHaveLength(1);
  });

  it('fails the message while another receive holds a live lease, so that SQS retries it later', async () => {
    const t = setUp();
    await t.log.claim({
      eventId: t.eventId,
      storeId: 'store_1',
      type: 'subscription.charged',
      now: NOW,
      leaseUntil: NOW + NOTIFICATION_LEASE_MS,
      expiresAt: 0,
    });
    t.clock.advance(NOTIFICATION_LEASE_MS - 1);
    await expect(t.notifier.notify(t.notification)).rejects.toBeInstanceOf(NotificationLeasedError);
    expect(t.sender.attempts).toHaveLength(0);
    expect(t.log.records.get(t.eventId)).toMatchObject({
      status: 'sending',
      leaseUntil: NOW + NOTIFICATION_LEASE_MS,
    });
  });

  it('takes over a lease that has ended (its holder died) and sends', async () => {
    const t = setUp();
    await t.log.claim({
      eventId: t.eventId,
      storeId: 'store_1',
      type: 'subscription.charged',
      now: NOW,
      leaseUntil: NOW + NOTIFICATION_LEASE_MS,
      expiresAt: 0,
    });
    t.clock.advance(NOTIFICATION_LEASE_MS);
    await expect(t.notifier.notify(t.notification)).resolves.toEqual({ kind: 'sent' });
    expect(t.sender.accepted).toHaveLength(1);
    expect(t.logger.info).toHaveBeenCalledWith(expect.stringMatching(/took over/), { eventId: t.eventId });
  });

  it('lets a failed send be retried: nothing recorded as sent, the lease left to run out, then sent once', async () => {
    const t = setUp([connectionRefused()]);
    await expect(t.notifier.notify(t.notification)).rejects.toThrow('Connection refused');
    expect(t.log.records.get(t.eventId)).toMatchObject({ status: 'sending' });

    // A redelivery within the lease waits; one after it sends.
    t.clock.advance(1_000);
    await expect(t.notifier.notify(t.notification)).rejects.toBeInstanceOf(NotificationLeasedError);
    t.clock.advance(NOTIFICATION_LEASE_MS);
    await expect(t.notifier.notify(t.notification)).resolves.toEqual({ kind: 'sent' });
    await expect(t.notifier.notify(t.notification)).resolves.toMatchObject({ kind: 'duplicate' });
    expect(t.sender.attempts).toHaveLength(2);
    expect(t.sender.accepted).toHaveLength(1);
  });

  it('records a permanent rejection and does not try again', async () => {
    const t = setUp([{ kind: 'rejected', reason: 'SMTP 550 5.1.1 in reply to RCPT TO' }]);
    await expect(t.notifier.notify(t.notification)).resolves.toEqual({
      kind: 'rejected',
      reason: 'SMTP 550 5.1.1 in reply to RCPT TO',
    });
    expect(t.log.records.get(t.eventId)).toMatchObject({
      status: 'rejected',
      reason: 'SMTP 550 5.1.1 in reply to RCPT TO',
    });
    t.clock.advance(NOTIFICATION_LEASE_MS * 10);
    await expect(t.notifier.notify(t.notification)).resolves.toEqual({
      kind: 'duplicate',
      status: 'rejected',
    });
    expect(t.sender.attempts).toHaveLength(1);
  });

  it('rejects a recipient that is not an email address without sending', async () => {
    const t = setUp();
    const event = subscriptionEvent(
      'subscription.charged',
      chargedData({ customer: { id: 'cus_1', email: 'ada at example.org' } }),
    );
    await expect(t.notifier.notify(notificationOf(messageOf(event)))).resolves.toMatchObject({
      kind: 'rejected',
    });
    expect(t.sender.attempts).toHaveLength(0);
  });

  it('keeps the first outcome when a send outlived its lease and another receive finished first', async () => {
    const t = setUp();
    const slowSender = {
      send: async () => {
        // While this send hangs, its lease runs out and another receive sends and records.
        t.clock.advance(NOTIFICATION_LEASE_MS + 1);
        await new Notifier({
          log: t.log,
          sender: t.sender,
          from: 'billing@example.com',
          now: t.clock.now,
        }).notify(t.notification);
        return { kind: 'accepted' } as const;
      },
    };
    const slow = new Notifier({
      log: t.log,
      sender: slowSender,
      from: 'billing@example.com',
      logger: t.logger,
      now: t.clock.now,
    });
    await expect(slow.notify(t.notification)).resolves.toEqual({ kind: 'sent' });
    expect(t.logger.warn).toHaveBeenCalledWith(expect.stringMatching(/may have gone twice/), {
      eventId: t.eventId,
    });
    expect(t.log.records.get(t.eventId)?.status).toBe('sent');
  });

  it('claims nothing for an email that cannot be written', async () => {
    const t = setUp();
    // The edge refuses such a currency; were one to pass, it must not leave a lease behind.
    const broken = {
      ...t.notification,
      type: 'subscription.charged' as const,
      data: chargedData({}, { currency: 'x1' }),
    };
    await expect(t.notifier.notify(broken)).rejects.toThrow(RangeError);
    expect(t.log.claims).toBe(0);
  });
});

describe('isPlainEmailAddress', () => {
  it.each(['ada@example.org', "o'brien@example.co.uk", 'a+tag@localhost', 'ünï@exämple.de'])(
    'takes %s',
    (a) => {
      expect(isPlainEmailAddress(a)).toBe(true);
    },
  );
  it.each(['ada', 'ada@', '@example.org', 'a b@c.d', 'a@b@c', 'a,b@c.d', 'Ada <ada@example.org>', ''])(
    'refuses %j',
    (a) => {
      expect(isPlainEmailAddress(a)).toBe(false);
    },
  );
});
