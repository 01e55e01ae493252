import { randomBytes } from 'node:crypto';

/**
 * The state and the rules of the bundled payment gateway (docs/api.md section 5), free of HTTP so that unit tests
 * can drive it with a clock they move: hours of idempotency-key life, bank debits settling, search catching up,
 * all in microseconds. `payment-gateway.ts` is the thin HTTP server over it that the pipeline's `stripe` SDK talks
 * to.
 *
 * Why hand-written: no package serves Stripe's API offline with Stripe's state. stripe-mock answers OpenAPI
 * fixtures and keeps nothing, so it cannot replay an Idempotency-Key (let alone a stored 500), find a PaymentIntent
 * by its metadata a minute later, or settle a `processing` one; and those are exactly the behaviours the charge
 * path must survive. What is simulated follows Stripe's documentation:
 * - Idempotency (docs.stripe.com/api/idempotent_requests): the status and body of the first request of a key are
 *   saved once the endpoint began executing and replayed for the same key, 500s included; other parameters →
 *   400 idempotency_error; a request while the first is running → 409 idempotency_key_in_use. Nothing is saved
 *   for a request refused before execution: the docs name failed parameter validation (400) and a concurrent
 *   conflict (409); authentication (401, 403) and the rate limiter (429) refuse before any endpoint runs too. Such
 *   a request may be sent again with its key. Keys are pruned once 24 h old; the same key is then a new request.
 *   A replay is the saved answer, not the object as it is now: a `processing` one replays `processing` for its
 *   key's 24 h, and only a GET tells how it settled.
 * - PaymentIntents are stored objects: a decline creates one (requires_payment_method, `last_payment_error`) and
 *   the 402 carries it in `error.payment_intent`; a bank debit answers `processing` and settles later.
 * - Search (docs.stripe.com/search): the query language's clauses, and data searchable only after a delay ("under
 *   normal operating conditions, data is searchable in under 1 minute"), while list and retrieve are current.
 *
 * Every time-based rule reads `clock`, never Date.now(), so a test moves time with `clock.advance(ms)`.
 */

export const IDEMPOTENCY_KEY_RETENTION_MS = 24 * 3_600_000;
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const ACCOUNT = 'acct_local';

/** The gateway's notion of now (epoch ms). */
export interface Clock {
  now(): number;
  /** Moves time forward; never back, since nothing Stripe keeps is younger than what it already answered. */
  advance(ms: number): void;
}

/** Real time plus whatever tests advanced it by: the default of a running gateway. */
export class RealTimeClock implements Clock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += checkedAdvance(ms);
  }
}

/** Stands still unless advanced: unit tests, where real milliseconds passing would make answers flaky. */
export class ManualClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += checkedAdvance(ms);
  }
}

function checkedAdvance(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`The clock only moves forward (got ${ms} ms).`);
  return ms;
}

export type PaymentIntentStatus = 'succeeded' | 'processing' | 'requires_payment_method';

/** Stripe's error object, as a decline's 402 and a PaymentIntent's `last_payment_error` carry it. */
export interface PaymentError {
  readonly type: 'card_error';
  readonly code: string;
  readonly decline_code: string;
  readonly message: string;
  readonly doc_url: string;
  readonly param?: string;
}

export interface PaymentIntent {
  readonly id: string;
  readonly object: 'payment_intent';
  readonly amount: number;
  readonly amount_received: number;
  readonly currency: string;
  readonly status: PaymentIntentStatus;
  readonly payment_method: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Unix seconds, as Stripe. */
  readonly created: number;
  readonly livemode: false;
  readonly last_payment_error: PaymentError | null;
}

/** One PaymentIntent as the ledger keeps it: what the chaos tests count. */
export interface LedgerEntry {
  readonly paymentIntentId: string;
  readonly idempotencyKey?: string;
  /**
   * Where the PaymentIntent ends, known from its payment method at creation: `succeeded` if it moved money or will
   * (a `processing` one that settles succeeded counts already, so that "at most one charge moved money" is judged
   * before the settlement), `declined` otherwise.
   */
  readonly outcome: 'succeeded' | 'declined';
  /** What a client reading it now sees. */
  readonly status: PaymentIntentStatus;
  readonly amount: number;
  readonly currency: string;
  readonly paymentMethod: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly declineCode?: string;
  /** Unix seconds. */
  readonly created: number;
  /** Planted by `injectPaymentIntent`: money the pipeline never asked for. */
  readonly injected?: true;
}

/**
 * What the gateway does with one create request that reached execution, decided by the test's fault function.
 * Faults model the network or Stripe's own failures; what they leave stored follows Stripe.
 */
export type GatewayFault =
  | { readonly kind: 'none' }
  /** Answer (correctly) after a delay; the key is in flight meanwhile (a second request gets 409). */
  | { readonly kind: 'delay'; readonly ms: number }
  /**
   * Stripe failed while executing: a 500, saved under the key and replayed to every retry with it for 24 h.
   * `commit` says whether the PaymentIntent was made before the failure (default: not).
   */
  | { readonly kind: 'error500'; readonly commit?: boolean }
  /** 429 rate_limit, refused before execution: nothing made, nothing saved, the key may be sent again. */
  | { readonly kind: 'rate-limit' }
  /** 200 with a body that is not JSON (a broken proxy); `commit` says whether Stripe made and saved it behind. */
  | { readonly kind: 'garbage'; readonly commit: boolean }
  /** The request never arrives and never gets an answer: nothing made, nothing saved. */
  | { readonly kind: 'hang' }
  /** Made and saved, then the answer is lost: the client times out on a charge that happened. */
  | { readonly kind: 'commit-then-hang' }
  /**
   * Decline this request as the card would (402 card_error, saved under its key), whatever its payment method: a
   * card that fails once and works on the next attempt with nothing changed on its side.
   */
  | { readonly kind: 'decline'; readonly declineCode?: string };

export interface SimRequest {
  readonly method: string;
  /** e.g. `/v1/payment_intents/search`, without the query string. */
  readonly path: string;
  /** Query-string parameters, already decoded (`created[gte]` stays a flat key, as on the wire). */
  readonly query?: Readonly<Record<string, string>>;
  /** Form-encoded body parameters, already decoded. */
  readonly params?: Readonly<Record<string, string>>;
  /** The secret key from the Authorization header, if any. */
  readonly apiKey?: string;
  readonly idempotencyKey?: string;
}

export interface SimResponse {
  readonly status: number;
  /** A JSON-serialisable value. */
  readonly body: unknown;
  /** Lower-case names: idempotent-replayed, stripe-should-retry. */
  readonly headers: Readonly<Record<string, string>>;
}

/** What reaches the client: an answer, a non-JSON body, or nothing at all. */
export type Delivered =
  | { readonly delivery: 'answer'; readonly response: SimResponse }
  | { readonly delivery: 'garbage' }
  | { readonly delivery: 'hang' };

/**
 * A create request past authentication, idempotency and validation: its key is in flight until `apply` (or
 * `abandon`) runs. The HTTP layer holds it across a `delay` fault so that a concurrent request sees 409.
 */
export interface CreateAttempt {
  readonly idempotencyKey?: string;
  readonly params: Readonly<Record<string, string>>;
  /** Executes it as the fault says, saves what Stripe would save, and says what reaches the client. */
  apply(fault: GatewayFault): Delivered;
  /** Refused after all (the fault function threw, say): nothing made, nothing saved. */
  abandon(): void;
}

export type Handled =
  | { readonly kind: 'answer'; readonly response: SimResponse }
  | { readonly kind: 'admitted'; readonly attempt: CreateAttempt };

export interface SimulatorOptions {
  /** The secret key clients must send. @default 'sk_test_local' */
  readonly apiKey?: string;
  /** @default a RealTimeClock */
  readonly clock?: Clock;
  /** How long a `processing` PaymentIntent takes to settle, on the clock. @default 10_000 */
  readonly processingDelayMs?: number;
  /** How long after creation a PaymentIntent becomes findable by search, on the clock. @default 60_000 */
  readonly searchDelayMs?: number;
  /** Stripe's rate limiter: 429 `rate_limit` past this many requests a second. @default none */
  readonly rateLimit?: RateLimit;
}

/**
 * A request rate past which the gateway answers 429 `rate_limit`, as Stripe's rate limiter does (docs.stripe.com/
 * rate-limits: requests per second per account, every endpoint counted). It runs after authentication and before
 * anything else, so a refused request makes nothing and saves nothing under its key: it may be sent again with it.
 * Refused requests do not count against the limit.
 */
export interface RateLimit {
  /** Requests admitted per window of 1 s; 0 refuses every request. */
  readonly requestsPerSecond: number;
  /**
   * `sliding`: at most that many in any 1 s (the strictest reading of "per second"); `fixed`: per second of the
   * clock (`floor(now / 1000)`), as a counter keyed by the second would count.
   * @default 'sliding'
   */
  readonly window?: 'sliding' | 'fixed';
}

export interface InjectedPaymentIntent {
  readonly amount: number;
  readonly currency: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** `processing` settles to `succeeded` after the processing delay. @default 'succeeded' */
  readonly status?: PaymentIntentStatus;
  /** Unix seconds. @default now */
  readonly created?: number;
  /** @default 'pm_card_visa' */
  readonly paymentMethod?: string;
}

const docUrl = (code: string) => `https://stripe.com/docs/error-codes/${code.replaceAll('_', '-')}`;

function cardError(code: string, declineCode: string, message: string, param?: string): PaymentError {
  return {
    type: 'card_error',
    code,
    decline_code: declineCode,
    message,
    doc_url: docUrl(code),
    ...(param ? { param } : {}),
  };
}

/**
 * The test payment methods (docs/api.md section 5, after docs.stripe.com/testing#declined-payments). An expired
 * card's `code` is `expired_card` (not card_declined), as Stripe answers it; its `decline_code` says the same.
 */
const DECLINES: Readonly<Record<string, PaymentError>> = {
  pm_card_chargeDeclined: cardError('card_declined', 'generic_decline', 'Your card was declined.'),
  pm_card_chargeDeclinedInsufficientFunds: cardError(
    'card_declined',
    'insufficient_funds',
    'Your card has insufficient funds.',
  ),
  // Stripe tells the payer no more than "declined" for a card reported stolen.
  pm_card_chargeDeclinedStolenCard: cardError('card_declined', 'stolen_card', 'Your card was declined.'),
  pm_card_chargeDeclinedExpiredCard: cardError(
    'expired_card',
    'expired_card',
    'Your card has expired.',
    'exp_month',
  ),
};

/**
 * A failed bank debit. Real ACH/SEPA failures carry the bank's return reason in `code` and often no
 * `decline_code`; here it is shaped as a generic card decline because docs/api.md section 5 has the pipeline read
 * `last_payment_error.decline_code`, and generic_decline is the one code every dunning schedule treats as soft.
 */
const BANK_DEBIT_FAILURE = cardError('card_declined', 'generic_decline', 'The bank debit failed.');

const PROCESSING: Readonly<Record<string, 'succeeded' | PaymentError>> = {
  pm_test_processing_succeeds: 'succeeded',
  pm_test_processing_fails: BANK_DEBIT_FAILURE,
};

interface IntentRecord {
  readonly seq: number;
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly paymentMethod: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly createdMs: number;
  readonly searchableAt: number;
  readonly idempotencyKey?: string;
  readonly injected: boolean;
  readonly fate: 'succeeded' | 'declined';
  status: PaymentIntentStatus;
  lastError: PaymentError | null;
  settlement?: { readonly at: number; readonly to: 'succeeded' | PaymentError };
}

interface KeyRecord {
  readonly digest: string;
  /** Unset while the first request is in flight. */
  answer?: SimResponse;
  storedAt?: number;
}

export class StripeSimulator {
  readonly clock: Clock;
  readonly processingDelayMs: number;
  readonly searchDelayMs: number;
  private currentKey: string | undefined;
  private readonly revoked = new Set<string>();
  private readonly restricted = new Map<string, { readonly read: boolean; readonly write: boolean }>();
  private readonly intents: IntentRecord[] = [];
  private readonly byId = new Map<string, IntentRecord>();
  private readonly unsettled = new Set<IntentRecord>();
  private readonly keys = new Map<string, KeyRecord>();
  private seq = 0;
  /** The rate limiter (see RateLimit); tests change it while the gateway runs. Undefined: no limit. */
  rateLimit: RateLimit | undefined;
  /** Times (clock ms) of the requests admitted in the last second: the sliding window's count. */
  private readonly admittedAt: number[] = [];
  private fixedWindow = { second: Number.NaN, count: 0 };
  /** When (clock ms) the rate limiter refused a request with 429, since the start (the last 100,000). */
  readonly rateLimitedAt: number[] = [];

  /** Requests the rate limiter refused with 429, since the start. */
  get rateLimitedRequests(): number {
    return this.rateLimitedTotal;
  }
  private rateLimitedTotal = 0;

  constructor(options: SimulatorOptions = {}) {
    this.clock = options.clock ?? new RealTimeClock();
    this.currentKey = options.apiKey ?? 'sk_test_local';
    this.processingDelayMs = options.processingDelayMs ?? 10_000;
    this.searchDelayMs = options.searchDelayMs ?? 60_000;
    this.rateLimit = options.rateLimit;
  }

  /** The secret key requests must carry; undefined once revoked without a replacement. */
  get apiKey(): string | undefined {
    return this.currentKey;
  }

  /** Rolls the key, as the Dashboard does: the old one now answers 401 api_key_expired. */
  set apiKey(next: string | undefined) {
    if (this.currentKey && this.currentKey !== next) this.revoked.add(this.currentKey);
    if (next) this.revoked.delete(next);
    this.currentKey = next;
  }

  /** Expires the current key with no replacement: every request answers 401 api_key_expired until `apiKey` is set. */
  revokeKey(): void {
    this.apiKey = undefined;
  }

  /** A restricted key (rk_…) that is valid but lacks a permission: 403 for what it may not do. */
  addRestrictedKey(key: string, permissions: { readonly read: boolean; readonly write: boolean }): void {
    this.restricted.set(key, permissions);
  }

  /**
   * Answers a request, or admits a create request for execution. The admitted attempt's key is in flight until
   * it is applied; `send` does both at once.
   */
  handle(request: SimRequest): Handled {
    this.settleDue();
    const answer = (response: SimResponse): Handled => ({ kind: 'answer', response });
    const denied = this.authenticate(request);
    if (denied) return answer(denied);
    if (!this.admitRate()) {
      this.rateLimitedTotal += 1;
      this.rateLimitedAt.push(this.clock.now());
      if (this.rateLimitedAt.length > 100_000) this.rateLimitedAt.shift();
      return answer(rateLimited());
    }
    const path = request.path.length > 1 ? request.path.replace(/\/+$/, '') : request.path;
    const query = request.query ?? {};
    if (path === '/v1/payment_intents' && request.method === 'POST') return this.create(request);
    if (request.method === 'GET') {
      if (path === '/v1/payment_intents') return answer(this.list(query));
      if (path === '/v1/payment_intents/search') return answer(this.search(query));
      const id = /^\/v1\/payment_intents\/([^/]+)$/.exec(path)?.[1];
      if (id !== undefined) return answer(this.retrieve(id));
    }
    return answer(
      invalidRequest(404, {
        message: `Unrecognized request URL (${request.method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      }),
    );
  }

  /** `handle`, then the fault applied at once to an admitted create request. */
  send(request: SimRequest, fault: GatewayFault = { kind: 'none' }): Delivered {
    const handled = this.handle(request);
    return handled.kind === 'answer'
      ? { delivery: 'answer', response: handled.response }
      : handled.attempt.apply(fault);
  }

  /** Every PaymentIntent with its current status, in creation order. */
  paymentIntents(): PaymentIntent[] {
    this.settleDue();
    return this.intents.map((record) => this.view(record));
  }

  /** One entry per PaymentIntent, in creation order (see LedgerEntry). */
  ledger(): LedgerEntry[] {
    this.settleDue();
    return this.intents.map((record) => ({
      paymentIntentId: record.id,
      ...(record.idempotencyKey !== undefined ? { idempotencyKey: record.idempotencyKey } : {}),
      outcome: record.fate,
      status: record.status,
      amount: record.amount,
      currency: record.currency,
      paymentMethod: record.paymentMethod,
      metadata: record.metadata,
      ...(declineCodeOf(record) ? { declineCode: declineCodeOf(record) } : {}),
      created: Math.floor(record.createdMs / 1000),
      ...(record.injected ? { injected: true as const } : {}),
    }));
  }

  /**
   * PaymentIntents that moved money or will (outcome `succeeded`: succeeded, or processing that settles
   * succeeded) whose metadata includes `metadata`.
   */
  successfulCharges(metadata: Readonly<Record<string, string>> = {}): LedgerEntry[] {
    return this.ledger().filter(
      (entry) =>
        entry.outcome === 'succeeded' && Object.entries(metadata).every(([k, v]) => entry.metadata[k] === v),
    );
  }

  /**
   * Plants a PaymentIntent nobody asked this gateway for (money moved that the pipeline never recorded), for
   * reconciliation tests. It is listed at once and searchable `searchDelayMs` after its `created`.
   */
  injectPaymentIntent(input: InjectedPaymentIntent): PaymentIntent {
    const createdMs = input.created !== undefined ? input.created * 1000 : this.clock.now();
    const status = input.status ?? 'succeeded';
    const record = this.record({
      amount: input.amount,
      currency: input.currency.toLowerCase(),
      paymentMethod: input.paymentMethod ?? 'pm_card_visa',
      metadata: { ...(input.metadata ?? {}) },
      createdMs,
      injected: true,
      fate: status === 'requires_payment_method' ? 'declined' : 'succeeded',
      status,
      lastError: status === 'requires_payment_method' ? (DECLINES.pm_card_chargeDeclined ?? null) : null,
      settlement:
        status === 'processing' ? { at: createdMs + this.processingDelayMs, to: 'succeeded' } : undefined,
    });
    this.settleDue();
    return this.view(record);
  }

  /** Counts one request against the rate limit; false when it is over (the request is refused, not counted). */
  private admitRate(): boolean {
    const limit = this.rateLimit;
    if (!limit) return true;
    const now = this.clock.now();
    if (limit.window === 'fixed') {
      const second = Math.floor(now / 1000);
      if (this.fixedWindow.second !== second) this.fixedWindow = { second, count: 0 };
      if (this.fixedWindow.count >= limit.requestsPerSecond) return false;
      this.fixedWindow.count += 1;
      return true;
    }
    while (this.admittedAt.length > 0 && (this.admittedAt[0] as number) <= now - 1000)
      this.admittedAt.shift();
    if (this.admittedAt.length >= limit.requestsPerSecond) return false;
    this.admittedAt.push(now);
    return true;
  }

  private authenticate(request: SimRequest): SimResponse | undefined {
    const key = request.apiKey;
    if (!key) {
      return invalidRequest(401, {
        message:
          "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
      });
    }
    if (key === this.currentKey) return undefined;
    if (this.revoked.has(key)) {
      return invalidRequest(401, {
        code: 'api_key_expired',
        message: `Expired API Key provided: ${redact(key)}`,
      });
    }
    const permissions = this.restricted.get(key);
    if (permissions) {
      const write = request.method !== 'GET';
      if (write ? permissions.write : permissions.read) return undefined;
      const needed = write ? 'rak_payment_intent_write' : 'rak_payment_intent_read';
      return invalidRequest(403, {
        message: `The provided key '${redact(key)}' does not have the required permissions for this endpoint on account '${ACCOUNT}'. Having the '${needed}' permission would allow this request to continue.`,
      });
    }
    return invalidRequest(401, { message: `Invalid API Key provided: ${redact(key)}` });
  }

  private create(request: SimRequest): Handled {
    const params = request.params ?? {};
    const key = request.idempotencyKey;
    const digest = paramsDigest(params);
    if (key !== undefined) {
      if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
        return {
          kind: 'answer',
          response: invalidRequest(400, {
            message: `Invalid idempotency key: it must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long.`,
          }),
        };
      }
      this.pruneKeys();
      const known = this.knownKey(key, digest);
      if (known) return { kind: 'answer', response: known };
    }
    // Validation before the key is taken: a refused request saves nothing, so its key stays usable.
    const invalid = validateCreate(params);
    if (invalid) return { kind: 'answer', response: invalid };
    if (key !== undefined) this.keys.set(key, { digest });
    return { kind: 'admitted', attempt: this.attempt(key, params) };
  }

  private attempt(key: string | undefined, params: Readonly<Record<string, string>>): CreateAttempt {
    let done = false;
    const finish = () => {
      if (done) throw new Error('This create attempt was already applied or abandoned.');
      done = true;
    };
    const forget = () => {
      if (key !== undefined) this.keys.delete(key);
    };
    const save = (response: SimResponse): SimResponse => {
      const record = key !== undefined ? this.keys.get(key) : undefined;
      if (record) {
        record.answer = response;
        record.storedAt = this.clock.now();
      }
      return response;
    };
    const answered = (response: SimResponse): Delivered => ({ delivery: 'answer', response });
    return {
      idempotencyKey: key,
      params,
      abandon: () => {
        finish();
        forget();
      },
      apply: (fault) => {
        finish();
        switch (fault.kind) {
          case 'rate-limit':
            forget();
            return answered(rateLimited());
          case 'hang':
            forget();
            return { delivery: 'hang' };
          case 'garbage':
            if (fault.commit) save(this.execute(key, params));
            else forget();
            return { delivery: 'garbage' };
          case 'commit-then-hang':
            save(this.execute(key, params));
            return { delivery: 'hang' };
          case 'error500':
            if (fault.commit) this.execute(key, params);
            return answered(save(serverError()));
          case 'decline':
            return answered(save(this.execute(key, params, fault.declineCode ?? 'generic_decline')));
          default:
            return answered(save(this.execute(key, params)));
        }
      },
    };
  }

  /** Stripe's rules for a key younger than 24 h; undefined for a key it does not hold. */
  private knownKey(key: string, digest: string): SimResponse | undefined {
    const stored = this.keys.get(key);
    if (!stored) return undefined;
    if (stored.storedAt !== undefined && this.clock.now() - stored.storedAt >= IDEMPOTENCY_KEY_RETENTION_MS) {
      this.keys.delete(key);
      return undefined;
    }
    if (stored.digest !== digest) {
      return errorResponse(400, {
        type: 'idempotency_error',
        message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
      });
    }
    if (!stored.answer) {
      return errorResponse(409, {
        type: 'idempotency_error',
        code: 'idempotency_key_in_use',
        message: `There is currently another in-progress request using this idempotent key (that probably means you submitted twice, and the other request is still going through): ${key}. Please try again later.`,
      });
    }
    return { ...stored.answer, headers: { ...stored.answer.headers, 'idempotent-replayed': 'true' } };
  }

  /**
   * A key's 24 h count from when its answer was saved: a request is in flight for seconds, and counting from the
   * save keeps "one key, at most one PaymentIntent per 24 h" exact even for one held across a clock move.
   */
  private pruneKeys(): void {
    const now = this.clock.now();
    // Saved in (nearly) insertion order: stop at the first young one; a straggler is caught when it is asked for.
    for (const [key, record] of this.keys) {
      if (record.storedAt === undefined) continue;
      if (now - record.storedAt < IDEMPOTENCY_KEY_RETENTION_MS) break;
      this.keys.delete(key);
    }
  }

  private execute(
    key: string | undefined,
    params: Readonly<Record<string, string>>,
    forcedDeclineCode?: string,
  ): SimResponse {
    const paymentMethod = params.payment_method ?? '';
    const now = this.clock.now();
    const forced = forcedDeclineCode
      ? cardError('card_declined', forcedDeclineCode, 'Your card was declined.')
      : undefined;
    const decline = forced ?? DECLINES[paymentMethod];
    const processing = forced ? undefined : PROCESSING[paymentMethod];
    const record = this.record({
      amount: Number(params.amount),
      currency: (params.currency ?? '').toLowerCase(),
      paymentMethod,
      metadata: metadataOf(params),
      createdMs: now,
      idempotencyKey: key,
      injected: false,
      fate: decline || (processing && processing !== 'succeeded') ? 'declined' : 'succeeded',
      status: decline ? 'requires_payment_method' : processing ? 'processing' : 'succeeded',
      lastError: decline ?? null,
      settlement: processing ? { at: now + this.processingDelayMs, to: processing } : undefined,
    });
    const intent = this.view(record);
    if (decline) return errorResponse(402, { ...decline, payment_intent: intent });
    return { status: 200, body: intent, headers: {} };
  }

  private record(fields: Omit<IntentRecord, 'seq' | 'id' | 'searchableAt'>): IntentRecord {
    const record: IntentRecord = {
      ...fields,
      seq: ++this.seq,
      id: `pi_${randomBytes(12).toString('hex')}`,
      searchableAt: fields.createdMs + this.searchDelayMs,
    };
    this.intents.push(record);
    this.byId.set(record.id, record);
    if (record.settlement) this.unsettled.add(record);
    return record;
  }

  /** Settlement is lazy: whatever reads state first brings the due ones up to the clock. */
  private settleDue(): void {
    if (this.unsettled.size === 0) return;
    const now = this.clock.now();
    for (const record of this.unsettled) {
      const settlement = record.settlement;
      if (!settlement || now < settlement.at) continue;
      if (settlement.to === 'succeeded') {
        record.status = 'succeeded';
      } else {
        record.status = 'requires_payment_method';
        record.lastError = settlement.to;
      }
      record.settlement = undefined;
      this.unsettled.delete(record);
    }
  }

  private view(record: IntentRecord): PaymentIntent {
    return {
      id: record.id,
      object: 'payment_intent',
      amount: record.amount,
      amount_received: record.status === 'succeeded' ? record.amount : 0,
      currency: record.currency,
      status: record.status,
      payment_method: record.paymentMethod,
      metadata: { ...record.metadata },
      created: Math.floor(record.createdMs / 1000),
      livemode: false,
      last_payment_error: record.lastError,
    };
  }

  private retrieve(rawId: string): SimResponse {
    let id: string;
    try {
      id = decodeURIComponent(rawId);
    } catch {
      id = rawId;
    }
    const record = this.byId.get(id);
    if (!record) {
      return invalidRequest(404, {
        code: 'resource_missing',
        param: 'intent',
        message: `No such payment_intent: '${id}'`,
      });
    }
    return ok(this.view(record));
  }

  /** Newest first, as Stripe lists; ties (the same millisecond) by creation order. */
  private newestFirst(records: readonly IntentRecord[]): IntentRecord[] {
    return [...records].sort((a, b) => b.createdMs - a.createdMs || b.seq - a.seq);
  }

  private list(query: Readonly<Record<string, string>>): SimResponse {
    const unknown = unknownParam(
      query,
      ['limit', 'starting_after', 'ending_before', 'created'],
      /^created\[(gt|gte|lt|lte)\]$/,
    );
    if (unknown) return unknown;
    const limit = parseLimit(query.limit);
    if (typeof limit !== 'number') return limit;
    const created = parseCreatedFilter(query);
    if (!Array.isArray(created)) return created;
    if (query.starting_after !== undefined && query.ending_before !== undefined) {
      return invalidRequest(400, {
        message: 'You may only specify one of these parameters: ending_before, starting_after.',
      });
    }
    const matching = this.newestFirst(this.intents).filter((record) =>
      created.every((test) => test(Math.floor(record.createdMs / 1000))),
    );
    const cursorParam = query.starting_after !== undefined ? 'starting_after' : 'ending_before';
    const cursorId = query[cursorParam];
    let data: IntentRecord[];
    let hasMore: boolean;
    if (cursorId === undefined) {
      data = matching.slice(0, limit);
      hasMore = matching.length > limit;
    } else {
      const cursor = this.byId.get(cursorId);
      if (!cursor) {
        return invalidRequest(400, {
          code: 'resource_missing',
          param: cursorParam,
          message: `No such payment_intent: '${cursorId}'`,
        });
      }
      if (cursorParam === 'starting_after') {
        const older = matching.filter((record) => isOlder(record, cursor));
        data = older.slice(0, limit);
        hasMore = older.length > limit;
      } else {
        const newer = matching.filter((record) => isOlder(cursor, record));
        data = newer.slice(Math.max(0, newer.length - limit));
        hasMore = newer.length > limit;
      }
    }
    return ok({
      object: 'list',
      data: data.map((record) => this.view(record)),
      has_more: hasMore,
      url: '/v1/payment_intents',
    });
  }

  private search(query: Readonly<Record<string, string>>): SimResponse {
    const unknown = unknownParam(query, ['query', 'limit', 'page']);
    if (unknown) return unknown;
    if (query.query === undefined || query.query.trim() === '') {
      return invalidRequest(400, { param: 'query', message: 'Missing required param: query.' });
    }
    const parsed = parseSearchQuery(query.query);
    if (typeof parsed === 'string') return invalidRequest(400, { param: 'query', message: parsed });
    const limit = parseLimit(query.limit);
    if (typeof limit !== 'number') return limit;
    let after: { createdMs: number; seq: number } | undefined;
    if (query.page !== undefined) {
      after = decodePage(query.page);
      if (!after) return invalidRequest(400, { param: 'page', message: `Invalid page: '${query.page}'.` });
    }
    const now = this.clock.now();
    const cursor = after;
    const matching = this.newestFirst(this.intents).filter(
      (record) =>
        record.searchableAt <= now && (!cursor || isOlder(record, cursor)) && parsed(this.view(record)),
    );
    const data = matching.slice(0, limit);
    const last = data[data.length - 1];
    const hasMore = matching.length > limit;
    return ok({
      object: 'search_result',
      data: data.map((record) => this.view(record)),
      has_more: hasMore,
      next_page: hasMore && last ? encodePage(last) : null,
      url: '/v1/payment_intents/search',
    });
  }
}

function declineCodeOf(record: IntentRecord): string | undefined {
  if (record.lastError) return record.lastError.decline_code;
  const to = record.settlement?.to;
  return to && to !== 'succeeded' ? to.decline_code : undefined;
}

function isOlder(a: { createdMs: number; seq: number }, b: { createdMs: number; seq: number }): boolean {
  return a.createdMs < b.createdMs || (a.createdMs === b.createdMs && a.seq < b.seq);
}

/** Opaque to clients, as Stripe's; it carries the last item's sort position so pages neither skip nor repeat. */
function encodePage(record: IntentRecord): string {
  return Buffer.from(`v1:${record.createdMs}:${record.seq}`).toString('base64url');
}

function decodePage(page: string): { createdMs: number; seq: number } | undefined {
  const match = /^v1:(\d+):(\d+)$/.exec(Buffer.from(page, 'base64url').toString('utf8'));
  return match ? { createdMs: Number(match[1]), seq: Number(match[2]) } : undefined;
}

function ok(body: unknown): SimResponse {
  return { status: 200, body, headers: {} };
}

function errorResponse(status: number, error: Record<string, unknown>): SimResponse {
  return { status, body: { error }, headers: {} };
}

function invalidRequest(
  status: number,
  error: { readonly message: string; readonly code?: string; readonly param?: string },
): SimResponse {
  return errorResponse(status, { type: 'invalid_request_error', ...error });
}

/**
 * A 500 Stripe produced while executing. `Stripe-Should-Retry: false` because asking again with the key only
 * replays it (the stripe SDK's RequestSender says it expects exactly that header on such 500s), so the SDK's own
 * retry does not hide the first answer from the caller.
 */
export function serverError(): SimResponse {
  return {
    status: 500,
    body: {
      error: { type: 'api_error', message: 'An unknown error occurred while processing your request.' },
    },
    headers: { 'stripe-should-retry': 'false' },
  };
}

export function rateLimited(): SimResponse {
  return invalidRequest(429, {
    code: 'rate_limit',
    message:
      'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
  });
}

function redact(key: string): string {
  const prefix = /^(sk|rk|pk)_(test|live)_/.exec(key)?.[0] ?? '';
  return `${prefix}${'*'.repeat(Math.max(4, key.length - prefix.length - 4))}${key.slice(-4)}`;
}

function paramsDigest(params: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function metadataOf(params: Readonly<Record<string, string>>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    const name = /^metadata\[([^\]]+)\]$/.exec(key)?.[1];
    if (name !== undefined) metadata[name] = value;
  }
  return metadata;
}

const CREATE_PARAMS = new Set([
  'amount',
  'currency',
  'payment_method',
  'confirm',
  'off_session',
  'description',
  'customer',
  'receipt_email',
  'statement_descriptor',
]);

function validateCreate(params: Readonly<Record<string, string>>): SimResponse | undefined {
  const invalid = (param: string, message: string) => invalidRequest(400, { param, message });
  for (const name of Object.keys(params)) {
    if (!CREATE_PARAMS.has(name) && !/^metadata\[[^\]]+\]$/.test(name) && !/^expand\[\d*\]$/.test(name)) {
      return invalid(name, `Received unknown parameter: ${name}`);
    }
  }
  const { amount, currency, payment_method: paymentMethod, confirm, off_session: offSession } = params;
  if (amount === undefined) return invalid('amount', 'Missing required param: amount.');
  if (!/^-?\d+$/.test(amount)) return invalid('amount', `Invalid integer: ${amount}`);
  if (Number(amount) < 1) return invalid('amount', 'This value must be greater than or equal to 1.');
  if (Number(amount) > 99_999_999) return invalid('amount', 'Amount must be no more than 99999999.');
  if (currency === undefined) return invalid('currency', 'Missing required param: currency.');
  if (!/^[a-zA-Z]{3}$/.test(currency)) return invalid('currency', `Invalid currency: ${currency}.`);
  if (!paymentMethod) {
    return invalid(
      'payment_method',
      "You cannot confirm this PaymentIntent because it's missing a payment method. Pass payment_method.",
    );
  }
  if (confirm !== 'true') {
    // A subset: the pipeline only ever creates confirmed PaymentIntents, so an unconfirmed one is a bug here.
    return invalid('confirm', 'This local gateway creates confirmed PaymentIntents only: pass confirm=true.');
  }
  if (offSession !== undefined && offSession !== 'true' && offSession !== 'false') {
    return invalid('off_session', `Invalid boolean: ${offSession}`);
  }
  const metadata = Object.entries(metadataOf(params));
  if (metadata.length > 50) return invalid('metadata', 'You can specify up to 50 metadata keys.');
  for (const [key, value] of metadata) {
    if (key.length > 40) return invalid(`metadata[${key}]`, 'Metadata keys can be up to 40 characters long.');
    if (value.length > 500) {
      return invalid(`metadata[${key}]`, 'Metadata values can be up to 500 characters long.');
    }
  }
  return undefined;
}

function unknownParam(
  query: Readonly<Record<string, string>>,
  known: readonly string[],
  pattern?: RegExp,
): SimResponse | undefined {
  const name = Object.keys(query).find((key) => !known.includes(key) && !pattern?.test(key));
  return name === undefined
    ? undefined
    : invalidRequest(400, { param: name, message: `Received unknown parameter: ${name}` });
}

function parseLimit(raw: string | undefined): number | SimResponse {
  if (raw === undefined) return 10;
  const limit = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(limit >= 1 && limit <= 100)) {
    return invalidRequest(400, {
      param: 'limit',
      message: `Invalid limit: ${raw}. The limit must be an integer between 1 and 100.`,
    });
  }
  return limit;
}

/** `created=<unix s>` or `created[gt|gte|lt|lte]=<unix s>`: tests on a PaymentIntent's `created`. */
function parseCreatedFilter(
  query: Readonly<Record<string, string>>,
): Array<(created: number) => boolean> | SimResponse {
  const tests: Array<(created: number) => boolean> = [];
  const compare: Record<string, (a: number, b: number) => boolean> = {
    created: (a, b) => a === b,
    'created[gt]': (a, b) => a > b,
    'created[gte]': (a, b) => a >= b,
    'created[lt]': (a, b) => a < b,
    'created[lte]': (a, b) => a <= b,
  };
  for (const [param, test] of Object.entries(compare)) {
    const raw = query[param];
    if (raw === undefined) continue;
    if (!/^\d+$/.test(raw)) return invalidRequest(400, { param, message: `Invalid integer: ${raw}` });
    const bound = Number(raw);
    tests.push((created) => test(created, bound));
  }
  return tests;
}

type Predicate = (intent: PaymentIntent) => boolean;

/**
 * Stripe's search query language (docs.stripe.com/search#search-query-language), for the PaymentIntent fields:
 * `field:value` clauses, `metadata['key']:'value'`, numeric `amount`/`created` with `:`, `>`, `<`, `>=`, `<=`, `-`
 * to negate, `null` for a missing metadata key; up to 10 clauses joined by spaces, AND or OR (case insensitive),
 * never both AND and OR, no parentheses. Returns the predicate, or the parse error as a message (Stripe answers
 * such a query with 400).
 */
export function parseSearchQuery(query: string): Predicate | string {
  const text = query.trim();
  const clauses: Predicate[] = [];
  let joiner: 'AND' | 'OR' | undefined;
  let at = 0;
  const fail = (why: string) => `Invalid search query: ${why} at position ${at} of "${query}".`;
  for (;;) {
    const clause = parseClause(text, at);
    if (typeof clause === 'string') {
      return fail(clause);
    }
    clauses.push(clause.predicate);
    if (clauses.length > 10) return fail('a query can have at most 10 clauses');
    at = clause.end;
    if (at >= text.length) break;
    const separator = /^ +(?:(AND|OR) +)?/i.exec(text.slice(at));
    if (!separator) return fail('expected a space, AND or OR between clauses');
    const word = (separator[1]?.toUpperCase() ?? 'AND') as 'AND' | 'OR';
    if (separator[1]) {
      if (joiner && joiner !== word) return fail('AND and OR cannot be combined in one query');
      joiner = word;
    }
    at += separator[0].length;
  }
  if (joiner === 'OR') return (intent) => clauses.some((test) => test(intent));
  return (intent) => clauses.every((test) => test(intent));
}

const NUMERIC_FIELDS = new Set(['amount', 'created']);
const TOKEN_FIELDS = new Set(['status', 'currency', 'customer']);

function parseClause(text: string, start: number): { predicate: Predicate; end: number } | string {
  let at = start;
  const negated = text[at] === '-';
  if (negated) at += 1;
  let field: string;
  let metadataKey: string | undefined;
  if (text.startsWith('metadata[', at)) {
    at += 'metadata['.length;
    const key = readQuoted(text, at);
    if (!key) return "expected a quoted key in metadata['key']";
    if (text[key.end] !== ']') return "expected ']' after the metadata key";
    metadataKey = key.value;
    field = 'metadata';
    at = key.end + 1;
  } else {
    const name = /^[a-z_]+/.exec(text.slice(at))?.[0];
    if (!name) return 'expected a field name';
    field = name;
    at += name.length;
    if (!NUMERIC_FIELDS.has(field) && !TOKEN_FIELDS.has(field)) {
      return `the field '${field}' is not a supported search field for payment_intents`;
    }
  }
  const operator = /^(>=|<=|:|>|<|~)/.exec(text.slice(at))?.[0];
  if (!operator) return "expected an operator (':', '>', '<', '>=', '<=')";
  at += operator.length;
  let predicate: Predicate;
  if (NUMERIC_FIELDS.has(field)) {
    const number = /^-?\d+/.exec(text.slice(at))?.[0];
    if (!number || operator === '~') return `expected a number for '${field}'`;
    at += number.length;
    const bound = Number(number);
    const read = (intent: PaymentIntent) => (field === 'amount' ? intent.amount : intent.created);
    const compare: Record<string, (a: number) => boolean> = {
      ':': (a) => a === bound,
      '>': (a) => a > bound,
      '<': (a) => a < bound,
      '>=': (a) => a >= bound,
      '<=': (a) => a <= bound,
    };
    const test = compare[operator];
    if (!test) return `the operator '${operator}' does not apply to '${field}'`;
    predicate = (intent) => test(read(intent));
  } else {
    if (operator !== ':') return `only ':' applies to '${field}'`;
    if (metadataKey !== undefined && text.startsWith('null', at)) {
      at += 'null'.length;
      const key = metadataKey;
      predicate = (intent) => intent.metadata[key] === undefined;
    } else {
      const value = readQuoted(text, at);
      if (!value) return `expected a quoted value for '${field}'`;
      at = value.end;
      const key = metadataKey;
      predicate =
        key !== undefined
          ? (intent) => intent.metadata[key] === value.value
          : field === 'customer'
            ? () => false
            : (intent) => String(intent[field as 'status' | 'currency']) === value.value;
    }
  }
  if (at < text.length && text[at] !== ' ') return 'expected the end of the clause';
  const test = predicate;
  return { predicate: negated ? (intent) => !test(intent) : test, end: at };
}

/** A single- or double-quoted string with backslash escapes. */
function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  const quote = text[start];
  if (quote !== "'" && quote !== '"') return undefined;
  let value = '';
  for (let at = start + 1; at < text.length; at += 1) {
    const char = text[at];
    if (char === '\\' && at + 1 < text.length) {
      at += 1;
      value += text[at];
    } else if (char === quote) {
      return { value, end: at + 1 };
    } else {
      value += char;
    }
  }
  return undefined;
}
