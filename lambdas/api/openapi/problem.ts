import * as z from 'zod';
import { HttpProblem, problems } from '../http/problem';
import { MAX_BODY_BYTES, validateBody } from '../http/request-body';
import { type Answer, type HeaderName, out, type SchemaUse } from './builder';

/**
 * RFC 9457 problem documents (http/problem.ts) as the document shows them, and the answers most routes share:
 * authentication, JSON bodies, Idempotency-Key, the store throttle and the server's own trouble. Every example is
 * made by the factory the API answers with, so it is the real title, type and detail.
 */

export const fieldErrorSchema = z.strictObject({
  field: z.string().meta({
    description:
      'Dotted path into the request body or the query, e.g. `items.0.sku`; `(body)` for the whole body.',
  }),
  message: z.string(),
});

export const problemSchema = z
  .strictObject({
    type: z
      .string()
      .regex(/^urn:commerce-pipeline:problem:[a-z0-9-]+$/)
      .meta({ description: 'A URN naming the kind of problem: `urn:commerce-pipeline:problem:<slug>`.' }),
    title: z.string().meta({ description: 'The same for every problem of a type.' }),
    status: z.int().min(400).max(599),
    detail: z.string().meta({ description: 'What went wrong with this request, for people.' }),
    errors: z
      .array(fieldErrorSchema)
      .optional()
      .meta({ description: 'Each field that failed validation (400 `validation-error`, 422 with a field).' }),
  })
  .meta({ description: 'An RFC 9457 problem document (`application/problem+json`).' });

export const PROBLEM: SchemaUse = out('Problem', problemSchema);

/** API Gateway's own answer when the stage's throttle refuses a request, before the function runs (in AWS). */
export const gatewayThrottleSchema = z
  .strictObject({ message: z.literal('Too Many Requests') })
  .meta({ description: "API Gateway's answer when the stage's throttle refuses a request (in AWS only)." });

/** An answer made of one or more real problems of the same status. */
export function problemAnswer(
  description: string,
  examples: readonly HttpProblem[],
  headers: readonly HeaderName[] = [],
): Answer {
  const [first] = examples;
  if (!first) throw new Error('A problem answer needs an example.');
  const fromHeaders = new Set<HeaderName>(headers);
  for (const problem of examples) {
    if (problem.status !== first.status) throw new Error('One answer, one status.');
    if ('retry-after' in problem.headers) fromHeaders.add('Retry-After');
    if ('www-authenticate' in problem.headers) fromHeaders.add('WWW-Authenticate');
    if ('allow' in problem.headers) fromHeaders.add('Allow');
  }
  return {
    status: first.status,
    description,
    content: {
      mediaType: 'application/problem+json',
      schema: PROBLEM,
      examples: Object.fromEntries(
        examples.map((problem) => [
          problem.type.split(':').pop() ?? 'problem',
          { value: problem.toDocument() },
        ]),
      ),
    },
    ...(fromHeaders.size > 0 ? { headers: [...fromHeaders] } : {}),
  };
}

/** A problem of a route's own, built as the route builds it. */
export function problem(
  status: number,
  title: string,
  detail: string,
  slug: string,
  extra: { errors?: { field: string; message: string }[]; headers?: Record<string, string> } = {},
): HttpProblem {
  return new HttpProblem(status, title, detail, { slug, ...extra });
}

const gatewayThrottle: Answer = {
  status: 429,
  description: "API Gateway's stage throttle (in AWS; plain JSON, before the function runs)",
  content: {
    mediaType: 'application/json',
    schema: out('GatewayThrottle', gatewayThrottleSchema),
    examples: { 'stage-throttle': { value: { message: 'Too Many Requests' } } },
  },
};

/** What any route may answer: the stage throttle in AWS. */
export function anyRoute(): Answer[] {
  return [gatewayThrottle];
}

/** What every route that reads a table may answer besides its own: a dependency shed (503) or a crash (500). */
export function serverTrouble(): Answer[] {
  return [
    problemAnswer(
      'A dependency stayed throttled or slow after retries: nothing was accepted; retry shortly',
      [
        problem(
          503,
          'Service busy',
          'The service is busy; nothing was accepted. Retry shortly.',
          'service-busy',
          { headers: { 'retry-after': '1' } },
        ),
      ],
    ),
    problemAnswer('An unexpected error (logged); retry with the same Idempotency-Key', [
      problems.internal('kxJ3cgHPIAMEb5w='),
    ]),
  ];
}

/** A store key: 401 without a valid one, 429 over the store's request rate. */
export function storeKey(): Answer[] {
  return [
    problemAnswer('No API key, or one that is not valid for any store', [
      problems.unauthorized('Send your API key as "Authorization: Bearer <key>".'),
      problems.unauthorized('The API key is not valid for any store.'),
    ]),
    problemAnswer(
      "The store is over its request rate (the other stores are served); nothing was accepted: retry after Retry-After's seconds",
      [
        problem(
          429,
          'Too many requests',
          'Store acme is over its request rate; nothing was accepted. Retry after 1 s.',
          'rate-limited',
          { headers: { 'retry-after': '1' } },
        ),
      ],
    ),
    ...anyRoute(),
    ...serverTrouble(),
  ];
}

/** The admin key: 401 without it. */
export function adminKey(): Answer[] {
  return [
    problemAnswer('No admin key, or another key', [
      problems.unauthorized('This route needs the admin API key.'),
    ]),
    ...anyRoute(),
    ...serverTrouble(),
  ];
}

/** The 400 the route answers for a bad value: made by validating `bad` with the route's own schema. */
export function validationProblem(schema: z.ZodType, bad: unknown): HttpProblem {
  try {
    validateBody(schema, bad);
  } catch (error) {
    if (error instanceof HttpProblem) return error;
    throw error;
  }
  throw new Error(`The bad example ${JSON.stringify(bad)} passes its schema.`);
}

/** A query validated by the route's schema: 400 naming each parameter. */
export function queryProblems(schema: z.ZodType, bad: Record<string, string>): Answer {
  return problemAnswer('A query parameter failed validation (`errors` names each one)', [
    validationProblem(schema, bad),
  ]);
}

/**
 * A JSON body read and validated: 400 (bad JSON, failed validation: the example is `bad` refused by the route's own
 * schema), 413 over 256 KiB, 415 another media type.
 */
export function jsonBodyProblems(schema: z.ZodType, bad: unknown): Answer[] {
  return [
    problemAnswer('The body is not JSON, or a field failed validation (`errors` names each one)', [
      validationProblem(schema, bad),
      problems.badJson('The request body is not valid JSON: Unexpected end of JSON input'),
    ]),
    problemAnswer('The body is larger than 256 KiB', [problems.payloadTooLarge(MAX_BODY_BYTES)]),
    problemAnswer('A declared media type other than JSON (a missing Content-Type is read as JSON)', [
      problems.unsupportedMediaType('text/plain'),
    ]),
  ];
}

/** `Idempotency-Key`: 400 for a malformed key, 409 while its first request runs, 422 reused with another body. */
export function idempotencyProblems(): Answer[] {
  return [
    problemAnswer('The Idempotency-Key is not 1 to 255 visible ASCII characters', [
      problems.badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters.'),
    ]),
    problemAnswer('A request with the same Idempotency-Key is still in flight', [
      problems.idempotencyInFlight('9f1c0a52-7d1e-4d9b-a3b4-1f1c2d3e4f50'),
    ]),
    problemAnswer('The Idempotency-Key was used before with another body', [
      problems.idempotencyMismatch('9f1c0a52-7d1e-4d9b-a3b4-1f1c2d3e4f50'),
    ]),
  ];
}

export function notFound(detail: string): Answer {
  return problemAnswer('Not found (or another store’s)', [problems.notFound(detail)]);
}
