/**
 * The `next` cursors the API hands out (attempts, subscriptions): base64url of a versioned JSON object, opaque to
 * clients so that the position inside may change shape. Each list checks the fields it finds itself.
 */
const CURSOR_VERSION = 1;

export function encodeCursor(fields: Readonly<Record<string, string>>): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, ...fields })).toString('base64url');
}

/**
 * The fields of a cursor this API made (without its version), or undefined for anything else: too long, not
 * base64url, not a JSON object, another version. A client's mistake, which the list answers with 400.
 */
export function decodeCursor(cursor: string, maxLength: number): Record<string, unknown> | undefined {
  if (cursor.length > maxLength || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) return undefined;
  const { v, ...fields } = decoded as Record<string, unknown>;
  return v === CURSOR_VERSION ? fields : undefined;
}
