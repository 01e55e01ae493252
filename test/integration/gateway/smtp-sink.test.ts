import nodemailer from 'nodemailer';
import { SmtpSink } from '../../../local/smtp-sink/smtp-sink';

describe('local SMTP sink', () => {
  it('accepts mail sent with nodemailer over SMTP and keeps it', async () => {
    const sink = await SmtpSink.start();
    try {
      expect(sink.url).toMatch(/^smtp:\/\/127\.0\.0\.1:\d+$/);
      const transport = nodemailer.createTransport(sink.url);
      await transport.sendMail({
        from: 'billing@example.com',
        to: 'buyer@example.com',
        subject: 'Your receipt',
        text: 'Thanks for your payment of $19.99.',
      });
      expect(sink.mails).toEqual([
        expect.objectContaining({
          from: 'billing@example.com',
          to: ['buyer@example.com'],
          subject: 'Your receipt',
          text: expect.stringContaining('$19.99'),
        }),
      ]);
    } finally {
      await sink.stop();
    }
  });
});
