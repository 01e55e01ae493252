import { checkResponse } from './openapi-validator';

/**
 * A small client of the pipeline's HTTP API for tests: JSON in, `{status, headers, body}` out. Every answer is checked
 * against the OpenAPI document (openapi-validator.ts): an answer the document does not describe fails the test.
 */
// biome-ignore lint/suspicious/noExplicitAny: the tests read and assert answer bodies as loose JSON
export interface ApiAnswer<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

export function pipelineClient(apiUrl: string, key: string) {
  // biome-ignore lint/suspicious/noExplicitAny: as above
  const call = async <T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer<T>> => {
    const response = await fetch(new URL(path, apiUrl), {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    // Every answer the integration tests get is checked against the OpenAPI document (GET /openapi.json).
    checkResponse(method, path, response.status, response.headers, text);
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
  return { call };
}

let sequence = 0;

/** A valid transaction body with a unique id. */
export function transaction(overrides: Record<string, unknown> = {}) {
  sequence += 1;
  return {
    id: `txn_${Date.now()}_${sequence}`,
    customer: { id: 'cus_1', email: 'buyer@example.com' },
    currency: 'USD',
    total: 2500,
    items: [{ sku: 'SKU-1', name: 'Mug', quantity: 1, unitPrice: 2500 }],
    ...overrides,
  };
}
