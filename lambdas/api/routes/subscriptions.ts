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
import { subscriptionPatch } from '../../billing/domain/subscription-changes';
import { updateSubscription } from '../../billing/domain/update';
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
 * `POST /v1/subscriptions`, `GET`, `PATCH` and `DELETE /v1/subscriptions/{id}`. A create with an `id` is one conditional
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
        return withCharges(services, subscription);
      },
    },
    {
      method: 'PATCH',
      path: `${PATH}/{id}`,
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const patch = validateBody(subscriptionPatch, readJsonBody(request));
        const now = services.now();
        const result = await updateSubscription(billing(), storeId, params.id ?? '', patch, {
          now,
          eventId: newEventId(now),
        });
        if (result.outcome === 'missing') throw notFound(params.id);
        if (result.outcome === 'conflict') throw patchRefused(result);
        return withCharges(services, result.subscription);
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
        return withCharges(services, result.subscription);
      },
    },
  ];
}

/** 200 with the subscription as GET shows it: its state and its charges. */
async function withCharges(services: ApiServices, subscription: Subscription): Promise<ApiResponse> {
  const charges = await billingOf(services).charges.listForSubscription(
    subscription.storeId,
    subscription.subscriptionId,
  );
  return { status: 200, body: { ...subscriptionView(subscription), charges: chargesView(charges) } };
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

/** A patch the subscription's state refuses (409), or a value that is wrong now (400, such as a past `endAt`). */
function patchRefused(result: { status: 400 | 409; reason: string; field?: string }): HttpProblem {
  if (result.status === 400) {
    return problems.validation([{ field: result.field ?? '(body)', message: result.reason }]);
  }
  return new HttpProblem(409, 'Subscription cannot change so', result.reason, {
    slug: 'subscription-state',
    ...(result.field ? { errors: [{ field: result.field, message: result.reason }] } : {}),
  });
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
        attempt: latest.attempt,
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
