import type { ConfigOf } from '../platform/config/read-config';
import type { VariableName } from '../platform/config/variables';

/**
 * The environment variables the notify function reads (schemas in platform/config/variables.ts), parsed once at
 * cold start by its handler; the CDK app sets and checks exactly these. SMTP_URL unset: emails go through SES.
 */
export const NOTIFY_FUNCTION_VARIABLES = [
  'NOTIFICATIONS_LOG_TABLE_NAME',
  'SMTP_URL',
  'EMAIL_FROM',
] as const satisfies readonly VariableName[];

export type NotifyConfig = ConfigOf<(typeof NOTIFY_FUNCTION_VARIABLES)[number]>;
