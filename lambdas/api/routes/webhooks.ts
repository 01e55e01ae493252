import { ulid } from 'ulid';
import * as z from 'zod';
import { type EventType, firstEventIdAt, SUBSCRIBABLE_EVENT_TYPES } from '../../events/domain/events';
import { parseCustomHeaders } from '../../webhooks/domain/endpoint-headers';
import {
  type Endpoint,
  type EndpointSecret,
  publicEndpoint,
  SECRET_ROTATION_OVERLAP_MS,
} from '../../webhooks/domain/endpoints';
import { generateWebhookSecret } from '../../webhooks/domain/signature';
import { checkWebhookTarget } from '../../webhooks/domain/target';
import { HttpProblem, problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import { type ApiServices, storeScope } from '../services';
import { endpointWithStats, listAttempts } from './webhook-attempts';

/** Endpoint ids are generated: anything else cannot name an endpoint, and is not worth a read. */
const ENDPOINT_ID_PATTERN = /^ep_[0-9A-Z]{26}$/;
const MAX_REPLAY_WINDOW_MS = 30 * 86_400_000;
const REPLAY_COUNT_PAGE = 100;

const eventFilter = z
  .array(
    z.enum([...SUBSCRIBABLE_EVENT_TYPES, '*'], {
      message: `must be "*" or one of ${SUBSCRIBABLE_EVENT_TYPES.join(', ')}`,
    }),
  )
  .min(1, 'must name at least one event type, or "*" for all')
  .max(20, 'must name at most 20 event types')
  // "*" subsumes the rest; duplicates would only be noise in what the merchant reads back.
  .transform((events): (EventType | '*')[] => (events.includes('*') ? ['*'] : [...new Set(events)]));
const url = z.string().min(1, 'must not be empty');
const description = z.string().max(500, 'must be at most 500 characters');

/** docs/api.md section 3: deliveries per second to one endpoint, 1-1000 (domain/endpoint-pace.ts). */
const rateLimit = z
  .number({ message: 'must be a whole number of deliveries per second, from 1 to 1000' })
  .int('must be a whole number of deliveries per second, from 1 to 1000')
  .min(1, 'must be at least 1 delivery per second')
  .max(1000, 'must be at most 1000 deliveries per second');
/** Custom headers, checked by the webhooks domain; each problem names `headers.<name>` (or `headers`). */
export const customHeaders = z.unknown().transform((input, ctx) => {
  const parsed = parseCustomHeaders(input);
  if (parsed.ok) return parsed.headers;
  for (const problem of parsed.problems) {
    ctx.addIssue({ code: 'custom', message: problem.message, path: [...problem.path] });
  }
  return z.NEVER;
});

export const createBody = z.strictObject({
  url,
  events: eventFilter,
  description: description.optional(),
  rateLimit: rateLimit.optional(),
  headers: customHeaders.optional(),
});

export const patchBody = z
  .strictObject({
    url: url.optional(),
    events: eventFilter.optional(),
    status: z.enum(['enabled', 'disabled'], { message: 'must be "enabled" or "disabled"' }).optional(),
    description: description.optional(),
    /** null removes the limit. */
    rateLimit: rateLimit.nullable().optional(),
    /** Replaces the whole set; null or {} removes them. */
    headers: customHeaders.nullable().optional(),
  })
  .refine(
    (body) => Object.values(body).some((value) => value !== undefined),
    'must change at least one of url, events, status, description, rateLimit, headers',
  );

const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' });
export const replayBody = z.strictObject({
  since: isoTime,
  until: isoTime.optional(),
  events: z
    .array(
      z.enum(SUBSCRIBABLE_EVENT_TYPES, { message: `must be one of ${SUBSCRIBABLE_EVENT_TYPES.join(', ')}` }),
    )
    .min(1, 'must name at least one event type; leave it out for all')
    .optional(),
});

/** The endpoint registry, REST-hooks style: create, list, get, patch, delete, rotate, attempts, replay. */
export function webhookRoutes(services: ApiServices): Route<RouteContext>[] {
  const { endpoints } = services.deps;

  /** The store's endpoint named by the path; another store's (or none) is 404. */
  async function findEndpoint(storeId: string, id: string | undefined): Promise<Endpoint> {
    const endpoint = id && ENDPOINT_ID_PATTERN.test(id) ? await endpoints.get(storeId, id) : undefined;
    if (!endpoint) throw notFound(id);
    return endpoint;
  }

  /** 422 naming `url` when the URL may not receive webhooks (SSRF guard, https in AWS). */
  async function checkUrl(rawUrl: string): Promise<void> {
    const check = await checkWebhookTarget(rawUrl, services.targetPolicy);
    if (!check.ok) {
      throw new HttpProblem(422, 'Webhook URL refused', check.reason, {
        slug: 'webhook-url-refused',
        errors: [{ field: 'url', message: check.reason }],
      });
    }
  }

  return [
    {
      method: 'POST',
      path: '/v1/webhooks',
      handle: async (request) => {
        const storeId = await services.auth.store(request);
        const body = validateBody(createBody, readJsonBody(request));
        // A refused URL is a validation failure: checked before the key is taken, so a fixed request may reuse it.
        await checkUrl(body.url);
        return services.idempotent(request, storeScope(storeId), body, async () => {
          const at = new Date(services.now()).toISOString();
          const secret = generateWebhookSecret();
          const endpoint: Endpoint = {
            id: `ep_${ulid()}`,
            storeId,
            url: body.url,
            events: body.events,
            ...(body.description !== undefined ? { description: body.description } : {}),
            ...(body.rateLimit !== undefined ? { rateLimit: body.rateLimit } : {}),
            ...(body.headers !== undefined && Object.keys(body.headers).length > 0
              ? { headers: body.headers }
              : {}),
            status: 'enabled',
            secrets: [{ secret }],
            createdAt: at,
            updatedAt: at,
          };
          await endpoints.create(endpoint);
          // The only time the secret is shown.
          return { status: 201, body: { ...publicEndpoint(endpoint), secret } };
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/webhooks',
      handle: async (request) => {
        const storeId = await services.auth.store(request);
        const list = await endpoints.list(storeId);
        return {
          status: 200,
          body: { data: await Promise.all(list.map((endpoint) => endpointWithStats(services, endpoint))) },
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/webhooks/{id}',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        return {
          status: 200,
          body: await endpointWithStats(services, await findEndpoint(storeId, params.id)),
        };
      },
    },
    {
      method: 'PATCH',
      path: '/v1/webhooks/{id}',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const id = params.id ?? '';
        if (!ENDPOINT_ID_PATTERN.test(id)) throw notFound(id);
        const body = validateBody(patchBody, readJsonBody(request));
        if (body.url !== undefined) await checkUrl(body.url);
        // No read first: the conditional update finds out whether the store has this endpoint.
        const updated = await endpoints.update(storeId, id, {
          ...(body.url !== undefined ? { url: body.url } : {}),
          ...(body.events !== undefined ? { events: body.events } : {}),
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.rateLimit !== undefined ? { rateLimit: body.rateLimit } : {}),
          // The whole set is replaced; none left removes the attribute.
          ...(body.headers !== undefined
            ? {
                headers:
                  body.headers === null || Object.keys(body.headers).length === 0 ? null : body.headers,
              }
            : {}),
          // Enabling also clears the reason and the failing state (the repository's contract for `enabled`).
          ...(body.status === 'disabled' ? { status: 'disabled', disabledReason: 'manual' } : {}),
          ...(body.status === 'enabled' ? { status: 'enabled' } : {}),
          updatedAt: new Date(services.now()).toISOString(),
        });
        if (!updated) throw notFound(id);
        return { status: 200, body: publicEndpoint(updated) };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/webhooks/{id}',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const id = params.id ?? '';
        if (!ENDPOINT_ID_PATTERN.test(id) || !(await endpoints.delete(storeId, id))) throw notFound(id);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: '/v1/webhooks/{id}/rotate-secret',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const endpoint = await findEndpoint(storeId, params.id);
        // The route takes no body: whatever was sent is not part of the request's identity.
        return services.idempotent(request, storeScope(storeId), {}, async () => {
          const now = services.now();
          const secret = generateWebhookSecret();
          const updated = await endpoints.update(storeId, endpoint.id, {
            secrets: rotatedSecrets(endpoint.secrets, secret, now),
            updatedAt: new Date(now).toISOString(),
          });
          if (!updated) throw notFound(endpoint.id);
          return { status: 200, body: { secret } };
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/webhooks/{id}/attempts',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        // The attempts table is keyed by endpoint alone: the store is checked through its endpoint.
        const endpoint = await findEndpoint(storeId, params.id);
        return listAttempts(services, endpoint.id, request);
      },
    },
    {
      method: 'POST',
      path: '/v1/webhooks/{id}/replay',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const endpoint = await findEndpoint(storeId, params.id);
        const body = validateBody(replayBody, readJsonBody(request));
        const window = replayWindow(body, services.now());
        return services.idempotent(request, storeScope(storeId), body, async () => {
          const replayId = `rpl_${ulid()}`;
          const count = await countEvents(services, storeId, window, body.events);
          await services.deps.replays.send({
            storeId,
            endpointId: endpoint.id,
            replayId,
            since: window.since,
            until: window.until,
            ...(body.events ? { types: body.events } : {}),
          });
          return { status: 202, body: { replayId, count } };
        });
      },
    },
  ];
}

/**
 * The secrets after a rotation, newest first: the new one, the one it replaces (signing beside it for 24 h), and
 * any earlier rotated-out secret still within its own 24 h. Expired ones are dropped.
 */
function rotatedSecrets(current: readonly EndpointSecret[], secret: string, now: number): EndpointSecret[] {
  const expiresAt = new Date(now + SECRET_ROTATION_OVERLAP_MS).toISOString();
  const live = current.filter((s) => s.expiresAt === undefined || Date.parse(s.expiresAt) > now);
  return [{ secret }, ...live.map((s) => (s.expiresAt === undefined ? { secret: s.secret, expiresAt } : s))];
}

/** since < until <= now, at most 30 days apart; `until` defaults to now. Epoch ms. Replay's and recover's. */
export function replayWindow(
  body: { since: string; until?: string },
  now: number,
): { since: number; until: number } {
  const since = Date.parse(body.since);
  const until = body.until === undefined ? now : Date.parse(body.until);
  if (until > now) throw problems.validation([{ field: 'until', message: 'must not be in the future' }]);
  if (since >= until) {
    throw problems.validation([
      body.until === undefined
        ? { field: 'since', message: 'must be in the past' }
        : { field: 'until', message: 'must be after since' },
    ]);
  }
  if (until - since > MAX_REPLAY_WINDOW_MS) {
    throw problems.validation([
      { field: 'since', message: 'the window from since to until must be at most 30 days' },
    ]);
  }
  return { since, until };
}

/** How many events the replay will send: the window paged through, as the fanout will page it. */
async function countEvents(
  services: ApiServices,
  storeId: string,
  window: { since: number; until: number },
  types: readonly EventType[] | undefined,
): Promise<number> {
  let count = 0;
  let afterId: string | undefined = firstEventIdAt(Math.max(0, window.since));
  do {
    const page = await services.deps.events.list(storeId, {
      afterId,
      untilTime: window.until,
      types,
      limit: REPLAY_COUNT_PAGE,
    });
    count += page.events.length;
    afterId = page.next;
  } while (afterId);
  return count;
}

function notFound(id: string | undefined): HttpProblem {
  return problems.notFound(`No webhook endpoint "${id ?? ''}" in this store.`);
}
