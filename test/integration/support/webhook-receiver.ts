import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One webhook as a receiver saw it. */
export interface ReceivedWebhook {
  readonly webhookId: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly body: {
    id: string;
    type: string;
    createdAt: string;
    storeId: string;
    data: Record<string, unknown>;
  };
  /** Whether a Standard Webhooks verifier accepted it with one of the receiver's secrets. */
  readonly verified: boolean;
  /** Which of the receiver's secrets verified it (index into `secrets`). */
  readonly verifiedWith: number[];
  readonly receivedAt: number;
  /** Every request header as Node gives them (lower-case names). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** What this receiver answered. */
  readonly answered: number | 'hang';
}

export type Behavior = (request: {
  webhookId: string;
  count: number;
}) => { status: number; headers?: Record<string, string>; delayMs?: number; body?: string } | 'hang';

/**
 * A merchant's endpoint: a real HTTP server on 127.0.0.1 that verifies every webhook with the `standardwebhooks`
 * package (what merchants use) and answers as its `behavior` says: a status, a delay, or never.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  /** Signing secrets to verify with (set once the endpoint is registered; add one on rotation). */
  secrets: string[] = [];
  behavior: Behavior = () => ({ status: 200 });
  private readonly hanging = new Set<ServerResponse>();
  private readonly counts = new Map<string, number>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((req, res) => void receiver?.handle(req, res));
    receiver = new WebhookReceiver(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  /** The deliveries of one event. */
  deliveriesOf(eventId: string): ReceivedWebhook[] {
    return this.received.filter((webhook) => webhook.webhookId === eventId);
  }

  /** Successful (2xx-answered) deliveries of each event id. */
  successes(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const webhook of this.received) {
      if (typeof webhook.answered === 'number' && webhook.answered < 300) {
        counts.set(webhook.webhookId, (counts.get(webhook.webhookId) ?? 0) + 1);
      }
    }
    return counts;
  }

  async waitFor(condition: (receiver: WebhookReceiver) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition(this)) {
      if (Date.now() > deadline) {
        throw new Error(
          `receiver ${this.url} waited ${timeoutMs} ms; it has ${this.received.length} webhook(s)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const headers = {
      'webhook-id': String(req.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
    };
    const verifiedWith = this.secrets.flatMap((secret, index) => {
      try {
        new Webhook(secret).verify(raw, headers);
        return [index];
      } catch {
        return [];
      }
    });
    const count = (this.counts.get(headers['webhook-id']) ?? 0) + 1;
    this.counts.set(headers['webhook-id'], count);
    const answer = this.behavior({ webhookId: headers['webhook-id'], count });
    this.received.push({
      webhookId: headers['webhook-id'],
      timestamp: headers['webhook-timestamp'],
      signature: headers['webhook-signature'],
      body: JSON.parse(raw),
      verified: verifiedWith.length > 0,
      verifiedWith,
      receivedAt: Date.now(),
      headers: req.headers,
      answered: answer === 'hang' ? 'hang' : answer.status,
    });
    if (answer === 'hang') {
      this.hanging.add(res);
      return;
    }
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    res.writeHead(answer.status, answer.headers).end(answer.body ?? 'ok');
  }
}
