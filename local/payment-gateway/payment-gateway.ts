import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The bundled payment gateway of the local stack: the subset of Stripe's API the pipeline charges through
 * (CONTRACT.md section 5), with Stripe's idempotency rules. The pipeline talks to it with the official `stripe`
 * SDK. Hand-written because no package serves Stripe's API offline with its idempotency semantics
 * (stripe-mock answers fixtures and keeps no state, so it cannot replay a key).
 *
 * It also keeps a ledger of every charge it made (what the chaos tests count) and takes injected faults: slow,
 * 500, garbage, hang, the nastiest one, commit-then-hang (the charge is made, the answer never arrives), and a
 * decline of a card that otherwise works (dunning's recovery).
 */

export interface PaymentIntent {
  readonly id: string;
  readonly object: 'payment_intent';
  readonly amount: number;
  readonly currency: string;
  readonly status: 'succeeded';
  readonly payment_method: string;
  readonly confirm: boolean;
  readonly off_session: boolean;
  readonly metadata: Readonly<Record<string, string>>;
  readonly created: number;
}

/** A charge the gateway made or declined, as the ledger keeps it. */
export interface LedgerEntry {
  readonly idempotencyKey?: string;
  readonly outcome: 'succeeded' | 'declined';
  readonly amount: number;
  readonly currency: string;
  readonly paymentMethod: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly paymentIntentId?: string;
  readonly declineCode?: string;
}

/** What the gateway does with one request, decided by the test's fault function. */
export type GatewayFault =
  | { readonly kind: 'none' }
  /** Answer (correctly) after a delay. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** 500 without charging and without recording the key, as Stripe does for its own errors. */
  | { readonly kind: 'error500' }
  /** 200 with a body that is not JSON; `commit` says whether the charge was made first. */
  | { readonly kind: 'garbage'; readonly commit: boolean }
  /** Never answer; nothing is charged, the key is not recorded. */
  | { readonly kind: 'hang' }
  /** Charge and record the key, then never answer: the client times out on a charge that happened. */
  | { readonly kind: 'commit-then-hang' }
  /**
   * Decline this request as the card would (402 card_error, recorded under its key and in the ledger), whatever
   * its payment method: a card that fails once and works on the next attempt, with nothing changed on its side.
   */
  | { readonly kind: 'decline'; readonly declineCode?: string };

/** Decides the fault for one request (tests replace it, or pass one at start). */
export type GatewayFaults = (request: {
  idempotencyKey?: string;
  params: Readonly<Record<string, string>>;
}) => GatewayFault;

export interface PaymentGatewayOptions {
  /** The bearer secret clients must send. @default 'sk_test_local' */
  readonly apiKey?: string;
  /** The faults from the first request on, before a test can set `faults`. @default no fault */
  readonly faults?: GatewayFaults;
  /** @default 0 - a free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

const DECLINES: Readonly<Record<string, { code: string; declineCode: string; message: string }>> = {
  pm_card_chargeDeclined: {
    code: 'card_declined',
    declineCode: 'generic_decline',
    message: 'Your card was declined.',
  },
  pm_card_chargeDeclinedInsufficientFunds: {
    code: 'card_declined',
    declineCode: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
};

/** What the `decline` fault answers unless it names another decline code. */
const FORCED_DECLINE = {
  code: 'card_declined',
  declineCode: 'generic_decline',
  message: 'Your card was declined.',
} as const;

const IDEMPOTENCY_KEY_RETENTION_MS = 24 * 3_600_000;
const MAX_BODY_BYTES = 64 * 1024;

interface StoredAnswer {
  readonly paramsDigest: string;
  readonly state: 'in_flight' | 'done';
  readonly status?: number;
  readonly body?: string;
  readonly at: number;
}

export class PaymentGateway {
  readonly ledger: LedgerEntry[] = [];
  /** Decides the fault for each request; tests replace it. */
  faults: GatewayFaults = () => ({ kind: 'none' });
  private readonly keys = new Map<string, StoredAnswer>();
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    private readonly apiKey: string,
  ) {}

  static async start(options: PaymentGatewayOptions = {}): Promise<PaymentGateway> {
    let gateway: PaymentGateway | undefined;
    const server = createServer((req, res) => {
      void gateway?.handle(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, { error: { type: 'api_error', message: 'Internal error.' } });
      });
    });
    gateway = new PaymentGateway(server, options.apiKey ?? 'sk_test_local');
    if (options.faults) gateway.faults = options.faults;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    return gateway;
  }

  get url(): string {
    const { address, port } = this.server.address() as AddressInfo;
    return `http://${address}:${port}`;
  }

  /** Successful charges whose metadata matches, e.g. `{ subscription_id, period }`. */
  successfulCharges(metadata: Readonly<Record<string, string>> = {}): LedgerEntry[] {
    return this.ledger.filter(
      (entry) =>
        entry.outcome === 'succeeded' && Object.entries(metadata).every(([k, v]) => entry.metadata[k] === v),
    );
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://gateway').pathname;
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) {
      return send(res, 401, {
        error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' },
      });
    }
    if (req.method !== 'POST' || path !== '/v1/payment_intents') {
      return send(res, 404, {
        error: {
          type: 'invalid_request_error',
          message: `Unrecognized request URL (${req.method}: ${path}).`,
        },
      });
    }
    const raw = await readBody(req);
    if (raw === undefined)
      return send(res, 413, { error: { type: 'invalid_request_error', message: 'Too large.' } });
    const params = Object.fromEntries(new URLSearchParams(raw).entries());
    const idempotencyKey = headerValue(req.headers['idempotency-key']);

    // A known key is answered at once by Stripe's rules, whatever fault is injected: the fault is the network's
    // or the gateway's, and the stored answer is already decided.
    const known = idempotencyKey ? this.knownKey(idempotencyKey, params) : undefined;
    if (known) return reply(res, known, idempotencyKey);
    if (idempotencyKey)
      this.keys.set(idempotencyKey, {
        paramsDigest: paramsDigest(params),
        state: 'in_flight',
        at: Date.now(),
      });
    const forget = () => {
      if (idempotencyKey) this.keys.delete(idempotencyKey);
    };

    const fault = this.faults({ idempotencyKey, params });
    if (fault.kind === 'hang') {
      forget();
      return void this.hanging.add(res);
    }
    if (fault.kind === 'error500') {
      forget();
      return send(res, 500, { error: { type: 'api_error', message: 'An unexpected error occurred.' } });
    }
    if (fault.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (fault.kind === 'garbage' && !fault.commit) {
      // Before charging: an uncommitted garbage answer must leave nothing in the ledger, or a test would count a
      // charge that never happened (and the same key, asked again, would add a second one).
      forget();
      return garbage(res);
    }

    const answer = this.charge(idempotencyKey, params, fault.kind === 'decline' ? fault : undefined);
    if (idempotencyKey) {
      this.keys.set(idempotencyKey, {
        paramsDigest: paramsDigest(params),
        state: 'done',
        at: Date.now(),
        ...answer,
      });
    }
    if (fault.kind === 'commit-then-hang') return void this.hanging.add(res);
    if (fault.kind === 'garbage') return garbage(res);
    reply(res, { ...answer, replayed: false }, idempotencyKey);
  }

  /**
   * Stripe's rules for a key seen in the last 24 h: other params → 400; in flight → 409; else the stored answer.
   * Undefined for a new key.
   */
  private knownKey(
    idempotencyKey: string,
    params: Readonly<Record<string, string>>,
  ): { status: number; body: string; replayed: boolean } | undefined {
    const stored = this.keys.get(idempotencyKey);
    if (!stored || Date.now() - stored.at >= IDEMPOTENCY_KEY_RETENTION_MS) return undefined;
    if (stored.paramsDigest !== paramsDigest(params)) {
      return {
        status: 400,
        body: JSON.stringify({
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          },
        }),
        replayed: false,
      };
    }
    if (stored.state === 'in_flight') {
      return {
        status: 409,
        body: JSON.stringify({
          error: {
            type: 'idempotency_error',
            code: 'idempotency_key_in_use',
            message: 'There is currently another in-progress request using this Idempotent Key.',
          },
        }),
        replayed: false,
      };
    }
    return { status: stored.status ?? 500, body: stored.body ?? '', replayed: true };
  }

  private charge(
    idempotencyKey: string | undefined,
    params: Readonly<Record<string, string>>,
    forcedDecline?: { readonly declineCode?: string },
  ): { status: number; body: string } {
    const invalid = validate(params);
    if (invalid) {
      return {
        status: 400,
        body: JSON.stringify({
          error: { type: 'invalid_request_error', param: invalid.param, message: invalid.message },
        }),
      };
    }
    const amount = Number(params.amount);
    const currency = (params.currency ?? '').toLowerCase();
    const paymentMethod = params.payment_method ?? '';
    const metadata = metadataOf(params);
    const decline = forcedDecline
      ? { ...FORCED_DECLINE, declineCode: forcedDecline.declineCode ?? FORCED_DECLINE.declineCode }
      : DECLINES[paymentMethod];
    if (decline) {
      this.ledger.push({
        idempotencyKey,
        outcome: 'declined',
        amount,
        currency,
        paymentMethod,
        metadata,
        declineCode: decline.declineCode,
      });
      return {
        status: 402,
        body: JSON.stringify({
          error: {
            type: 'card_error',
            code: decline.code,
            decline_code: decline.declineCode,
            message: decline.message,
          },
        }),
      };
    }
    const intent: PaymentIntent = {
      id: `pi_${randomBytes(12).toString('hex')}`,
      object: 'payment_intent',
      amount,
      currency,
      status: 'succeeded',
      payment_method: paymentMethod,
      confirm: params.confirm === 'true',
      off_session: params.off_session === 'true',
      metadata,
      created: Math.floor(Date.now() / 1000),
    };
    this.ledger.push({
      idempotencyKey,
      outcome: 'succeeded',
      amount,
      currency,
      paymentMethod,
      metadata,
      paymentIntentId: intent.id,
    });
    return { status: 200, body: JSON.stringify(intent) };
  }
}

function validate(params: Readonly<Record<string, string>>): { param: string; message: string } | undefined {
  if (!/^[1-9]\d{0,11}$/.test(params.amount ?? '')) {
    return { param: 'amount', message: 'Invalid positive integer: amount.' };
  }
  if (!/^[a-zA-Z]{3}$/.test(params.currency ?? ''))
    return { param: 'currency', message: 'Invalid currency.' };
  if (!params.payment_method)
    return { param: 'payment_method', message: 'Missing required param: payment_method.' };
  return undefined;
}

function metadataOf(params: Readonly<Record<string, string>>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    const match = /^metadata\[(.+)\]$/.exec(key);
    if (match?.[1]) metadata[match[1]] = value;
  }
  return metadata;
}

function paramsDigest(params: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : 1)));
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

function reply(
  res: ServerResponse,
  answer: { status: number; body: string; replayed: boolean },
  idempotencyKey: string | undefined,
): void {
  res.writeHead(answer.status, {
    'content-type': 'application/json',
    ...(answer.replayed ? { 'idempotent-replayed': 'true' } : {}),
    ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
    'request-id': `req_${randomBytes(8).toString('hex')}`,
  });
  res.end(answer.body);
}

/** A 200 whose body is not JSON: what a broken proxy in front of a gateway answers. */
function garbage(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end('<html>502 Bad Gateway</html>');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
