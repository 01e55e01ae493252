import type { ApiResponse } from './http/api-types';

/** An ApiResponse as bytes on the wire: JSON unless the body is already text. */
export function serializeResponse(response: ApiResponse): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  const headers: Record<string, string> = { ...response.headers };
  if (response.body === undefined) return { status: response.status, headers, body: '' };
  if (typeof response.body === 'string') {
    headers['content-type'] ??= 'application/json';
    return { status: response.status, headers, body: response.body };
  }
  headers['content-type'] ??= 'application/json';
  return { status: response.status, headers, body: JSON.stringify(response.body) };
}
