import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../runtime/listen';
import {
  type Clock,
  type GatewayFault,
  type InjectedPaymentIntent,
  type LedgerEntry,
  type PaymentIntent,
  type RateLimit,
  rateLimited,
  type SimResponse,
  StripeSimulator,
  serverError,
} from './stripe-simulator';

/**
 * The bundled payment gateway of the local stack: the subset of Stripe's API the pipeline charges through
 * (docs/api.md section 5), served over HTTP to the official `stripe` SDK. All state and every rule live in
 * `stripe-simulator.ts` (why it is hand-written is said there); this file is transport: it parses the request,
 * asks the test's fault function what the network does to it, and writes (or withholds) the answer.
 *
 * It keeps a ledger of every PaymentIntent (what the chaos tests count), and takes injected faults: slow, a 500
 * saved under the key with or without the PaymentIntent made, a 429, garbage, hang, commit-then-hang (made, the
 * answer never arrives), and a decline of a card that otherwise works (dunning's recovery).
 */

export type {
  Clock,
  GatewayFault,
  InjectedPaymentIntent,
  LedgerEntry,
  PaymentIntent,
  PaymentIntentStatus,
  RateLimit,
} from './stripe-simulator';
export { ManualClock, RealTimeClock, StripeSimulator } from './stripe-simulator';

/**
 * Decides the fault for one create request (`POST /v1/payment_intents`) that reaches execution: a new key, or
 * none. It is not asked for a key already answered (the stored answer is replayed, whatever the network does
 * next), nor for one refused before execution (401, 403, 400).
 */
export type GatewayFaults = (request: {
  idempotencyKey?: string;
  params: Readonly<Record<string, string>>;
}) => GatewayFault;

/** What the network or Stripe does to a read (retrieve, list, search): nothing there is saved. */
export type ReadFault =
  | { readonly kind: 'none' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'error500' }
  | { readonly kind: 'rate-limit' }
  | { readonly kind: 'hang' }
  | { readonly kind: 'garbage' };

export type ReadFaults = (request: {
  method: string;
  path: string;
  query: Readonly<Record<string, string>>;
}) => ReadFault;

export interface PaymentGatewayOptions {
  /** The bearer secret clients must send. @default 'sk_test_local' */
  readonly apiKey?: string;
  /** The faults from the first request on, before a test can set `faults`. @default no fault */
  readonly faults?: GatewayFaults;
  /** @default no fault */
  readonly readFaults?: ReadFaults;
  /** @default 0 - a free port */
  readonly port?: number;
  /** Loopback only: a gateway that moves "money" on any key it is given has no business on a network. */
  readonly host?: '127.0.0.1';
  /** @default real time, which tests move forward with `clock.advance(ms)` */
  readonly clock?: Clock;
  /** How long a `processing` PaymentIntent takes to settle, on the gateway's clock. @default 10_000 */
  readonly processingDelayMs?: number;
  /** How long a new PaymentIntent stays invisible to search, on the gateway's clock. @default 60_000 */
  readonly searchDelayMs?: number;
  /** Stripe's rate limiter: 429 `rate_limit` past N requests a second (see RateLimit). @default none */
  readonly rateLimit?: RateLimit;
  /**
   * How long every request the rate limiter admits takes to answer, in real milliseconds (Stripe: 300 to 500 ms
   * for a PaymentIntent). A create's key is in flight meanwhile. A 429 answers at once, as Stripe's does.
   * @default 0
   */
  readonly latencyMs?: number;
}

const MAX_BODY_BYTES = 64 * 1024;
const GARBAGE = '<html>502 Bad Gateway</html>';

export class PaymentGateway {
  /** Decides the fault for each create request that reaches execution; tests replace it. */
  faults: GatewayFaults = () => ({ kind: 'none' });
  /** Decides the fault for each read; tests replace it. */
  readFaults: ReadFaults = () => ({ kind: 'none' });
  /** Real milliseconds every admitted request takes (see PaymentGatewayOptions.latencyMs); tests change it. */
  latencyMs = 0;
  private readonly hanging = new Set<ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly simulator: StripeSimulator,
  ) {}

  static async start(options: PaymentGatewayOptions = {}): Promise<PaymentGateway> {
    let gateway: PaymentGateway | undefined;
    const server = createServer((req, res) => {
      void gateway?.handle(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, { error: { type: 'api_error', message: 'Internal error.' } });
        else res.destroy();
      });
    });
    gateway = new PaymentGateway(
      server,
      new StripeSimulator({
        apiKey: options.apiKey ?? 'sk_test_local',
        clock: options.clock,
        processingDelayMs: options.processingDelayMs,
        searchDelayMs: options.searchDelayMs,
        rateLimit: options.rateLimit,
      }),
    );
    gateway.latencyMs = options.latencyMs ?? 0;
    if (options.faults) gateway.faults = options.faults;
    if (options.readFaults) gateway.readFaults = options.readFaults;
    await listen(server, { port: options.port });
    return gateway;
  }

  get url(): string {
    const { address, port } = this.server.address() as AddressInfo;
    return `http://${address}:${port}`;
  }

  /** The gateway's time: `clock.now()` (epoch ms) and `clock.advance(ms)`. */
  get clock(): Clock {
    return this.simulator.clock;
  }

  /** One entry per PaymentIntent ever created or injected, with its current status, in creation order. */
  get ledger(): LedgerEntry[] {
    return this.simulator.ledger();
  }

  /**
   * PaymentIntents that moved money whose metadata matches, e.g. `{ subscription_id, period }`: succeeded, or
   * processing that will settle succeeded (see LedgerEntry.outcome).
   */
  successfulCharges(metadata: Readonly<Record<string, string>> = {}): LedgerEntry[] {
    return this.simulator.successfulCharges(metadata);
  }

  /** Every PaymentIntent as `GET /v1/payment_intents/{id}` would answer it now, in creation order. */
  paymentIntents(): PaymentIntent[] {
    return this.simulator.paymentIntents();
  }

  /** Plants a PaymentIntent the pipeline never asked for (an orphan), for reconciliation tests. */
  injectPaymentIntent(input: InjectedPaymentIntent): PaymentIntent {
    return this.simulator.injectPaymentIntent(input);
  }

  /** The accepted secret key. Setting it rolls the key: the previous one answers 401 api_key_expired. */
  get apiKey(): string | undefined {
    return this.simulator.apiKey;
  }

  set apiKey(next: string | undefined) {
    this.simulator.apiKey = next;
  }

  /** Stripe's rate limiter (undefined: none); set it to start or stop answering 429 past a rate. */
  get rateLimit(): RateLimit | undefined {
    return this.simulator.rateLimit;
  }

  set rateLimit(next: RateLimit | undefined) {
    this.simulator.rateLimit = next;
  }

  /** Requests answered 429 by the rate limiter since the start (not those of a `rate-limit` fault). */
  get rateLimitedRequests(): number {
    return this.simulator.rateLimitedRequests;
  }

  /** When (the gateway's clock, epoch ms) the rate limiter answered 429, oldest first. */
  get rateLimitedAt(): readonly number[] {
    return this.simulator.rateLimitedAt;
  }

  /** Expires the current key, with no replacement until `apiKey` is set. */
  revokeKey(): void {
    this.simulator.revokeKey();
  }

  /** A restricted key lacking `read` or `write` on PaymentIntents: 403 for what it may not do. */
  addRestrictedKey(key: string, permissions: { readonly read: boolean; readonly write: boolean }): void {
    this.simulator.addRestrictedKey(key, permissions);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    if (raw === undefined) {
      return send(res, 413, {
        error: {
          type: 'invalid_request_error',
          message: `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`,
        },
      });
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (raw.length > 0 && contentType !== 'application/x-www-form-urlencoded') {
      return send(res, 400, {
        error: {
          type: 'invalid_request_error',
          message: 'Invalid request: bodies must be application/x-www-form-urlencoded.',
        },
      });
    }
    const params = parseForm(raw);
    const query = parseForm(url.search.slice(1));
    if (!params || !query) {
      return send(res, 400, {
        error: {
          type: 'invalid_request_error',
          message: 'Invalid request: the parameters are not valid form encoding.',
        },
      });
    }
    const idempotencyKey = headerValue(req.headers['idempotency-key']);
    const request = {
      method,
      path: url.pathname,
      query,
      params,
      apiKey: credentials(req.headers.authorization),
      idempotencyKey,
    };

    if (method === 'GET') {
      const fault = this.readFaults({ method, path: url.pathname, query });
      if (fault.kind === 'hang') return void this.hanging.add(res);
      if (fault.kind === 'garbage') return garbage(res);
      if (fault.kind === 'error500') return reply(res, serverError(), undefined);
      if (fault.kind === 'rate-limit') return reply(res, rateLimited(), undefined);
      if (fault.kind === 'delay') await this.sleep(fault.ms);
    }

    const handled = this.simulator.handle(request);
    // The time Stripe takes, for everything its rate limiter let through.
    const working = handled.kind === 'admitted' || handled.response.status !== 429;
    if (working && this.latencyMs > 0) {
      try {
        await this.sleep(this.latencyMs);
      } catch (error) {
        if (handled.kind === 'admitted') handled.attempt.abandon();
        throw error;
      }
    }
    if (handled.kind === 'answer') return reply(res, handled.response, idempotencyKey);
    const { attempt } = handled;
    let fault: GatewayFault;
    try {
      fault = this.faults({ idempotencyKey, params });
    } catch (error) {
      // A broken fault function must not leave the key in flight (409) for the rest of the test.
      attempt.abandon();
      throw error;
    }
    // The key stays in flight through the delay: a concurrent request with it meets 409, as at Stripe.
    if (fault.kind === 'delay') await this.sleep(fault.ms);
    const delivered = attempt.apply(fault);
    if (delivered.delivery === 'hang') return void this.hanging.add(res);
    if (delivered.delivery === 'garbage') return garbage(res);
    reply(res, delivered.response, idempotencyKey);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

/** Strict form decoding: a malformed escape is a 400, not a parameter silently read as something else. */
function parseForm(raw: string): Record<string, string> | undefined {
  const entries: [string, string][] = [];
  try {
    for (const pair of raw.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const decode = (text: string) => decodeURIComponent(text.replace(/\+/g, ' '));
      entries.push(eq < 0 ? [decode(pair), ''] : [decode(pair.slice(0, eq)), decode(pair.slice(eq + 1))]);
    }
  } catch {
    return undefined;
  }
  // fromEntries defines own properties: a `__proto__` parameter stays a parameter.
  return Object.fromEntries(entries);
}

/** Bearer, as the SDK sends it, or Basic with the key as user name, as `curl -u sk_test_…:` does. */
function credentials(authorization: string | undefined): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (bearer) return bearer;
  const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!basic) return undefined;
  return Buffer.from(basic, 'base64').toString('utf8').split(':')[0] || undefined;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, answer: SimResponse, idempotencyKey: string | undefined): void {
  res.writeHead(answer.status, {
    'content-type': 'application/json',
    ...answer.headers,
    ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
    'request-id': `req_${randomBytes(8).toString('hex')}`,
  });
  res.end(JSON.stringify(answer.body));
}

/** A 200 whose body is not JSON: what a broken proxy in front of a gateway answers. */
function garbage(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(GARBAGE);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
