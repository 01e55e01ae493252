import type middy from '@middy/core';
import { type ContextWithSecrets, loadSecrets } from '../../platform/secrets';

const bindings = { paymentGatewayApiKey: 'PAYMENT_GATEWAY_API_KEY_SECRET_ARN' } as const;

/**
 * The payment gateway's API key, from Secrets Manager: `middleware` puts its current value on the context before
 * each invocation (cached, see platform/secrets.ts) and keeps it; `apiKey` gives it to the gateway client on each
 * request, so a rotated key is used without a cold start.
 */
export function gatewayApiKeyFromSecrets(): {
  readonly middleware: middy.MiddlewareObj[];
  readonly apiKey: () => string;
} {
  let key = '';
  const keep: middy.MiddlewareObj = {
    before: (request) => {
      key = (request.context as ContextWithSecrets<typeof bindings>).paymentGatewayApiKey;
    },
  };
  return { middleware: [loadSecrets(bindings), keep], apiKey: () => key };
}
