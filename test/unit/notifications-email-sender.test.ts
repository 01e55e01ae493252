import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import {
  type MailTransport,
  NodemailerEmailSender,
  permanentRejection,
} from '../../lambdas/notifications/adapters/email-sender';
import { notificationOf } from '../../lambdas/notifications/domain/notification';
import { EVENT_ID_HEADER, renderEmail } from '../../lambdas/notifications/domain/render-email';
import { chargedData, messageOf, subscriptionEvent } from './support/notification-fakes';

/** An SMTP error as nodemailer makes it (see NodemailerError). */
const smtpError = (responseCode: number, command: string, response: string) =>
  Object.assign(new Error(`failed: ${response}`), {
    code: command === 'DATA' ? 'EMESSAGE' : 'EENVELOPE',
    responseCode,
    command,
    response,
    permanent: responseCode >= 500 && responseCode !== 503,
  });

const email = () => {
  const event = subscriptionEvent('subscription.charged', chargedData());
  return renderEmail(notificationOf(messageOf(event)), { from: 'billing@shop.example.com' });
};

describe('permanentRejection', () => {
  it.each([
    [
      550,
      'RCPT TO',
      '550 5.1.1 <ada@example.org>: Recipient address rejected',
      'SMTP 550 5.1.1 in reply to RCPT TO',
    ],
    [553, 'RCPT TO', '553 mailbox name not allowed', 'SMTP 553 in reply to RCPT TO'],
    [552, 'DATA', '552 5.3.4 Message too big', 'SMTP 552 5.3.4 in reply to DATA'],
  ])('%d to %s is permanent (%s)', (code, command, response, reason) => {
    expect(permanentRejection(smtpError(code, command, response))).toBe(reason);
  });

  it('never quotes the reply, which may hold the address', () => {
    const reason = permanentRejection(smtpError(550, 'RCPT TO', '550 5.1.1 <ada@example.org> unknown'));
    expect(reason).not.toContain('ada');
  });

  it.each([
    ['a 4xx', smtpError(450, 'RCPT TO', '450 4.2.1 mailbox busy')],
    ['a 503', smtpError(503, 'RCPT TO', '503 5.5.1 bad sequence')],
    ['a 5xx to MAIL FROM (our sender)', smtpError(550, 'MAIL FROM', '550 5.7.1 sender not allowed')],
    ['a 5.7.x policy reply (relaying denied)', smtpError(554, 'RCPT TO', '554 5.7.1 Relay access denied')],
    ['a connection failure', Object.assign(new Error('refused'), { code: 'ESOCKET' })],
    ['an SES error', Object.assign(new Error('Email address is not verified'), { name: 'MessageRejected' })],
    ['nothing', undefined],
  ])('%s is retried', (_, error) => {
    expect(permanentRejection(error)).toBeUndefined();
  });
});

describe('NodemailerEmailSender', () => {
  it('sends the rendered email with its Message-ID and event header', async () => {
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
    const sent: Buffer[] = [];
    const sender = new NodemailerEmailSender(() => ({
      sendMail: async (mail) => {
        const info = await transport.sendMail(mail);
        sent.push(info.message as Buffer);
        return info;
      },
    }));
    const rendered = email();

    await expect(sender.send(rendered)).resolves.toEqual({ kind: 'accepted' });

    const parsed = await simpleParser(sent[0] ?? Buffer.alloc(0));
    expect(parsed.messageId).toBe(rendered.messageId);
    expect(parsed.subject).toBe(rendered.subject);
    expect(parsed.headers.get(EVENT_ID_HEADER.toLowerCase())).toBe(rendered.headers[EVENT_ID_HEADER]);
    expect(parsed.headers.get('auto-submitted')).toBe('auto-generated');
    expect(parsed.text).toBe(rendered.text);
    expect(parsed.html).toContain('pi_123');
  });

  it('makes its transport once, on the first email', async () => {
    const transport: MailTransport = { sendMail: jest.fn(async () => ({})) };
    const make = jest.fn(() => transport);
    const sender = new NodemailerEmailSender(make);
    expect(make).not.toHaveBeenCalled();
    await sender.send(email());
    await sender.send(email());
    expect(make).toHaveBeenCalledTimes(1);
  });

  it('answers a permanent rejection, and throws anything else for a retry', async () => {
    const failing = (error: Error) =>
      new NodemailerEmailSender(() => ({ sendMail: async () => Promise.reject(error) }));
    await expect(failing(smtpError(550, 'RCPT TO', '550 5.1.1 unknown user')).send(email())).resolves.toEqual(
      {
        kind: 'rejected',
        reason: 'SMTP 550 5.1.1 in reply to RCPT TO',
      },
    );
    await expect(failing(smtpError(421, 'RCPT TO', '421 try later')).send(email())).rejects.toThrow('421');
  });
});
