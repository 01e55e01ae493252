import { ApiError } from '../api-client';

/**
 * A section of the status screen that could be read, could not be read (error), or does not exist for this
 * target (unavailable). Each section is read on its own: one that cannot be read is reported as such, and the
 * others are still shown.
 */
export type Section<T> =
  | { readonly state: 'ok'; readonly value: T }
  | { readonly state: 'unavailable'; readonly reason: string }
  | { readonly state: 'error'; readonly error: string };

/** Runs `read`: its value, or the error it failed with (described in one line). */
export async function readSection<T>(read: () => Promise<T>): Promise<Section<T>> {
  try {
    return { state: 'ok', value: await read() };
  } catch (error) {
    return { state: 'error', error: describeError(error) };
  }
}

/**
 * Reads a section from its source with `read`, when the source itself could be had; a source that is
 * unavailable or failed makes the section so, without reading.
 */
export async function readSectionFrom<T, R>(
  source: Section<T>,
  read: (value: T) => Promise<R>,
): Promise<Section<R>> {
  if (source.state !== 'ok') return source;
  return readSection(() => read(source.value));
}

/** An error in one line, with what helps: the API's 401 hint, a network failure's cause, the SDK's name. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const line = error.message.split('\n')[0] ?? error.message;
    return error.status === 401 ? `${line} (check --admin-key or ADMIN_API_KEY)` : line;
  }
  if (!(error instanceof Error)) return String(error);
  // fetch's network failures carry the socket error as `cause`; the SDK's errors are named after the service's.
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause) return `${error.message} (${cause.code ?? cause.message})`;
  return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
}
