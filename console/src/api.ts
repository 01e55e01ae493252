import { apiPath } from './base-path';
import { problemText } from './format';

/** A failed call: the problem's title and detail (RFC 9457) and the status; 0 when the API did not answer. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
  ) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
  }
}

type Query = Readonly<Record<string, string | number | undefined>>;

export interface Api {
  get<T>(route: string, query?: Query): Promise<T>;
  /** A POST with a new Idempotency-Key (docs/api.md section 3), a PATCH or a DELETE. */
  send<T>(method: 'POST' | 'PATCH' | 'DELETE', route: string, body?: unknown): Promise<T>;
  /** A GET whose answer is not JSON (the XML datafeed). */
  text(route: string): Promise<string>;
}

export interface ApiOptions {
  readonly base: string;
  readonly key: string;
  /** Called with a 401 of a signed-in session (the key was revoked or rotated): back to the sign-in screen. */
  readonly onUnauthorized?: (error: ApiError) => void;
}

/** A fresh Idempotency-Key; randomUUID needs a secure context, which plain http on a LAN address is not. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function createApi(options: ApiOptions): Api {
  const call = async (method: string, route: string, query: Query, body?: unknown): Promise<Response> => {
    const headers: Record<string, string> = { authorization: `Bearer ${options.key}` };
    if (method === 'POST') headers['idempotency-key'] = newIdempotencyKey();
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(apiPath(options.base, route, query), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
      });
    } catch (error) {
      throw new ApiError(0, 'The API did not answer', error instanceof Error ? error.message : String(error));
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const problem = problemText(response.status, parsed);
    const error = new ApiError(response.status, problem.title, problem.detail);
    if (response.status === 401) options.onUnauthorized?.(error);
    throw error;
  };
  const json = async <T>(response: Response): Promise<T> => {
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    get: async (route, query = {}) => json(await call('GET', route, query)),
    send: async (method, route, body) => json(await call(method, route, {}, body)),
    text: async (route) => (await call('GET', route, {})).text(),
  };
}
