import * as z from 'zod';
import type { ApiRequest } from './http/api-types';
import { validateBody } from './http/request-body';

/**
 * Query-string parameters validated like bodies: a bad value is a 400 whose `errors` name the parameter.
 * Unknown parameters are ignored, as caches and tracing tools add their own.
 */
export function validateQuery<Schema extends z.ZodType>(
  schema: Schema,
  request: ApiRequest,
): z.infer<Schema> {
  return validateBody(schema, request.query);
}

/** `limit`: a whole number from 1 to `max` (the caller supplies the default). */
export function limitParam(max: number) {
  const message = `must be a whole number from 1 to ${max}`;
  return z
    .string()
    .regex(/^\d{1,6}$/, message)
    .transform(Number)
    .pipe(z.number().int().min(1, message).max(max, message))
    .optional();
}
