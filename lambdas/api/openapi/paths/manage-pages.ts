import * as z from 'zod';
import { subscriptionPatch } from '../../../billing/domain/subscription-changes';
import { MAX_FORM_BODY_BYTES } from '../../http/form-body';
import type { Answer, HeaderName, OperationSpec } from '../builder';
import { input } from '../builder';
import { anyRoute, serverTrouble } from '../problem';

/**
 * The customer's manage page and its two forms (docs/api.md section 3, "The manage link"): HTML, no key (the signed
 * token is the credential). Other methods on these paths answer a 405 HTML page with `Allow`; they are no
 * operations, like the router's 405 problem on the API's paths.
 */

const token = z.string().min(1).meta({ description: 'The signed token of the manage link.' });

export const paymentMethodForm = z.strictObject({
  token,
  paymentMethod: subscriptionPatch.shape.paymentMethod.unwrap(),
});
export const cancelForm = z.strictObject({ token });

const PAGE_HEADERS: HeaderName[] = ['Content-Security-Policy', 'Cache-Control'];
const HTML = { json: { type: 'string' } } as const;
const TAGS = ['Manage page'];

function page(status: number, description: string, example: string): Answer {
  return {
    status,
    description,
    content: { mediaType: 'text/html', schema: HTML, examples: { [`page${status}`]: { value: example } } },
    headers: PAGE_HEADERS,
  };
}

const notFoundPage = () =>
  page(
    404,
    'A tampered, expired or unknown token (in the URL or the form): the same page, nothing changed',
    '<!doctype html><html lang="en"><head><title>Link not valid</title></head><body><h1>This link is not valid</h1></body></html>',
  );

const subscriptionPage = (description: string) =>
  page(
    200,
    description,
    '<!doctype html><html lang="en"><head><title>Your subscription</title></head><body><h1>coffee</h1>…<form method="post" action="/manage/actions/payment-method" id="payment-method-form">…</form>…</body></html>',
  );

const formProblems = (): Answer[] => [
  page(
    400,
    'A broken escape or a field given twice',
    '<!doctype html><html lang="en"><body><h1>Malformed form</h1></body></html>',
  ),
  page(
    413,
    `The form is larger than ${MAX_FORM_BODY_BYTES} bytes`,
    '<!doctype html><html lang="en"><body><h1>Form too large</h1></body></html>',
  ),
  page(
    415,
    'Not application/x-www-form-urlencoded',
    '<!doctype html><html lang="en"><body><h1>Unsupported form</h1></body></html>',
  ),
];

function form(name: string, schema: z.ZodType, example: Record<string, string>) {
  return {
    mediaType: 'application/x-www-form-urlencoded',
    schema: input(name, schema),
    required: true,
    examples: { form: { value: example } },
  };
}

export function managePageOperations(): OperationSpec[] {
  const tokenExample = 'v1.eyJzIjoiYWNtZSIsInN1YiI6InN1Yl9hbmEiLCJleHAiOjE3OTk0OTk2MDB9.c2lnbmF0dXJl';
  return [
    {
      method: 'get',
      path: '/manage/{token}',
      operationId: 'getManagePage',
      summary: "The customer's manage page",
      description:
        'Plan, amount, status, next charge, the last charges, and two forms: a new payment method and cancel. No JavaScript; a strict Content-Security-Policy; no cookie.',
      tags: TAGS,
      security: 'none',
      pathParams: [
        {
          name: 'token',
          description: 'The signed token of the link (`v1.<payload>.<MAC>`).',
          schema: { type: 'string' },
          example: tokenExample,
        },
      ],
      answers: [subscriptionPage('The page'), notFoundPage(), ...anyRoute(), ...serverTrouble()],
    },
    {
      method: 'post',
      path: '/manage/actions/payment-method',
      operationId: 'submitManagePaymentMethod',
      summary: 'The manage page form: a new payment method',
      description:
        'The same rule and effect as `PATCH /v1/subscriptions/{id}` `paymentMethod`; the payment method already on file changes nothing.',
      tags: TAGS,
      security: 'none',
      body: form('ManagePaymentMethodForm', paymentMethodForm, {
        token: tokenExample,
        paymentMethod: 'pm_card_visa',
      }),
      answers: [
        subscriptionPage('The page, with a notice that the payment method was updated (or already on file)'),
        page(
          400,
          'A payment method PATCH would refuse (shown on the page), a broken escape or a field given twice',
          '<!doctype html><html lang="en"><body><p role="alert">The payment method must be a saved payment method id: 1-255 visible characters, no spaces.</p>…</body></html>',
        ),
        notFoundPage(),
        page(
          409,
          'The subscription cannot take a payment method (canceled), or the hard-declined one again',
          '<!doctype html><html lang="en"><body><p role="alert">This subscription is canceled.</p>…</body></html>',
        ),
        ...formProblems(),
        ...anyRoute(),
        ...serverTrouble(),
      ],
    },
    {
      method: 'post',
      path: '/manage/actions/cancel',
      operationId: 'submitManageCancel',
      summary: 'The manage page form: cancel',
      description: 'As `DELETE /v1/subscriptions/{id}`; a second cancel shows the canceled subscription.',
      tags: TAGS,
      security: 'none',
      body: form('ManageCancelForm', cancelForm, { token: tokenExample }),
      answers: [
        subscriptionPage('The page of the canceled subscription'),
        notFoundPage(),
        ...formProblems(),
        ...anyRoute(),
        ...serverTrouble(),
      ],
    },
  ];
}
