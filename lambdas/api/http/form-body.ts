import type { ApiRequest } from './api-types';

/**
 * HTML form bodies (`application/x-www-form-urlencoded`), for the manage page's forms. Answered as a result rather
 * than thrown as a problem: the page answers its mistakes as HTML, not problem+json.
 */

/** The manage page's forms hold a token and a payment method: a few hundred bytes. */
export const MAX_FORM_BODY_BYTES = 8 * 1024;

export type FormBody =
  | { readonly kind: 'fields'; readonly fields: ReadonlyMap<string, string> }
  | { readonly kind: 'too-large'; readonly limitBytes: number }
  | { readonly kind: 'unsupported-type'; readonly contentType: string }
  | { readonly kind: 'malformed'; readonly detail: string };

/** A `%` not followed by two hex digits: URLSearchParams would keep it as it is, which hides a broken body. */
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/**
 * The fields of a form body. Refused: a body over `limitBytes`, another media type, a broken escape or an escape
 * that is not UTF-8, and a field given twice (no form of the page sends one twice; taking either would be a guess).
 */
export function readFormBody(request: ApiRequest, limitBytes = MAX_FORM_BODY_BYTES): FormBody {
  if (Buffer.byteLength(request.rawBody, 'utf8') > limitBytes) return { kind: 'too-large', limitBytes };
  const contentType = (request.headers['content-type'] ?? '').trim();
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) {
    return { kind: 'unsupported-type', contentType: contentType || '(none)' };
  }
  if (BAD_ESCAPE.test(request.rawBody)) {
    return { kind: 'malformed', detail: 'The form body has a broken %-escape.' };
  }
  const fields = new Map<string, string>();
  for (const pair of request.rawBody.split('&')) {
    if (pair === '') continue;
    const [rawName = '', ...rest] = pair.split('=');
    let name: string;
    let value: string;
    try {
      name = decodeFormComponent(rawName);
      value = decodeFormComponent(rest.join('='));
    } catch {
      return { kind: 'malformed', detail: 'The form body is not valid UTF-8.' };
    }
    if (fields.has(name)) return { kind: 'malformed', detail: `The form field "${name}" is given twice.` };
    fields.set(name, value);
  }
  return { kind: 'fields', fields };
}

function decodeFormComponent(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}
