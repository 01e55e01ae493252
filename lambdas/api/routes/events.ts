import * as z from 'zod';
import { EVENT_TYPES, firstEventIdAt, isEventId } from '../../events/domain/events';
import { problems } from '../http/problem';
import type { Route } from '../http/router';
import { limitParam, validateQuery } from '../query';
import type { RouteContext } from '../route-context';
import type { ApiServices } from '../services';

const DEFAULT_LIMIT = 50;

export const listQuery = z.object({
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
  /** `asc` (oldest first) or `desc` (newest first, as Zapier's performList expects). */
  order: z.enum(['asc', 'desc'], { message: 'must be "asc" or "desc"' }).optional(),
  /**
   * A page's `next`, in either order: the events after it (`asc`) or before it (`desc`). In `asc` the same `next`
   * may also be passed as `since`.
   */
  cursor: z.string().refine(isEventId, 'must be the `next` of an earlier page').optional(),
});

/**
 * `GET /v1/events`: the store's events, oldest first (or newest first with `order=desc`), with a `next` cursor while
 * more may follow; `GET /v1/events/{id}`: one event, as delivered.
 */
export function eventRoutes(services: ApiServices): Route<RouteContext>[] {
  return [
    {
      method: 'GET',
      path: '/v1/events',
      handle: async (request) => {
        const storeId = await services.auth.store(request);
        const query = validateQuery(listQuery, request);
        const since = query.since === undefined ? undefined : cursorFrom(query.since);
        const cursor = query.cursor === undefined ? undefined : cursorFrom(query.cursor);
        const descending = query.order === 'desc';
        // In `asc` the cursor and `since` are both lower bounds: the later one holds.
        const afterId =
          descending || cursor === undefined || (since !== undefined && since > cursor) ? since : cursor;
        const { events, next } = await services.deps.events.list(storeId, {
          afterId,
          ...(descending
            ? { order: 'desc' as const, ...(cursor !== undefined ? { beforeId: cursor } : {}) }
            : {}),
          types: query.type ? [query.type] : undefined,
          limit: query.limit ?? DEFAULT_LIMIT,
        });
        return { status: 200, body: { data: events, ...(next ? { next } : {}) } };
      },
    },
    {
      method: 'GET',
      path: '/v1/events/{id}',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const id = params.id ?? '';
        // Only an event id can name an event (not worth a read otherwise); another store's is not found.
        const event = isEventId(id) ? await services.deps.events.get(storeId, cursorFrom(id)) : undefined;
        if (!event) throw problems.notFound(`No event "${id}" in this store.`);
        return { status: 200, body: event };
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
