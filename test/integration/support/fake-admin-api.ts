import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a test scripts the fake API to answer. */
export type Answer = { status: number; body?: unknown };

/** A request the fake admin API received. */
export interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

/** A problem+json answer, as the real API's. */
export function problem(status: number, title: string, detail: string): Answer {
  return { status, body: { type: `urn:commerce-pipeline:problem:${status}`, title, status, detail } };
}

/**
 * The admin API of the CLI tests, on 127.0.0.1: it records every request, checks the bearer key as the real API
 * does, and answers what the test's `route` says (problem+json for 4xx and 5xx).
 */
export class FakeAdminApi {
  readonly received: Received[] = [];

  private constructor(
    private readonly server: Server,
    private readonly adminKey: string,
    private readonly route: (request: Received) => Answer,
  ) {}

  static async start(adminKey: string, route: (request: Received) => Answer): Promise<FakeAdminApi> {
    let api: FakeAdminApi | undefined;
    const server = createServer((req, res) => void api?.handle(req, res));
    api = new FakeAdminApi(server, adminKey, route);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return api;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const request: Received = {
      method: req.method ?? '',
      path: new URL(req.url ?? '/', 'http://api').pathname,
      headers: req.headers,
      body: text ? JSON.parse(text) : undefined,
    };
    this.received.push(request);
    const answer =
      req.headers.authorization === `Bearer ${this.adminKey}`
        ? this.route(request)
        : problem(401, 'Unauthorized', 'A valid admin API key is required.');
    res.writeHead(answer.status, {
      'content-type': answer.status >= 400 ? 'application/problem+json' : 'application/json',
    });
    res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
  }
}
