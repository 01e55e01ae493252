import { ulid } from 'ulid';
import * as z from 'zod';
import {
  type EventType,
  firstEventIdAt,
  isEventId,
  newEventId,
  type PipelineEvent,
} from '../../events/domain/events';
import { type Endpoint, endpointWants } from '../../webhooks/domain/endpoints';
import { withEmbeddedEvent } from '../../webhooks/domain/messages';
import { HttpProblem, problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import { type ApiServices, storeScope } from '../services';
import { replayWindow } from './webhooks';

/**
 * What a merchant sends again to one endpoint beside the replay (docs/api.md section 3): recover (only what was
 * not delivered), resend (one event) and test (a `webhook.test`). Each is one replays queue message; ReplayFunction
 * turns it into deliveries (webhooks/domain/replay.ts), which are retried and logged like any other.
 */

const ENDPOINT_ID_PATTERN = /^ep_[0-9A-Z]{26}$/;
const RECOVER_PAGE = 100;

const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' });
export const recoverBody = z.strictObject({ since: isoTime, until: isoTime.optional() });
export const testBody = z.strictObject({});

export function webhookRefeedRoutes(services: ApiServices): Route<RouteContext>[] {
  const { endpoints, events, replays } = services.deps;

  async function findEndpoint(storeId: string, id: string | undefined): Promise<Endpoint> {
    const endpoint = id && ENDPOINT_ID_PATTERN.test(id) ? await endpoints.get(storeId, id) : undefined;
    if (!endpoint) throw problems.notFound(`No webhook endpoint "${id ?? ''}" in this store.`);
    return endpoint;
  }

  return [
    {
      method: 'POST',
      path: '/v1/webhooks/{id}/recover',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const endpoint = await findEndpoint(storeId, params.id);
        const body = validateBody(recoverBody, readJsonBody(request));
        const window = replayWindow(body, services.now());
        refuseDisabled(endpoint);
        return services.idempotent(request, storeScope(storeId), body, async () => {
          const recoveryId = `rcv_${ulid()}`;
          // Events from before the endpoint existed were never its to receive.
          const since = Math.max(window.since, Date.parse(endpoint.createdAt) || window.since);
          const types = endpoint.events.includes('*') ? undefined : (endpoint.events as EventType[]);
          const count =
            since < window.until ? await countUndelivered(services, endpoint, since, window.until, types) : 0;
          if (count > 0) {
            await replays.send({
              storeId,
              endpointId: endpoint.id,
              replayId: recoveryId,
              since,
              until: window.until,
              ...(types ? { types } : {}),
              trigger: 'recover',
            });
          }
          return { status: 202, body: { recoveryId, count } };
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/webhooks/{id}/events/{eventId}/resend',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const endpoint = await findEndpoint(storeId, params.id);
        const eventId = params.eventId ?? '';
        const event = isEventId(eventId) ? await events.get(storeId, eventId) : undefined;
        if (!event) throw problems.notFound(`No event "${eventId}" in this store.`);
        if (!endpointWants({ ...endpoint, status: 'enabled' }, event.type)) {
          throw new HttpProblem(
            422,
            'Event type not subscribed',
            `The endpoint does not subscribe to ${event.type} events.`,
            {
              slug: 'event-type-not-subscribed',
              errors: [{ field: 'eventId', message: `is a ${event.type} event` }],
            },
          );
        }
        refuseDisabled(endpoint);
        // Checked before the key is taken (like a validation failure), so the request may be made again once fixed.
        // The route takes no body: whatever was sent is not part of the request's identity.
        return services.idempotent(request, storeScope(storeId), {}, async () => {
          await replays.send({
            delivery: withEmbeddedEvent(
              {
                storeId,
                endpointId: endpoint.id,
                eventId: event.id,
                // A delivery of its own (its own lease and attempts), whatever became of the earlier ones.
                replayId: `rsd_${ulid()}`,
                trigger: 'resend',
                attempt: 1,
              },
              event,
            ),
          });
          return { status: 202, body: { eventId: event.id } };
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/webhooks/{id}/test',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const endpoint = await findEndpoint(storeId, params.id);
        const body = validateBody(testBody, request.rawBody.trim() === '' ? {} : readJsonBody(request));
        refuseDisabled(endpoint);
        return services.idempotent(request, storeScope(storeId), body, async () => {
          const now = services.now();
          // Not stored: it is not one of the store's events (GET /v1/events), and it travels in its message.
          const event: PipelineEvent = {
            id: newEventId(now),
            type: 'webhook.test',
            createdAt: new Date(now).toISOString(),
            storeId,
            data: { endpointId: endpoint.id },
          };
          await replays.send({
            delivery: {
              storeId,
              endpointId: endpoint.id,
              eventId: event.id,
              trigger: 'test',
              attempt: 1,
              event,
            },
          });
          return { status: 202, body: { eventId: event.id } };
        });
      },
    },
  ];
}

/** A disabled endpoint is sent nothing (delivery skips it): 409, so the merchant enables it first. */
function refuseDisabled(endpoint: Endpoint): void {
  if (endpoint.status !== 'enabled') {
    throw problems.conflict(
      `The endpoint is disabled (${endpoint.disabledReason ?? 'manual'}): enable it (PATCH status "enabled") first.`,
    );
  }
}

/** How many events of the window a recover will send: those without a delivery to the endpoint that succeeded. */
async function countUndelivered(
  services: ApiServices,
  endpoint: Endpoint,
  since: number,
  until: number,
  types: readonly EventType[] | undefined,
): Promise<number> {
  let count = 0;
  let afterId: string | undefined = firstEventIdAt(Math.max(0, since));
  do {
    const page = await services.deps.events.list(endpoint.storeId, {
      afterId,
      untilTime: until,
      types,
      limit: RECOVER_PAGE,
    });
    const first = page.events[0];
    const last = page.events.at(-1);
    if (first && last) {
      const delivered = await services.deps.attempts.succeededEventIds(endpoint.id, first.id, last.id);
      count += page.events.filter((event) => !delivered.has(event.id)).length;
    }
    afterId = page.next;
  } while (afterId);
  return count;
}
