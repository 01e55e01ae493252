import * as z from 'zod';
import { parseDuration, parseDurationList } from '../duration';

/**
 * Every environment variable the pipeline reads, named once, each with the zod schema that parses it. The functions
 * read theirs through `readConfig` (read-config.ts) at cold start; the CDK app (`lib/`) checks every value it sets
 * against the same schema at synth time, so a value that a function would refuse never reaches a deployment.
 *
 * Three groups:
 * - SETTINGS: the public configuration (docs/api.md, "Configuration"), with the defaults users see;
 * - TUNING: deployment knobs that PipelineStack's props set (not part of the public contract), with defaults;
 * - RESOURCES: names and addresses the CDK app wires in (tables, queues, bucket, secret ARNs): required, but for
 *   NOTIFICATIONS_QUEUE_URL.
 */

/** Stripe's decline codes that say not to retry the same payment method (DUNNING_HARD_DECLINES's default). */
export const DEFAULT_HARD_DECLINES = [
  'lost_card',
  'stolen_card',
  'pickup_card',
  'fraudulent',
  'restricted_card',
  'revocation_of_authorization',
  'revocation_of_all_authorizations',
  'stop_payment_order',
  'invalid_account',
  'do_not_try_again',
  'authentication_required',
  'expired_card',
  'incorrect_number',
] as const;

const optionalString = z.string().trim().min(1, 'must not be empty when set').optional();

const positiveInteger = (defaultValue: number, unit: string, max = 2_147_483_647) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number of ${unit}`)
    .transform(Number)
    .pipe(
      z.number().int().positive(`must be greater than 0 ${unit}`).max(max, `must be at most ${max} ${unit}`),
    )
    .default(defaultValue);

/** A number of at least `min` (fractions allowed), e.g. a rate per second. */
const numberAtLeast = (defaultValue: number, min: number, unit: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `must be a number of ${unit}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min} ${unit}`))
    .default(defaultValue);

/** A number greater than 0 (fractions allowed), e.g. a rate per second. */
const positiveNumber = (defaultValue: number, unit: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `must be a positive number of ${unit}`)
    .transform(Number)
    .pipe(z.number().positive(`must be greater than 0 ${unit}`))
    .default(defaultValue);

const url = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    );

/** A text variable turned into a value by `parse`, whose thrown message becomes the variable's problem. */
const parsedWith =
  <T>(parse: (text: string) => T) =>
  (defaultValue: string) =>
    z
      .string()
      .default(defaultValue)
      .transform((value, ctx) => {
        try {
          return parse(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      });

const duration = parsedWith(parseDuration);
const durationList = parsedWith(parseDurationList);

const booleanFlag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), 'must be true or false')
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A resource the deployment wires in: unset is a deployment bug. */
const resource = (what: string) =>
  z
    .string({ message: `is not set: the deployment must give the ${what}` })
    .trim()
    .min(1);

/** A queue URL the deployment wires in: SQS's (https) in AWS, the emulator's (http) locally. */
const queueUrl = (what: string) => resource(what).pipe(url(['http:', 'https:']));

/** The public configuration: what users set for `npm start` and in PipelineStack's `settings`. */
export const SETTINGS = {
  PORT: z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a port number')
    .transform(Number)
    .pipe(z.number().int().min(0, 'must be 0-65535').max(65_535, 'must be 0-65535'))
    .default(3000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  ADMIN_API_KEY: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  DEMO_STORE_API_KEY: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  PAYMENT_GATEWAY_URL: url(['http:', 'https:']).optional(),
  PAYMENT_GATEWAY_API_KEY: z.string().trim().min(1, 'must not be empty').default('sk_test_local'),
  PAYMENT_GATEWAY_TIMEOUT_MS: positiveInteger(10_000, 'milliseconds'),
  /** Requests per second to the gateway, shared by every environment that asks it (docs/rate-limiter.md). */
  PAYMENT_GATEWAY_RATE_LIMIT: positiveNumber(80, 'requests per second'),
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  EMAIL_FROM: z.string().trim().email('must be an email address').default('billing@example.com'),
  WEBHOOK_RETRY_SCHEDULE: durationList('0s,5s,5m,30m,2h,5h,10h,10h'),
  WEBHOOK_TIMEOUT_MS: positiveInteger(15_000, 'milliseconds'),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: booleanFlag.optional(),
  WEBHOOK_DISABLE_AFTER: duration('5d'),
  DUNNING_SCHEDULE: durationList('1d,3d,5d,7d'),
  DUNNING_FINAL_ACTION: z
    .enum(['cancel', 'unpaid'], { message: 'must be "cancel" or "unpaid"' })
    .default('cancel'),
  /**
   * Decline codes after which the same payment method is never asked again (docs/api.md section 5): Stripe's "do
   * not retry" codes. A comma-separated list; empty means every decline is retried on DUNNING_SCHEDULE.
   */
  DUNNING_HARD_DECLINES: z
    .string()
    .default(DEFAULT_HARD_DECLINES.join(','))
    .transform((text) =>
      text
        .split(',')
        .map((code) => code.trim())
        .filter((code) => code.length > 0),
    )
    .pipe(
      z.array(
        z
          .string()
          .regex(/^[a-z0-9_]{1,64}$/, 'must be decline codes such as stolen_card, separated by commas'),
      ),
    ),
  PAYMENT_PROCESSING_POLL: duration('15m'),
  RECONCILE_AFTER: duration('1h'),
  /** How long a customer's manage link (docs/api.md section 3, `POST /v1/subscriptions/{id}/manage-link`) is valid. */
  MANAGE_LINK_TTL: duration('30d'),
  /** How long a function keeps a secret's value before it reads Secrets Manager again. middy reads a cache
   * expiry above one day as a point in time, not a duration, so longer caches are refused. */
  SECRETS_CACHE_SECONDS: positiveInteger(300, 'seconds', 86_400),
} as const;

/** Variables that hold secrets: never put in a deployed function's environment (Secrets Manager holds them). */
export const SECRET_SETTINGS = ['ADMIN_API_KEY', 'DEMO_STORE_API_KEY', 'PAYMENT_GATEWAY_API_KEY'] as const;

/** Deployment tuning: PipelineStack's props set these; each default matches the prop's default. */
export const TUNING = {
  /** Each store's requests per second through the API, across environments; 0 switches the limit off. */
  STORE_RATE_LIMIT: numberAtLeast(0, 0, 'requests per second'),
  STORE_BURST_LIMIT: numberAtLeast(0, 0, 'requests'),
  /** First delay of a charge's retry after an answer that cannot be trusted; it doubles per retry. */
  CHARGE_RETRY_BASE_SECONDS: numberAtLeast(5, 0, 'seconds'),
  RUN_LEASE_SECONDS: numberAtLeast(60, 1, 'seconds'),
  RUN_DEADLINE_MINUTES: numberAtLeast(360, 1, 'minutes'),
  RUN_PAGE_SIZE: numberAtLeast(100, 1, 'subscriptions'),
  RUN_STALL_SWEEP_SECONDS: numberAtLeast(300, 1, 'seconds'),
  RUN_SWEEP_INTERVAL_SECONDS: numberAtLeast(30, 0, 'seconds'),
  RUN_POLL_SECONDS: numberAtLeast(5, 0, 'seconds'),
  RUN_STEP_MARGIN_MS: numberAtLeast(10_000, 0, 'milliseconds'),
} as const;

/** What the CDK app wires in. */
export const RESOURCES = {
  STORES_TABLE_NAME: resource('stores table name'),
  IDEMPOTENCY_TABLE_NAME: resource('idempotency table name'),
  TRANSACTIONS_TABLE_NAME: resource('transactions table name'),
  EVENTS_TABLE_NAME: resource('events table name'),
  WEBHOOKS_TABLE_NAME: resource('webhook endpoints table name'),
  ATTEMPTS_TABLE_NAME: resource('delivery attempts table name'),
  SUBSCRIPTIONS_TABLE_NAME: resource('subscriptions table name'),
  CHARGES_TABLE_NAME: resource('charges table name'),
  RUNS_TABLE_NAME: resource('runs table name'),
  NOTIFICATIONS_LOG_TABLE_NAME: resource('notification log table name'),
  DELIVERIES_QUEUE_URL: resource('deliveries queue URL'),
  DELIVERIES_DLQ_URL: resource('deliveries dead-letter queue URL'),
  REPLAYS_QUEUE_URL: resource('replays queue URL'),
  REPLAYS_DLQ_URL: queueUrl('replays dead-letter queue URL'),
  /** Optional: a deployment without the notifications queue sends no emails (fan-out queues none). */
  NOTIFICATIONS_QUEUE_URL: resource('notifications queue URL').optional(),
  /** Optional with NOTIFICATIONS_QUEUE_URL: the API lists and redrives the notifications queue when both are set. */
  NOTIFICATIONS_DLQ_URL: queueUrl('notifications dead-letter queue URL').optional(),
  RUNS_QUEUE_URL: resource('runs queue URL'),
  RUNS_DLQ_URL: queueUrl('runs dead-letter queue URL'),
  CHARGES_QUEUE_URL: resource('charges queue URL'),
  CHARGES_DLQ_URL: resource('charges dead-letter queue URL'),
  DATAFEEDS_BUCKET_NAME: resource('datafeeds bucket name'),
  ADMIN_API_KEY_SECRET_ARN: resource('admin API key secret ARN'),
  PAYMENT_GATEWAY_API_KEY_SECRET_ARN: resource('payment gateway API key secret ARN'),
  /** The key that signs customers' manage links (HMAC-SHA256); see billing/domain/manage-link.ts. */
  MANAGE_LINK_KEY_SECRET_ARN: resource('manage link signing key secret ARN'),
  /** The API's public base URL (the HTTP API's endpoint), which customers' manage links start with. Not a secret. */
  PUBLIC_API_URL: resource('public base URL of the HTTP API').pipe(url(['http:', 'https:'])),
} as const;

export const VARIABLES = { ...SETTINGS, ...TUNING, ...RESOURCES } as const;

export type VariableName = keyof typeof VARIABLES;
export type SettingName = keyof typeof SETTINGS;
export type ResourceName = keyof typeof RESOURCES;

/** The parsed value of a variable. */
export type VariableValue<N extends VariableName> = z.output<(typeof VARIABLES)[N]>;

/** Defaults that differ on the local stack: private webhook targets are a local convenience, refused in AWS. */
export const LOCAL_DEFAULTS: Partial<Record<VariableName, string>> = {
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
};
export const AWS_DEFAULTS: Partial<Record<VariableName, string>> = { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false' };
