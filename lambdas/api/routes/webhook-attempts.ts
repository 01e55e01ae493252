import * as z from 'zod';
import { isEventId } from '../../events/domain/events';
import {
  decodeAttemptsCursor,
  encodeAttemptsCursor,
  isAttemptEventId,
  publicAttempt,
} from '../../webhooks/domain/attempt-log';
import { endpointStats, summarizeStats } from '../../webhooks/domain/endpoint-stats';
import { type Endpoint, publicEndpoint } from '../../webhooks/domain/endpoints';
import type { ApiRequest, ApiResponse } from '../http/api-types';
import { problems } from '../http/problem';
import { limitParam, validateQuery } from '../query';
import type { ApiServices } from '../services';

const DEFAULT_LIMIT = 20;

export const attemptsQuery = z.object({
  limit: limitParam(100),
  status: z.enum(['succeeded', 'failed'], { message: 'must be "succeeded" or "failed"' }).optional(),
  eventId: z
    .string()
    .refine(isAttemptEventId, 'must be an event id (evt_...)')
    // ULIDs are case-insensitive but keys compare as bytes: stored ids are upper-case.
    .transform((id) => (isEventId(id) ? `evt_${id.slice(4).toUpperCase()}` : id))
    .optional(),
  cursor: z.string().optional(),
});

/**
 * `GET /v1/webhooks/{id}/attempts` of an endpoint already found in the caller's store (docs/api.md section 3):
 * newest first, filtered by `status` and `eventId`, `next` passed back as `cursor`.
 */
export async function listAttempts(
  services: ApiServices,
  endpointId: string,
  request: ApiRequest,
): Promise<ApiResponse> {
  const query = validateQuery(attemptsQuery, request);
  const after = query.cursor === undefined ? undefined : decodeAttemptsCursor(query.cursor, query.eventId);
  if (query.cursor !== undefined && after === undefined) {
    throw problems.validation([
      {
        field: 'cursor',
        message:
          query.eventId === undefined
            ? 'must be the `next` of an earlier page'
            : 'must be the `next` of an earlier page with the same eventId',
      },
    ]);
  }
  const page = await services.deps.attempts.list(endpointId, {
    limit: query.limit ?? DEFAULT_LIMIT,
    ...(query.status !== undefined ? { status: query.status } : {}),
    ...(query.eventId !== undefined ? { eventId: query.eventId } : {}),
    ...(after !== undefined ? { after } : {}),
  });
  return {
    status: 200,
    body: {
      data: page.attempts.map(publicAttempt),
      ...(page.next !== undefined ? { next: encodeAttemptsCursor(page.next) } : {}),
    },
  };
}

/** An endpoint as `GET /v1/webhooks` shows it: public fields and its stats of the last 24 h (one Query). */
export async function endpointWithStats(services: ApiServices, endpoint: Endpoint) {
  const now = services.now();
  const stats = services.deps.endpointStats
    ? await endpointStats(services.deps.endpointStats, endpoint, now)
    : summarizeStats([], now, endpoint.failingSince);
  return { ...publicEndpoint(endpoint), stats };
}
