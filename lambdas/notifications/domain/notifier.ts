import type { Notification } from './notification';
import type { NotificationLog, NotificationOutcome } from './notification-log';
import { type Email, renderEmail } from './render-email';

/**
 * Sends each notification once (docs/api.md section 6). The queue delivers at least once, and the fan-out may send
 * a message twice; the event id is the notification's identity:
 *
 * 1. claim it: a conditional write of `sending` with a lease. Already `sent` or `rejected`: nothing is sent (a
 *    duplicate). Another sender's lease still running: the message fails and SQS brings it back later.
 * 2. send it, then record `sent`.
 * 3. a send that fails records nothing and releases nothing: the message fails, SQS redelivers it after the
 *    visibility timeout, by when the lease has run out and the redelivery takes the notification over. After
 *    maxReceiveCount receives the message waits on the DLQ.
 * 4. a permanent rejection (the server refuses the recipient or the message for good, or the address is not one)
 *    is recorded as `rejected` and not retried: the same message would be refused again, forever.
 *
 * What this cannot rule out: a send that succeeded but whose `sent` could not be recorded (the function died in
 * between) is sent again after the lease. The copy carries the same Message-ID, so mail systems recognise it.
 */

/**
 * How long a claim holds a notification. Longer than the notify function's timeout (30 s; a send is bounded well
 * within it), so a holder is gone before its lease ends; shorter than the queue's visibility timeout (6x the
 * function timeout), so the redelivery that follows a failure finds the lease ended.
 */
export const NOTIFICATION_LEASE_MS = 120_000;

/**
 * How long the records are kept (TTL). A copy of a message can arrive as long as SQS keeps messages (at most 14
 * days, DLQ included, and a redrive from the DLQ keeps their age); the stream that the fan-out reads keeps
 * records 24 h. A copy that came later than the record's expiry would be sent again.
 */
export const NOTIFICATION_RECORD_RETENTION_SECONDS = 14 * 86_400;

/** What the sender made of one email. Throws for a failure worth retrying (connection, timeout, 4xx, throttling). */
export type EmailSendResult =
  | { readonly kind: 'accepted' }
  /** Refused for good; `reason` names the reply (code and stage), never an address. */
  | { readonly kind: 'rejected'; readonly reason: string };

/** Port: SMTP locally, SES in AWS (adapters/email-sender.ts). */
export interface EmailSender {
  send(email: Email): Promise<EmailSendResult>;
}

/** The logger the notifier needs; Powertools' Logger satisfies it. Never given addresses or bodies. */
export interface NotificationLogger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Another sender holds the notification: fail the message, so that SQS brings it back after its lease. */
export class NotificationLeasedError extends Error {
  constructor(
    readonly eventId: string,
    readonly leaseUntil: number,
  ) {
    super(
      `Notification ${eventId} is being sent by another receive until ${new Date(leaseUntil).toISOString()}; retried later.`,
    );
    this.name = 'NotificationLeasedError';
  }
}

export type NotifyResult =
  | { readonly kind: 'sent' }
  | { readonly kind: 'rejected'; readonly reason: string }
  /** An earlier receive ended it: nothing was sent. */
  | { readonly kind: 'duplicate'; readonly status: 'sent' | 'rejected' };

export interface NotifierDependencies {
  readonly log: NotificationLog;
  readonly sender: EmailSender;
  /** EMAIL_FROM. */
  readonly from: string;
  readonly logger?: NotificationLogger;
  readonly leaseMs?: number;
  readonly now?: () => number;
}

/**
 * One plain address (`local@domain`, nothing a mail library would read as a list, a group or a display name).
 * Deliberately loose: it only catches what no server could deliver; the server judges the rest.
 */
const PLAIN_ADDRESS = /^[^\s@,;:<>()[\]"\\]+@[^\s@,;:<>()[\]"\\]+$/;

export function isPlainEmailAddress(value: string): boolean {
  return PLAIN_ADDRESS.test(value);
}

export class Notifier {
  private readonly leaseMs: number;
  private readonly now: () => number;

  constructor(private readonly deps: NotifierDependencies) {
    this.leaseMs = deps.leaseMs ?? NOTIFICATION_LEASE_MS;
    this.now = deps.now ?? Date.now;
  }

  /**
   * `options.manageUrl`: the customer's manage link, for the emails that carry one (signed by the caller, which
   * holds the key).
   * @throws NotificationLeasedError while another receive holds it; the sender's error when the send failed.
   * Either way the message is to fail and be retried by SQS.
   */
  async notify(
    notification: Notification,
    options: { readonly manageUrl?: string } = {},
  ): Promise<NotifyResult> {
    // Written before the claim: an email that cannot be written must not leave a lease behind.
    const email = renderEmail(notification, { from: this.deps.from, manageUrl: options.manageUrl });
    const { eventId } = notification;
    const claimedAt = this.now();
    const claim = await this.deps.log.claim({
      eventId,
      storeId: notification.storeId,
      type: notification.type,
      now: claimedAt,
      leaseUntil: claimedAt + this.leaseMs,
      expiresAt: this.expiresAt(claimedAt),
    });
    if (!claim.claimed) {
      const { current } = claim;
      if (current.status === 'sending') throw new NotificationLeasedError(eventId, current.leaseUntil);
      return { kind: 'duplicate', status: current.status };
    }
    if (claim.tookOver) {
      this.deps.logger?.info(
        'took over a notification whose lease had ended (an earlier send failed or died)',
        {
          eventId,
        },
      );
    }

    const result = isPlainEmailAddress(email.to)
      ? await this.deps.sender.send(email)
      : ({ kind: 'rejected', reason: 'the recipient is not an email address' } as const);

    const at = this.now();
    const outcome: NotificationOutcome =
      result.kind === 'accepted'
        ? { status: 'sent', at: new Date(at).toISOString(), messageId: email.messageId }
        : { status: 'rejected', at: new Date(at).toISOString(), reason: result.reason };
    const recorded = await this.deps.log.finish(eventId, outcome, this.expiresAt(at));
    if (!recorded) {
      // Only possible when this send outlived its lease and another receive finished first: two emails went out.
      this.deps.logger?.warn(
        'another receive recorded this notification first; the email may have gone twice',
        {
          eventId,
        },
      );
    }
    return result.kind === 'accepted' ? { kind: 'sent' } : { kind: 'rejected', reason: result.reason };
  }

  private expiresAt(now: number): number {
    return Math.floor(now / 1000) + NOTIFICATION_RECORD_RETENTION_SECONDS;
  }
}
