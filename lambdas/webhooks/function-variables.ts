import type { ConfigOf } from '../platform/config/read-config';
import type { VariableName } from '../platform/config/variables';

/**
 * The environment variables each webhook function reads (schemas in platform/config/variables.ts), parsed once at
 * cold start by its handler; the CDK app sets and checks exactly these.
 */

/** Fan-out only sends first attempts: the dead-letter queue is delivery's. NOTIFICATIONS_QUEUE_URL is optional. */
export const FANOUT_FUNCTION_VARIABLES = [
  'TRANSACTIONS_TABLE_NAME',
  'EVENTS_TABLE_NAME',
  'WEBHOOKS_TABLE_NAME',
  'DELIVERIES_QUEUE_URL',
  'NOTIFICATIONS_QUEUE_URL',
  'WEBHOOK_RETRY_SCHEDULE',
] as const satisfies readonly VariableName[];

export const DELIVER_FUNCTION_VARIABLES = [
  'EVENTS_TABLE_NAME',
  'WEBHOOKS_TABLE_NAME',
  'ATTEMPTS_TABLE_NAME',
  'DELIVERIES_QUEUE_URL',
  'DELIVERIES_DLQ_URL',
  'WEBHOOK_RETRY_SCHEDULE',
  'WEBHOOK_TIMEOUT_MS',
  'WEBHOOK_ALLOW_PRIVATE_TARGETS',
  'WEBHOOK_DISABLE_AFTER',
] as const satisfies readonly VariableName[];

/**
 * Replay only sends first attempts of its window: neither the dead-letter queue nor the endpoints table. A recover
 * reads which deliveries succeeded from the attempts table.
 */
export const REPLAY_FUNCTION_VARIABLES = [
  'EVENTS_TABLE_NAME',
  'ATTEMPTS_TABLE_NAME',
  'DELIVERIES_QUEUE_URL',
] as const satisfies readonly VariableName[];

export type FanoutConfig = ConfigOf<(typeof FANOUT_FUNCTION_VARIABLES)[number]>;
export type DeliverConfig = ConfigOf<(typeof DELIVER_FUNCTION_VARIABLES)[number]>;
export type ReplayConfig = ConfigOf<(typeof REPLAY_FUNCTION_VARIABLES)[number]>;
