import type { ConfigOf } from '../platform/config/read-config';
import type { VariableName } from '../platform/config/variables';

/**
 * The environment variables the API function reads (schemas in platform/config/variables.ts), parsed once at cold
 * start by its handler; the CDK app sets and checks exactly these. The admin key's ARN and SECRETS_CACHE_SECONDS
 * are read by the secrets middleware (platform/secrets.ts).
 */
export const API_FUNCTION_VARIABLES = [
  'STORES_TABLE_NAME',
  'IDEMPOTENCY_TABLE_NAME',
  'TRANSACTIONS_TABLE_NAME',
  'EVENTS_TABLE_NAME',
  'WEBHOOKS_TABLE_NAME',
  'ATTEMPTS_TABLE_NAME',
  'SUBSCRIPTIONS_TABLE_NAME',
  'CHARGES_TABLE_NAME',
  'RUNS_TABLE_NAME',
  'REPLAYS_QUEUE_URL',
  'RUNS_QUEUE_URL',
  // The work queues and their dead-letter queues: depths and redrive (routes/queues.ts).
  'DELIVERIES_QUEUE_URL',
  'DELIVERIES_DLQ_URL',
  'REPLAYS_DLQ_URL',
  'CHARGES_QUEUE_URL',
  'CHARGES_DLQ_URL',
  'RUNS_DLQ_URL',
  'NOTIFICATIONS_QUEUE_URL',
  'NOTIFICATIONS_DLQ_URL',
  'DATAFEEDS_BUCKET_NAME',
  'ADMIN_API_KEY_SECRET_ARN',
  'SECRETS_CACHE_SECONDS',
  'STORE_RATE_LIMIT',
  'STORE_BURST_LIMIT',
  'WEBHOOK_ALLOW_PRIVATE_TARGETS',
  // Customers' manage links: signed and checked here (routes/manage-page.ts).
  'MANAGE_LINK_KEY_SECRET_ARN',
  'MANAGE_LINK_TTL',
  'PUBLIC_API_URL',
] as const satisfies readonly VariableName[];

export type ApiConfig = ConfigOf<(typeof API_FUNCTION_VARIABLES)[number]>;
