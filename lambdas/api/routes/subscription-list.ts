import * as z from 'zod';
import { subscriptionView } from '../../billing/domain/subscription';
import {
  decodeSubscriptionsCursor,
  encodeSubscriptionsCursor,
  SUBSCRIPTION_STATUSES,
} from '../../billing/domain/subscription-list';
import { IndexNotReadyError } from '../../index-gate/domain/index-gate';
import { HttpProblem, problems } from '../http/problem';
import type { Route } from '../http/router';
import { limitParam, validateQuery } from '../query';
import type { RouteContext } from '../route-context';
import { type ApiServices, billingOf } from '../services';

export const SUBSCRIPTIONS_DEFAULT_LIMIT = 20;
export const SUBSCRIPTIONS_MAX_LIMIT = 100;

/** How long a client should wait before asking again while the list's index is still being built. */
const INDEX_NOT_READY_RETRY_AFTER_SECONDS = 30;

/** The query of `GET /v1/subscriptions` (docs/api.md section 3). */
export const subscriptionListQuery = z.object({
  status: z
    .enum(SUBSCRIPTION_STATUSES, { message: `must be one of ${SUBSCRIPTION_STATUSES.join(', ')}` })
    .optional(),
  limit: limitParam(SUBSCRIPTIONS_MAX_LIMIT),
  /** The `next` of the previous page, as it was given. */
  cursor: z.string().optional(),
});

/**
 * `GET /v1/subscriptions`: the store's subscriptions newest first (by `createdAt`, then id), each as
 * `GET /v1/subscriptions/{id}` shows it without its `charges` (one read per page, not one per subscription).
 * With `status`, a page may hold fewer than `limit` subscriptions and still have a `next`.
 */
export function subscriptionListRoutes(services: ApiServices): Route<RouteContext>[] {
  return [
    {
      method: 'GET',
      path: '/v1/subscriptions',
      handle: async (request) => {
        const storeId = await services.auth.store(request);
        const query = validateQuery(subscriptionListQuery, request);
        const after = query.cursor === undefined ? undefined : decodeSubscriptionsCursor(query.cursor);
        if (query.cursor !== undefined && after === undefined) {
          throw problems.validation([{ field: 'cursor', message: 'must be the `next` of an earlier page' }]);
        }
        try {
          const page = await billingOf(services).subscriptions.list(storeId, {
            limit: query.limit ?? SUBSCRIPTIONS_DEFAULT_LIMIT,
            ...(query.status !== undefined ? { status: query.status } : {}),
            ...(after !== undefined ? { after } : {}),
          });
          return {
            status: 200,
            body: {
              data: page.subscriptions.map(subscriptionView),
              ...(page.next ? { next: encodeSubscriptionsCursor(page.next) } : {}),
            },
          };
        } catch (error) {
          if (error instanceof IndexNotReadyError) throw indexNotReady();
          throw error;
        }
      },
    },
  ];
}

/** 503 while the index is built (a new deployment's backfill): never a partial list. */
function indexNotReady(): HttpProblem {
  return new HttpProblem(
    503,
    'List not available yet',
    'The index that lists subscriptions newest first is still being built; every subscription is still readable ' +
      'by id. Retry later.',
    { slug: 'index-not-ready', headers: { 'retry-after': String(INDEX_NOT_READY_RETRY_AFTER_SECONDS) } },
  );
}
