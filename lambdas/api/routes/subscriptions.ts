import { ulid } from 'ulid';
import { cancelSubscription } from '../../billing/domain/cancel';
import type { ChargeRecord } from '../../billing/domain/charges/charge';
import {
  newSubscription,
  type Subscription,
  type SubscriptionInput,
  subscriptionInput,
  subscriptionView,
} from '../../billing/domain/subscription';
import { newEventId } from '../../events/domain/events';
import { requestFingerprint } from '../domain/idempotency';
import type { ApiResponse } from '../http/api-types';
import { HttpProblem, problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import { type ApiServices, billingOf, storeScope } from '../services';

const PATH = '/v1/subscriptions';

/**
 * `POST /v1/subscriptions`, `GET` and `DELETE /v1/subscriptions/{id}`. A create with an `id` is one conditional
 * write, and a retry of the same body answers as the first time (as transactions do); without an `id`, the
 * Idempotency-Key header makes a retry safe.
 */
export function subscriptionRoutes(services: ApiServices): Route<RouteContext>[] {
  const billing = () => billingOf(services);
  return [
    {
      method: 'POST',
      path: PATH,
      handle: async (request) => {
        const storeId = await services.auth.store(request);
        const body = validateBody(subscriptionInput, readJsonBody(request));
        const create = () => createSubscription(services, storeId, body);
        if (request.headers['idempotency-key'] === undefined) return create();
        return services.idempotent(request, storeScope(storeId), body, create);
      },
    },
    {
      method: 'GET',
      path: `${PATH}/{id}`,
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const subscription = await billing().subscriptions.get(storeId, params.id ?? '');
        if (!subscription) throw notFound(params.id);
        const charges = await billing().charges.listForSubscription(storeId, subscription.subscriptionId);
        return { status: 200, body: { ...subscriptionView(subscription), charges: chargesView(charges) } };
      },
    },
    {
      method: 'DELETE',
      path: `${PATH}/{id}`,
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const now = services.now();
        const result = await cancelSubscription(billing(), storeId, params.id ?? '', {
          canceledAt: new Date(now).toISOString(),
          eventId: newEventId(now),
        });
        if (result.outcome === 'missing') throw notFound(params.id);
        if (result.outcome === 'ended') {
          throw new HttpProblem(
            409,
            'Subscription already canceled',
            `Subscription ${result.subscription.subscriptionId} is already canceled; there is nothing to cancel.`,
            { slug: 'subscription-ended' },
          );
        }
        const charges = await billing().charges.listForSubscription(
          storeId,
          result.subscription.subscriptionId,
        );
        return {
          status: 200,
          body: { ...subscriptionView(result.subscription), charges: chargesView(charges) },
        };
      },
    },
  ];
}

async function createSubscription(
  services: ApiServices,
  storeId: string,
  body: SubscriptionInput,
): Promise<ApiResponse> {
  const billing = billingOf(services);
  const now = services.now();
  const subscriptionId = body.id ?? `sub_${ulid(now)}`;
  const fingerprint = requestFingerprint('POST', PATH, { ...body, id: subscriptionId });
  const subscription = newSubscription({
    storeId,
    subscriptionId,
    body,
    fingerprint,
    now,
    createdEventId: newEventId(now),
  });
  const result = await billing.subscriptions.create(subscription);
  if (result.created) return created(subscription, false);
  // The same create again (a retry without Idempotency-Key): answered as the first time.
  if (body.id !== undefined && result.existing.fingerprint === fingerprint)
    return created(result.existing, true);
  throw problems.conflict(`A subscription with id "${subscriptionId}" already exists with other details.`);
}

function created(subscription: Subscription, replayed: boolean): ApiResponse {
  return {
    status: 201,
    body: { ...subscriptionView(subscription), charges: [] },
    ...(replayed ? { headers: { 'idempotent-replayed': 'true' } } : {}),
  };
}

function notFound(id: string | undefined): HttpProblem {
  return problems.notFound(`No subscription "${id ?? ''}" in this store.`);
}

/** One entry per period: its latest attempt's outcome, with the number of attempts it took. */
function chargesView(charges: readonly ChargeRecord[]) {
  const byPeriod = new Map<string, ChargeRecord[]>();
  for (const charge of charges) byPeriod.set(charge.period, [...(byPeriod.get(charge.period) ?? []), charge]);
  return [...byPeriod.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([period, attempts]) => {
      const latest = attempts.reduce((a, b) => (b.attempt > a.attempt ? b : a));
      return {
        period,
        status: latest.status,
        amount: latest.amount,
        currency: latest.currency,
        ...(latest.paymentIntentId ? { paymentIntentId: latest.paymentIntentId } : {}),
        ...(latest.declineCode ? { declineCode: latest.declineCode } : {}),
        attempts: attempts.length,
        at: latest.resolvedAt ?? latest.claimedAt,
      };
    });
}
