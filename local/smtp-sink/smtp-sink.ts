import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { listen } from '../runtime/listen';

/**
 * The local stack's mail sink: an SMTP server on 127.0.0.1 that accepts every message and keeps it, so receipts,
 * payment-failed and cancellation notices can be read back (by tests, or a developer through the summary).
 * In AWS, mail goes through SES instead.
 */
export interface SunkMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly messageId?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly receivedAt: number;
}

export interface SmtpSinkOptions {
  /** @default 0 - a free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

const MAX_MESSAGE_BYTES = 1024 * 1024;

export class SmtpSink {
  readonly mails: SunkMail[] = [];

  private constructor(private readonly server: SMTPServer) {}

  static async start(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
    let sink: SmtpSink | undefined;
    const server = new SMTPServer({
      // Loopback only and no credentials: it is a sink for one machine, not a relay.
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      size: MAX_MESSAGE_BYTES,
      logger: false,
      // stop() waits this long, not smtp-server's 30 s, for a client that keeps its connection open (a pooled
      // transport in a function): the local stack's stop should not hang on a sink.
      closeTimeout: 1000,
      onData(stream, session, callback) {
        simpleParser(stream)
          .then((parsed) => {
            sink?.mails.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              messageId: parsed.messageId,
              headers: Object.fromEntries([...parsed.headers.entries()].map(([k, v]) => [k, String(v)])),
              receivedAt: Date.now(),
            });
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
    sink = new SmtpSink(server);
    await listen(server, options);
    return sink;
  }

  /** `smtp://127.0.0.1:<port>`, the value for SMTP_URL. */
  get url(): string {
    const { address, port } = this.server.server.address() as AddressInfo;
    return `smtp://${address}:${port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
