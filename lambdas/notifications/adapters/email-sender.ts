import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import nodemailer from 'nodemailer';
import type { EmailSender, EmailSendResult } from '../domain/notifier';
import type { Email } from '../domain/render-email';

/**
 * Emails through nodemailer: over SMTP to SMTP_URL when it is set (the local stack's sink, or any relay), through
 * SES (API v2) otherwise, with the function's role. One transport per execution environment, made on first use.
 * Not pooled: a frozen Lambda environment would hold dead connections; one connection per email is cheap at this
 * volume.
 */

/**
 * Bounds of one SMTP send, so that a hung server fails the send well within the function's timeout and the
 * notification's lease (domain/notifier.ts), and the message is retried.
 */
const SMTP_TIMEOUTS_MS = {
  connectionTimeout: 5_000,
  greetingTimeout: 5_000,
  socketTimeout: 15_000,
} as const;

/** The fields of nodemailer's `sendMail` options this sender sets. */
export interface OutgoingMail {
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly messageId: string;
  readonly headers: Record<string, string>;
}

/** What this sender needs of a nodemailer transport; lets tests hand in a stand-in. */
export interface MailTransport {
  sendMail(mail: OutgoingMail): Promise<unknown>;
}

export function createMailTransport(options: { readonly smtpUrl?: string }): MailTransport {
  if (options.smtpUrl) return nodemailer.createTransport({ url: options.smtpUrl, ...SMTP_TIMEOUTS_MS });
  return nodemailer.createTransport({ SES: { sesClient: new SESv2Client({}), SendEmailCommand } });
}

export class NodemailerEmailSender implements EmailSender {
  private transport: MailTransport | undefined;

  /** `transport`: a transport, or how to make one on first use. */
  constructor(private readonly makeTransport: () => MailTransport) {}

  async send(email: Email): Promise<EmailSendResult> {
    this.transport ??= this.makeTransport();
    try {
      await this.transport.sendMail({
        from: email.from,
        to: email.to,
        subject: email.subject,
        text: email.text,
        html: email.html,
        messageId: email.messageId,
        headers: { ...email.headers },
      });
      return { kind: 'accepted' };
    } catch (error) {
      const reason = permanentRejection(error);
      if (reason !== undefined) return { kind: 'rejected', reason };
      throw error;
    }
  }
}

let shared: NodemailerEmailSender | undefined;

/** The execution environment's sender; its transport is made on the first email. */
export function emailSender(options: { readonly smtpUrl?: string }): NodemailerEmailSender {
  shared ??= new NodemailerEmailSender(() => createMailTransport(options));
  return shared;
}

/** The parts of a nodemailer SMTP error this module reads (see NodemailerError in nodemailer's errors). */
interface SmtpError {
  readonly responseCode?: number;
  readonly command?: string;
  readonly permanent?: boolean;
  readonly response?: string;
}

/**
 * The reason an SMTP error is a permanent rejection of this email, or undefined when retrying may succeed.
 *
 * Permanent: a 5xx reply (503 excepted: nodemailer marks those `permanent` already) to RCPT TO (the server refuses
 * the recipient: no such mailbox, bad domain) or to the message itself (DATA: too large, refused content). The same
 * email would meet the same answer on every retry, so it is recorded as `rejected` and not retried.
 *
 * Not permanent, so retried and kept on the DLQ when it persists: a 5xx to MAIL FROM (our sender address) and any
 * 5.7.x policy reply (relaying denied, authentication required), which are about our configuration rather than
 * this email, and would otherwise mark every email rejected until someone fixed it; 4xx; connection failures.
 * SES failures are never permanent here: SES refuses a call for account or configuration reasons, and reports a
 * recipient's refusal later, as a bounce.
 *
 * The reason names the reply code and the stage only: server replies often quote the address.
 */
export function permanentRejection(error: unknown): string | undefined {
  const smtp = error as SmtpError | undefined;
  if (smtp?.permanent !== true || smtp.responseCode === undefined) return undefined;
  if (smtp.command !== 'RCPT TO' && smtp.command !== 'DATA') return undefined;
  const enhanced = /^\d{3}[ -](\d\.\d{1,3}\.\d{1,3})\b/.exec(smtp.response ?? '')?.[1];
  if (enhanced?.startsWith('5.7.')) return undefined;
  return `SMTP ${smtp.responseCode}${enhanced ? ` ${enhanced}` : ''} in reply to ${smtp.command}`;
}
