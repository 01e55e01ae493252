import {
  IdempotencyInFlightError,
  IdempotencyMismatchError,
  type IdempotencyOptions,
  type IdempotencyStore,
  requestFingerprint,
  runIdempotently,
  type StoredResponse,
} from './domain/idempotency';
import type { ApiRequest, ApiResponse } from './http/api-types';
import { HttpProblem, problems } from './http/problem';
import { serializeResponse } from './responses';

/** Keys are opaque strings chosen by the client; the bound keeps stored keys small. */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * Wraps a POST in `Idempotency-Key` semantics (docs/api.md section 3). Call it after the body is validated:
 * a request that fails validation is not recorded, so the corrected request may reuse its key (as Stripe does).
 * Problems thrown by `execute` are part of the response: 4xx ones are stored and replayed, 5xx ones release the key.
 */
export async function idempotentPost(
  store: IdempotencyStore,
  options: IdempotencyOptions,
  request: ApiRequest,
  scope: string,
  body: unknown,
  execute: () => Promise<ApiResponse>,
  defaultKey?: string,
): Promise<ApiResponse> {
  const key = request.headers['idempotency-key'] ?? defaultKey;
  if (key === undefined) return execute();
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw problems.badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters.');
  }
  try {
    const { response, replayed } = await runIdempotently(
      store,
      { key: `${scope}#${key}`, fingerprint: requestFingerprint(request.method, request.path, body) },
      options,
      async () => toStored(await executeAsResponse(execute)),
    );
    return fromStored(response, replayed);
  } catch (error) {
    if (error instanceof IdempotencyInFlightError) throw problems.idempotencyInFlight(key);
    if (error instanceof IdempotencyMismatchError) throw problems.idempotencyMismatch(key);
    throw error;
  }
}

async function executeAsResponse(execute: () => Promise<ApiResponse>): Promise<ApiResponse> {
  try {
    return await execute();
  } catch (error) {
    if (error instanceof HttpProblem && error.status < 500) {
      return { status: error.status, body: error.toDocument(), headers: problemHeaders(error) };
    }
    throw error;
  }
}

function problemHeaders(problem: HttpProblem): Record<string, string> {
  return { ...problem.headers, 'content-type': 'application/problem+json' };
}

function toStored(response: ApiResponse): StoredResponse {
  const serialized = serializeResponse(response);
  return { status: serialized.status, headers: serialized.headers, body: serialized.body };
}

function fromStored(response: StoredResponse, replayed: boolean): ApiResponse {
  return {
    status: response.status,
    body: response.body,
    headers: replayed ? { ...response.headers, 'idempotent-replayed': 'true' } : response.headers,
  };
}
