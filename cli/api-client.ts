import type { ProblemDocument } from '../lambdas/api/http/problem';
import type { Target } from './target';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<ProblemDocument> | undefined,
  ) {
    const fields = problem?.errors?.map((e) => `\n  - ${e.field}: ${e.message}`).join('') ?? '';
    super(`${status} ${problem?.title ?? 'Error'}: ${problem?.detail ?? 'no detail'}${fields}`);
    this.name = 'ApiError';
  }
}

/** A JSON call to the pipeline's HTTP API with the admin key; problem+json answers become ApiErrors. */
export async function callApi(
  target: Target,
  method: string,
  path: string,
  options: { body?: unknown; idempotencyKey?: string; auth?: 'admin' | 'none' } = {},
): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.auth !== 'none') {
    if (!target.adminApiKey)
      throw new Error('This command needs the admin key: pass --admin-key or set ADMIN_API_KEY.');
    headers.authorization = `Bearer ${target.adminApiKey}`;
  }
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  const response = await fetch(new URL(path, target.apiUrl), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  const parsed = text ? safeJson(text) : undefined;
  if (!response.ok) throw new ApiError(response.status, parsed as Partial<ProblemDocument> | undefined);
  return parsed;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 500) };
  }
}

/** A watch stops after this many failed polls in a row. */
export const MAX_CONSECUTIVE_POLL_FAILURES = 3;

/**
 * A poll of a watch failed (the `failures`-th in a row): a transient failure (5xx, 429, network) is reported with
 * `warn` and the watch goes on; anything else, or one failure too many, is thrown.
 */
export function toleratePollFailure(
  error: unknown,
  failures: number,
  options: { readonly intervalMs: number; readonly warn: (message: string) => void },
): void {
  if (!isTransient(error) || failures >= MAX_CONSECUTIVE_POLL_FAILURES) throw error;
  options.warn(`Poll failed (${describe(error)}); trying again in ${options.intervalMs / 1000} s.`);
}

function isTransient(error: unknown): boolean {
  if (error instanceof ApiError) return error.status >= 500 || error.status === 429;
  // fetch's network failures carry the socket error as `cause`; its timeout is a TimeoutError.
  return (error as { cause?: unknown }).cause !== undefined || (error as Error).name === 'TimeoutError';
}

function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message.split('\n')[0] ?? String(error.status);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
