import * as z from 'zod';
import { EVENT_TYPES, firstEventIdAt, isEventId } from '../../events/domain/events';
import type { Route } from '../http/router';
import { limitParam, validateQuery } from '../query';
import type { RouteContext } from '../route-context';
import type { ApiServices } from '../services';

const DEFAULT_LIMIT = 50;

const listQuery = z.object({
  /**
   * An ISO time (events created then or later) or an event id (events strictly after it). A page's `next` is
   * passed back as `since` to read the following page.
   */
  since: z
    .string()
    .refine(
      (value) => isEventId(value) || z.iso.datetime({ offset: true }).safeParse(value).success,
      'must be an ISO 8601 date-time or an event id (evt_...)',
    )
    .optional(),
  type: z.enum(EVENT_TYPES, { message: `must be one of ${EVENT_TYPES.join(', ')}` }).optional(),
  limit: limitParam(100),
});

/** `GET /v1/events`: the store's events, oldest first, with a `next` cursor while more may follow. */
export function eventRoutes(services: ApiServices): Route<RouteContext>[] {
  return [
    {
      method: 'GET',
      path: '/v1/events',
      handle: async (request) => {
        const storeId = await services.auth.store(request);
        const query = validateQuery(listQuery, request);
        const { events, next } = await services.deps.events.list(storeId, {
          afterId: query.since === undefined ? undefined : cursorFrom(query.since),
          types: query.type ? [query.type] : undefined,
          limit: query.limit ?? DEFAULT_LIMIT,
        });
        return { status: 200, body: { data: events, ...(next ? { next } : {}) } };
      },
    },
  ];
}

function cursorFrom(since: string): string {
  // ULIDs are case-insensitive but keys compare as bytes: stored ids are upper-case.
  if (isEventId(since)) return `evt_${since.slice(4).toUpperCase()}`;
  // Times before the epoch have no ULID; they mean "from the start".
  return firstEventIdAt(Math.max(0, Date.parse(since)));
}
