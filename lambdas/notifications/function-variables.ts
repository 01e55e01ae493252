import type { ConfigOf } from '../platform/config/read-config';
import type { VariableName } from '../platform/config/variables';

/**
 * The environment variables the notify function reads (schemas in platform/config/variables.ts), parsed once at
 * cold start by its handler; the CDK app sets and checks exactly these. SMTP_URL unset: emails go through SES. The
 * manage link key's ARN and SECRETS_CACHE_SECONDS are read by the secrets middleware (platform/secrets.ts).
 */
export const NOTIFY_FUNCTION_VARIABLES = [
  'NOTIFICATIONS_LOG_TABLE_NAME',
  'SMTP_URL',
  'EMAIL_FROM',
  // Receipts and payment-failed notices carry a fresh manage link, signed at render.
  'MANAGE_LINK_KEY_SECRET_ARN',
  'SECRETS_CACHE_SECONDS',
  'MANAGE_LINK_TTL',
  'PUBLIC_API_URL',
] as const satisfies readonly VariableName[];

export type NotifyConfig = ConfigOf<(typeof NOTIFY_FUNCTION_VARIABLES)[number]>;
