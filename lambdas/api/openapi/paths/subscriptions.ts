import { subscriptionInput } from '../../../billing/domain/subscription';
import { subscriptionPatch } from '../../../billing/domain/subscription-changes';
import { problems } from '../../http/problem';
import { manageLinkBody } from '../../routes/manage-page';
import { subscriptionListQuery } from '../../routes/subscription-list';
import { input, json, jsonBody, type OperationSpec, out, type ParamSpec } from '../builder';
import {
  idempotencyProblems,
  jsonBodyProblems,
  notFound,
  problem,
  problemAnswer,
  queryProblems,
  storeKey,
} from '../problem';
import {
  EXAMPLE_TIME,
  exampleCharge,
  exampleSubscription,
  manageLinkSchema,
  subscriptionListSchema,
  subscriptionSchema,
} from '../responses';

const TAGS = ['Subscriptions'];

const subscriptionId: ParamSpec = {
  name: 'id',
  description: 'The subscription id; another store’s or an unknown one is 404.',
  schema: { type: 'string' },
  example: 'sub_ana',
};

const subscriptionNotFound = () => notFound('No subscription "sub_ana" in this store.');
const SUBSCRIPTION = out('Subscription', subscriptionSchema);

/** Subscriptions: create, list, read, change, cancel, and the customer's manage link. */
export function subscriptionOperations(): OperationSpec[] {
  const create = {
    id: 'sub_ana',
    customer: { id: 'cus_ana', email: 'ana@example.com' },
    plan: 'coffee',
    amount: 1999,
    currency: 'usd',
    interval: 'month',
    paymentMethod: 'pm_card_visa',
    startAt: EXAMPLE_TIME,
  };
  const charged = {
    ...exampleSubscription(),
    nextChargeAt: '2027-01-07T05:40:00.000Z',
    charges: [exampleCharge],
  };
  return [
    {
      method: 'post',
      path: '/v1/subscriptions',
      operationId: 'createSubscription',
      summary: 'Create a subscription',
      description:
        'The first charge is due at `startAt` (default: now). With an `id`, the same create again answers as the first time (`Idempotent-Replayed: true`); another body with that id is 409.',
      tags: TAGS,
      security: 'store',
      idempotencyKey: 'Makes a retry without `id` safe.',
      body: jsonBody(input('CreateSubscriptionRequest', subscriptionInput), create),
      answers: [
        json(
          201,
          'The subscription, `active`, without charges yet',
          SUBSCRIPTION,
          { ...exampleSubscription(), charges: [] },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        ...jsonBodyProblems(subscriptionInput, { ...create, amount: 0, interval: 'fortnight' }),
        ...idempotencyProblems(),
        problemAnswer('A subscription with this id exists with other details', [
          problems.conflict('A subscription with id "sub_ana" already exists with other details.'),
        ]),
      ],
    },
    {
      method: 'get',
      path: '/v1/subscriptions',
      operationId: 'listSubscriptions',
      summary: "List the store's subscriptions, newest first",
      description:
        'Each as `GET /v1/subscriptions/{id}` shows it, without its `charges`. With `status`, a page may hold fewer than `limit` and still have a `next`.',
      tags: TAGS,
      security: 'store',
      query: {
        schema: subscriptionListQuery,
        descriptions: {
          status: 'Only subscriptions with this status.',
          limit: '1 to 100; default 20.',
          cursor: "The previous page's `next`.",
        },
        examples: { status: 'past_due', limit: '20' },
      },
      answers: [
        json(200, 'A page of subscriptions', out('SubscriptionList', subscriptionListSchema), {
          data: [exampleSubscription({ id: 'sub_ben' }), exampleSubscription()],
          next: 'eyJ2IjoxLCJjIjoiMjAyNi0xMi0wN1QwNDo0MDowMC4wMDBaIiwiaSI6InN1Yl9hbmEifQ',
        }),
        ...storeKey(),
        queryProblems(subscriptionListQuery, { status: 'late' }),
        problemAnswer(
          'The index that lists subscriptions is still being built (a new deployment): retry later',
          [
            problem(
              503,
              'List not available yet',
              'The index that lists subscriptions newest first is still being built; every subscription is still readable by id. Retry later.',
              'index-not-ready',
              { headers: { 'retry-after': '30' } },
            ),
          ],
        ),
      ],
    },
    {
      method: 'get',
      path: '/v1/subscriptions/{id}',
      operationId: 'getSubscription',
      summary: 'Get a subscription with its charges',
      tags: TAGS,
      security: 'store',
      pathParams: [subscriptionId],
      answers: [json(200, 'The subscription', SUBSCRIPTION, charged), ...storeKey(), subscriptionNotFound()],
    },
    {
      method: 'patch',
      path: '/v1/subscriptions/{id}',
      operationId: 'updateSubscription',
      summary: 'Change a subscription',
      description:
        '`amount`, `plan` and `paymentMethod` apply from the next charge not yet sent; a new `paymentMethod` on a `past_due` subscription makes its retry due at once. `pause` pauses it (periods that fall due are skipped), `pause: null` resumes it; `endAt` ends it before the first period at or after it. A canceled subscription, a pause of a `past_due` or `unpaid` one, or the hard-declined payment method again: 409.',
      tags: TAGS,
      security: 'store',
      pathParams: [subscriptionId],
      body: jsonBody(input('UpdateSubscriptionRequest', subscriptionPatch), {
        amount: 2499,
        pause: { resumesAt: '2027-03-01T00:00:00Z' },
      }),
      answers: [
        json(200, 'The subscription as changed', SUBSCRIPTION, {
          ...charged,
          status: 'paused',
          amount: 2499,
          nextChargeAt: '2027-03-07T05:40:00.000Z',
          pause: { resumesAt: '2027-03-01T00:00:00.000Z' },
        }),
        ...storeKey(),
        ...jsonBodyProblems(subscriptionPatch, { amount: -5, status: 'active' }),
        subscriptionNotFound(),
        problemAnswer(
          "The subscription's state refuses the change (`errors` names the field when one is to blame)",
          [
            problem(
              409,
              'Subscription cannot change so',
              'Subscription sub_ana is canceled; it cannot change.',
              'subscription-state',
            ),
          ],
        ),
      ],
    },
    {
      method: 'delete',
      path: '/v1/subscriptions/{id}',
      operationId: 'cancelSubscription',
      summary: 'Cancel a subscription',
      description:
        '`cancelReason: "requested"`. A subscription canceled before its charge is sent to the gateway is not charged, even if the run already listed it.',
      tags: TAGS,
      security: 'store',
      pathParams: [subscriptionId],
      answers: [
        json(200, 'The canceled subscription', SUBSCRIPTION, {
          ...charged,
          status: 'canceled',
          nextChargeAt: null,
          canceledAt: '2026-12-08T10:00:00.000Z',
          cancelReason: 'requested',
        }),
        ...storeKey(),
        subscriptionNotFound(),
        problemAnswer('Already canceled', [
          problem(
            409,
            'Subscription already canceled',
            'Subscription sub_ana is already canceled; there is nothing to cancel.',
            'subscription-ended',
          ),
        ]),
      ],
    },
    {
      method: 'post',
      path: '/v1/subscriptions/{id}/manage-link',
      operationId: 'createManageLink',
      summary: "Make a manage link for the subscription's customer",
      description:
        'The signed token in the URL is the only credential (no store key), scoped to this one subscription, valid MANAGE_LINK_TTL. The body is `{}` or empty.',
      tags: TAGS,
      security: 'store',
      pathParams: [subscriptionId],
      idempotencyKey: 'Replays the first link.',
      body: jsonBody(input('ManageLinkRequest', manageLinkBody), {}, { required: false }),
      answers: [
        json(
          201,
          'The link',
          out('ManageLink', manageLinkSchema),
          {
            url: 'https://api.example.com/manage/v1.eyJzIjoiYWNtZSJ9.c2lnbmF0dXJl',
            expiresAt: '2027-01-06T05:40:00.000Z',
          },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        ...jsonBodyProblems(manageLinkBody, { ttl: 60 }),
        subscriptionNotFound(),
        ...idempotencyProblems(),
      ],
    },
  ];
}
