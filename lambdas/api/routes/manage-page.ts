import * as z from 'zod';
import { cancelSubscription } from '../../billing/domain/cancel';
import {
  issueManageToken,
  MANAGE_PAGE_PATH,
  type ManageLinkClaims,
  manageLinkKeyring,
  manageUrl,
  verifyManageToken,
} from '../../billing/domain/manage-link';
import type { Subscription } from '../../billing/domain/subscription';
import { subscriptionPatch } from '../../billing/domain/subscription-changes';
import { updateSubscription } from '../../billing/domain/update';
import { newEventId } from '../../events/domain/events';
import {
  MANAGE_ACTION_PATHS,
  MANAGE_PAGE_HEADERS,
  manageErrorPage,
  manageNotFoundPage,
  managePageNotice,
  manageSubscriptionPage,
  type PageNotice,
} from '../domain/manage-page-html';
import type { ApiRequest, ApiResponse } from '../http/api-types';
import { readFormBody } from '../http/form-body';
import { problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import { type ApiServices, billingOf, storeScope } from '../services';

/** `POST /v1/subscriptions/{id}/manage-link` takes no field: an empty body, or `{}`. */
export const manageLinkBody = z.strictObject({});

/**
 * The customer's manage link (docs/api.md section 3): `POST /v1/subscriptions/{id}/manage-link` makes one for a
 * store's subscription, and `GET /manage/{token}` is the page it opens, outside `/v1`: the signed token is its only
 * credential. The page's two forms post the token in their body (never a cookie: there are none) to
 * `/manage/actions/payment-method` and `/manage/actions/cancel`. Every answer under /manage is HTML with a strict
 * Content-Security-Policy; a tampered, expired or unknown token, in the URL or in a form, gets the same 404 page and
 * changes nothing. Both forms are idempotent: a second cancel shows the canceled subscription, the same payment
 * method twice changes nothing the second time.
 */
export function managePageRoutes(services: ApiServices): Route<RouteContext>[] {
  const billing = () => billingOf(services);

  /** The keyring of this request's secret. @throws when the API was built without manage links (a 500). */
  const keyringOf = (context: RouteContext) => {
    if (!services.deps.manageLinks || context.secrets.manageLinkKey === undefined) {
      throw new Error('The API was built without its manage link key or base URL.');
    }
    return manageLinkKeyring(context.secrets.manageLinkKey);
  };

  /** The claims of a valid token, or undefined for every other token, whatever is wrong with it. */
  const claimsOf = (token: string | undefined, context: RouteContext): ManageLinkClaims | undefined => {
    if (!token) return undefined;
    const check = verifyManageToken(token, keyringOf(context), services.now());
    return check.valid ? check.claims : undefined;
  };

  /** The page of a subscription, with its charges. */
  const subscriptionPage = async (
    subscription: Subscription,
    token: string,
    notice?: PageNotice,
    status = 200,
  ): Promise<ApiResponse> => {
    const charges = await billing().charges.listForSubscription(
      subscription.storeId,
      subscription.subscriptionId,
    );
    return html(status, manageSubscriptionPage({ subscription, charges, token, notice }));
  };

  /** A form's token and fields, or the HTML answer that ends the request (bad body, or the 404 page). */
  const readForm = (
    request: ApiRequest,
    context: RouteContext,
  ): { claims: ManageLinkClaims; token: string; fields: ReadonlyMap<string, string> } | ApiResponse => {
    const body = readFormBody(request);
    switch (body.kind) {
      case 'too-large':
        return html(
          413,
          manageErrorPage('Form too large', `The form is larger than ${body.limitBytes} bytes.`),
        );
      case 'unsupported-type':
        return html(
          415,
          manageErrorPage('Unsupported form', 'Send the form as application/x-www-form-urlencoded.'),
        );
      case 'malformed':
        return html(400, manageErrorPage('Malformed form', body.detail));
      case 'fields': {
        const token = body.fields.get('token');
        const claims = claimsOf(token, context);
        if (!token || !claims) return notFoundPage();
        return { claims, token, fields: body.fields };
      }
    }
  };

  return [
    {
      method: 'POST',
      path: '/v1/subscriptions/{id}/manage-link',
      handle: async (request, params, context) => {
        const storeId = await services.auth.store(request);
        // No fields: an empty body, or `{}`.
        const body = request.rawBody.trim() === '' ? {} : validateBody(manageLinkBody, readJsonBody(request));
        const create = async (): Promise<ApiResponse> => {
          const subscription = await billing().subscriptions.get(storeId, params.id ?? '');
          if (!subscription) throw problems.notFound(`No subscription "${params.id ?? ''}" in this store.`);
          const links = services.deps.manageLinks;
          const keyring = keyringOf(context);
          if (!links) throw new Error('The API was built without manage links.');
          const { token, expiresAt } = issueManageToken(
            { storeId, subscriptionId: subscription.subscriptionId },
            { now: services.now(), ttlMs: links.ttlMs, keyring },
          );
          return {
            status: 201,
            body: { url: manageUrl(links.baseUrl, token), expiresAt: new Date(expiresAt).toISOString() },
          };
        };
        if (request.headers['idempotency-key'] === undefined) return create();
        return services.idempotent(request, storeScope(storeId), body, create);
      },
    },
    ...htmlRoute(`${MANAGE_PAGE_PATH}/{token}`, 'GET', async (_request, params, context) => {
      const token = params.token ?? '';
      const claims = claimsOf(token, context);
      if (!claims) return notFoundPage();
      const subscription = await billing().subscriptions.get(claims.storeId, claims.subscriptionId);
      if (!subscription) return notFoundPage();
      return subscriptionPage(subscription, token);
    }),
    ...htmlRoute(MANAGE_ACTION_PATHS.cancel, 'POST', async (request, _params, context) => {
      const form = readForm(request, context);
      if (!('claims' in form)) return form;
      const { claims, token } = form;
      const now = services.now();
      const result = await cancelSubscription(billing(), claims.storeId, claims.subscriptionId, {
        canceledAt: new Date(now).toISOString(),
        eventId: newEventId(now),
      });
      if (result.outcome === 'missing') return notFoundPage();
      // Canceled now, or already: the same answer, so a form posted twice is no error.
      return subscriptionPage(result.subscription, token, managePageNotice.canceled);
    }),
    ...htmlRoute(MANAGE_ACTION_PATHS.paymentMethod, 'POST', async (request, _params, context) => {
      const form = readForm(request, context);
      if (!('claims' in form)) return form;
      const { claims, token, fields } = form;
      // The same rule as PATCH's paymentMethod; surrounding blanks are a typing slip, not part of an id.
      const paymentMethod = (fields.get('paymentMethod') ?? '').trim();
      const parsed = subscriptionPatch.safeParse({ paymentMethod });
      if (!parsed.success) {
        const subscription = await billing().subscriptions.get(claims.storeId, claims.subscriptionId);
        if (!subscription) return notFoundPage();
        const message = parsed.error.issues[0]?.message ?? 'is not valid';
        return subscriptionPage(subscription, token, managePageNotice.invalidPaymentMethod(message), 400);
      }
      const now = services.now();
      const result = await updateSubscription(
        billing(),
        claims.storeId,
        claims.subscriptionId,
        { paymentMethod },
        { now, eventId: newEventId(now) },
      );
      switch (result.outcome) {
        case 'missing':
          return notFoundPage();
        case 'conflict': {
          const subscription = await billing().subscriptions.get(claims.storeId, claims.subscriptionId);
          if (!subscription) return notFoundPage();
          return subscriptionPage(subscription, token, managePageNotice.conflict(subscription), 409);
        }
        case 'updated':
          return subscriptionPage(
            result.subscription,
            token,
            result.changed ? managePageNotice.paymentMethodUpdated : managePageNotice.paymentMethodUnchanged,
          );
      }
    }),
  ];
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * A route under /manage for one method, and 405 HTML pages with `Allow` for the others, so that a form sent with
 * the wrong method is told so in the page's own format (the router's 405 is problem+json).
 */
function htmlRoute(
  path: string,
  method: (typeof METHODS)[number],
  handle: Route<RouteContext>['handle'],
): Route<RouteContext>[] {
  return METHODS.map((candidate) =>
    candidate === method
      ? { method: candidate, path, handle }
      : {
          method: candidate,
          path,
          methodNotAllowed: true,
          handle: async () => ({
            status: 405,
            headers: { ...MANAGE_PAGE_HEADERS, allow: method },
            body: manageErrorPage('Method not allowed', `Use ${method} here.`),
          }),
        },
  );
}

function html(status: number, body: string): ApiResponse {
  return { status, headers: MANAGE_PAGE_HEADERS, body };
}

function notFoundPage(): ApiResponse {
  return html(404, manageNotFoundPage());
}
