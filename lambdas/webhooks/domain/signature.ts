import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks signing (docs/api.md section 4), through the reference `standardwebhooks` library so that any
 * Standard Webhooks verifier accepts what we send. During a secret rotation every live secret signs, and the
 * signatures go space-separated in one `webhook-signature` header.
 */

const SECRET_PREFIX = 'whsec_';

/** A new endpoint secret: `whsec_` and 32 random bytes in base64, the format Standard Webhooks libraries decode. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

export interface SignedHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

/**
 * Headers for one delivery attempt. `eventId` is the same on every retry and replay, so receivers can deduplicate;
 * the timestamp is the attempt's, since verifiers reject old timestamps.
 */
export function signWebhook(
  eventId: string,
  body: string,
  secrets: readonly string[],
  at: Date,
): SignedHeaders {
  if (secrets.length === 0) throw new Error('An endpoint needs at least one signing secret.');
  const signatures = secrets.map((secret) => new Webhook(secret).sign(eventId, at, body));
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
