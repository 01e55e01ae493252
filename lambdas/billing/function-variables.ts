import type { VariableName } from '../platform/config/variables';

/**
 * The environment variables each billing function reads, exactly: its handler parses these once at cold start
 * (`readConfig`), and the CDK app (lib/) sets and checks the same lists, so a function is never given a variable
 * it ignores nor deployed without one it needs. The secret's ARN and SECRETS_CACHE_SECONDS are read by
 * `loadSecrets` (platform/secrets.ts).
 */

/** RunFunction: the schedules' triggers, each run's steps, and its reconciliation with the gateway. */
export const RUN_FUNCTION_VARIABLES = [
  'RUNS_TABLE_NAME',
  'SUBSCRIPTIONS_TABLE_NAME',
  'CHARGES_TABLE_NAME',
  'EVENTS_TABLE_NAME',
  'RUNS_QUEUE_URL',
  'CHARGES_QUEUE_URL',
  'DATAFEEDS_BUCKET_NAME',
  'PAYMENT_GATEWAY_URL',
  'PAYMENT_GATEWAY_TIMEOUT_MS',
  // The reconciliation's list pages count against the gateway's limit too.
  'PAYMENT_GATEWAY_RATE_LIMIT',
  'PAYMENT_GATEWAY_API_KEY_SECRET_ARN',
  'SECRETS_CACHE_SECONDS',
  'RECONCILE_AFTER',
  'RUN_LEASE_SECONDS',
  'RUN_DEADLINE_MINUTES',
  'RUN_PAGE_SIZE',
  'RUN_STALL_SWEEP_SECONDS',
  'RUN_SWEEP_INTERVAL_SECONDS',
  'RUN_POLL_SECONDS',
  'RUN_STEP_MARGIN_MS',
  // A hard decline's wait that runs out takes the final action in the run.
  'DUNNING_FINAL_ACTION',
  // The datafeeds carry each subscription's manage link.
  'MANAGE_LINK_KEY_SECRET_ARN',
  'MANAGE_LINK_TTL',
  'PUBLIC_API_URL',
] as const satisfies readonly VariableName[];

/** ChargeFunction: one claimed charge at the gateway. */
export const CHARGE_FUNCTION_VARIABLES = [
  'CHARGES_TABLE_NAME',
  'SUBSCRIPTIONS_TABLE_NAME',
  // The gateway's shared request counts (one item; docs/rate-limiter.md, "The gateway limit").
  'RUNS_TABLE_NAME',
  'CHARGES_QUEUE_URL',
  'CHARGES_DLQ_URL',
  'PAYMENT_GATEWAY_URL',
  'PAYMENT_GATEWAY_TIMEOUT_MS',
  'PAYMENT_GATEWAY_RATE_LIMIT',
  'PAYMENT_GATEWAY_API_KEY_SECRET_ARN',
  'SECRETS_CACHE_SECONDS',
  'DUNNING_SCHEDULE',
  'DUNNING_FINAL_ACTION',
  'DUNNING_HARD_DECLINES',
  'PAYMENT_PROCESSING_POLL',
  'CHARGE_RETRY_BASE_SECONDS',
] as const satisfies readonly VariableName[];

/** BillingOutboxFunction: the subscriptions and charges tables' streams, into events and run counters. */
export const BILLING_OUTBOX_FUNCTION_VARIABLES = [
  'SUBSCRIPTIONS_TABLE_NAME',
  'CHARGES_TABLE_NAME',
  'EVENTS_TABLE_NAME',
  'RUNS_TABLE_NAME',
] as const satisfies readonly VariableName[];
