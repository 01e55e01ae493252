import type { z } from 'zod';
import type { ApiRequest } from './api-types';
import { type FieldError, problems } from './problem';

/** The contract's body limit: larger bodies are refused with 413 before they are parsed. */
export const MAX_BODY_BYTES = 256 * 1024;

/** Any character String.prototype.trim would keep (its whitespace is \s's: WhiteSpace and LineTerminator). */
const NOT_BLANK = /\S/;

/** Parses the JSON body of a request: 413 over the limit, 415 for another media type, 400 for bad JSON. */
export function readJsonBody(request: ApiRequest): unknown {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: a body that short is under the limit without counting.
  if (
    request.rawBody.length * 3 > MAX_BODY_BYTES &&
    Buffer.byteLength(request.rawBody, 'utf8') > MAX_BODY_BYTES
  )
    throw problems.payloadTooLarge(MAX_BODY_BYTES);
  const contentType = request.headers['content-type'];
  // A missing Content-Type is accepted (curl -d sends form-urlencoded by default and many clients send none);
  // a declared non-JSON type is refused so a form post is not misread.
  if (contentType && !/^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim())) {
    if (!/^application\/x-www-form-urlencoded\b/i.test(contentType.trim())) {
      throw problems.unsupportedMediaType(contentType);
    }
  }
  if (!NOT_BLANK.test(request.rawBody))
    throw problems.badJson('The request body is empty; send a JSON object.');
  try {
    return JSON.parse(request.rawBody);
  } catch (error) {
    throw problems.badJson(`The request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Validates a parsed body against a zod schema; 400 naming every invalid field. */
export function validateBody<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw problems.validation(toFieldErrors(result.error));
}

function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)',
    message: issue.message,
  }));
}
