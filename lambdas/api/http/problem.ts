/**
 * RFC 9457 problem details. Every error the API answers with is one of these, so clients can branch on
 * `type` and `status` and show `detail`; `errors` names each field that failed validation.
 */
export interface FieldError {
  /** Dotted path into the request body, e.g. `items.0.sku`; `(body)` for the body as a whole. */
  readonly field: string;
  readonly message: string;
}

export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly FieldError[];
}

const PROBLEM_TYPE_BASE = 'urn:commerce-pipeline:problem:';

export class HttpProblem extends Error {
  readonly type: string;

  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    options: { slug: string; errors?: readonly FieldError[]; headers?: Record<string, string> },
  ) {
    super(detail);
    this.name = 'HttpProblem';
    this.type = PROBLEM_TYPE_BASE + options.slug;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }

  readonly errors: readonly FieldError[] | undefined;
  readonly headers: Record<string, string>;

  toDocument(): ProblemDocument {
    return {
      type: this.type,
      title: this.title,
      status: this.status,
      detail: this.detail,
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }
}

/** The problems the API answers with, by name, so each status keeps one title and type. */
export const problems = {
  badJson: (detail: string) => new HttpProblem(400, 'Malformed JSON', detail, { slug: 'malformed-json' }),
  validation: (errors: readonly FieldError[]) =>
    new HttpProblem(400, 'Validation failed', `The request has ${errors.length} invalid field(s).`, {
      slug: 'validation-error',
      errors,
    }),
  badRequest: (detail: string) => new HttpProblem(400, 'Bad request', detail, { slug: 'bad-request' }),
  unauthorized: (detail: string) =>
    new HttpProblem(401, 'Unauthorized', detail, {
      slug: 'unauthorized',
      headers: { 'www-authenticate': 'Bearer realm="commerce-pipeline"' },
    }),
  notFound: (detail: string) => new HttpProblem(404, 'Not found', detail, { slug: 'not-found' }),
  methodNotAllowed: (method: string, allowed: readonly string[]) =>
    new HttpProblem(405, 'Method not allowed', `${method} is not allowed here; use ${allowed.join(', ')}.`, {
      slug: 'method-not-allowed',
      headers: { allow: allowed.join(', ') },
    }),
  conflict: (detail: string) => new HttpProblem(409, 'Conflict', detail, { slug: 'conflict' }),
  idempotencyInFlight: (key: string) =>
    new HttpProblem(
      409,
      'Request in progress',
      `A request with Idempotency-Key "${key}" is still being processed; retry after it completes.`,
      { slug: 'idempotency-in-flight', headers: { 'retry-after': '1' } },
    ),
  idempotencyMismatch: (key: string) =>
    new HttpProblem(
      422,
      'Idempotency-Key reused',
      `Idempotency-Key "${key}" was already used with a different request body; use a new key for a new request.`,
      { slug: 'idempotency-key-reused' },
    ),
  payloadTooLarge: (limitBytes: number) =>
    new HttpProblem(413, 'Payload too large', `The request body is larger than ${limitBytes} bytes.`, {
      slug: 'payload-too-large',
    }),
  unsupportedMediaType: (contentType: string) =>
    new HttpProblem(415, 'Unsupported media type', `Send application/json, not ${contentType}.`, {
      slug: 'unsupported-media-type',
    }),
  internal: (requestId: string) =>
    new HttpProblem(
      500,
      'Internal error',
      `Something went wrong on our side; nothing was lost. Retry with the same Idempotency-Key. Request ${requestId}.`,
      { slug: 'internal-error' },
    ),
} as const;
