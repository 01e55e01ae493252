import type { AfterResponseMiddleware, BeforeRequestMiddleware, Bundle } from 'zapier-platform-core';

/**
 * The pipeline's HTTP API as the Zapier app calls it (docs/api.md section 3): every request goes to the API base
 * URL the merchant gave when connecting (the pipeline is self-hosted), with the store key as a bearer token.
 */

/** `path` (starting with `/`) under the connection's API base URL, whatever trailing slashes that URL has. */
export function apiUrl(bundle: Bundle, path: string): string {
  const base = String(bundle.authData.apiUrl ?? '').trim();
  if (!/^https?:\/\/[^/\s]+/i.test(base)) {
    throw new Error(
      `The API base URL must be an http(s) URL such as https://pipeline.example.com (got "${base}")`,
    );
  }
  return base.replace(/\/+$/, '') + path;
}

/** beforeRequest: `Authorization: Bearer <store key>` on every request. */
export const addStoreKey: BeforeRequestMiddleware = (request, _z, bundle) => {
  const key = bundle.authData.apiKey;
  if (key) {
    request.headers = { ...request.headers, Authorization: `Bearer ${key}` };
  }
  return request;
};

/**
 * afterResponse: an RFC 9457 problem answer becomes an error that says what the API said (its `detail` and the
 * fields it names), instead of Zapier's generic "got 400". A 401 marks the connection as needing the key again.
 * A request that asked for `skipThrowForStatus` handles its own statuses (unsubscribe tolerates a 404).
 */
export const explainProblems: AfterResponseMiddleware = (response, z) => {
  if (response.status < 400 || response.skipThrowForStatus) return response;
  const problem = parseProblem(response.content);
  const detail = problem?.detail ?? problem?.title ?? `HTTP ${response.status}`;
  const fields = problem?.errors?.map((error) => `${error.field}: ${error.message}`).join('; ');
  const message = fields ? `${detail} (${fields})` : detail;
  if (response.status === 401) {
    throw new z.errors.ExpiredAuthError(`The pipeline refused the store key: ${message}`);
  }
  throw new z.errors.Error(message, problem?.type ?? 'PipelineApiError', response.status);
};

interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly detail?: string;
  readonly errors?: readonly { readonly field: string; readonly message: string }[];
}

function parseProblem(content: string): Problem | undefined {
  try {
    const parsed: unknown = JSON.parse(content);
    return parsed && typeof parsed === 'object' ? (parsed as Problem) : undefined;
  } catch {
    return undefined;
  }
}
