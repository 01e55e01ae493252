import * as z from 'zod';
import { parseDuration, parseDurationList } from './domain/duration';

/**
 * The contract's configuration (CONTRACT.md section 2), parsed once, typed, and failing fast with a message that
 * names every variable that does not parse. Secrets are not here for deployed functions: they come from Secrets
 * Manager (see adapters/secrets.ts); locally `npm start` reads the admin and gateway keys from this config.
 */

/** Where the configuration is used: some defaults differ between the local stack and AWS. */
export type ConfigTarget = 'local' | 'aws';

export class ConfigError extends Error {
  constructor(readonly problems: readonly { variable: string; message: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}\n` +
        'Fix or unset the variable(s) above and start again.',
    );
    this.name = 'ConfigError';
  }
}

const optionalString = z.string().trim().min(1, 'must not be empty when set').optional();

const positiveInteger = (defaultValue: number, unit: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number of ${unit}`)
    .transform(Number)
    .pipe(z.number().int().positive(`must be greater than 0 ${unit}`).max(2_147_483_647))
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

const schema = z.object({
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
  PAYMENT_PROCESSING_POLL: duration('15m'),
  RECONCILE_AFTER: duration('1h'),
});

export interface PipelineConfig {
  readonly port: number;
  readonly host: string;
  /** Local only; in AWS the admin key lives in Secrets Manager. */
  readonly adminApiKey?: string;
  /** Local only: the key of the `demo` store that `npm start` creates. */
  readonly demoStoreApiKey?: string;
  /** Undefined: the bundled local gateway. */
  readonly paymentGatewayUrl?: string;
  /** Local only; in AWS the gateway key lives in Secrets Manager. */
  readonly paymentGatewayApiKey: string;
  readonly paymentGatewayTimeoutMs: number;
  /** Undefined: the bundled local SMTP sink. */
  readonly smtpUrl?: string;
  readonly emailFrom: string;
  /** Delay before each delivery attempt, in milliseconds. */
  readonly webhookRetryScheduleMs: readonly number[];
  readonly webhookTimeoutMs: number;
  readonly webhookAllowPrivateTargets: boolean;
  readonly webhookDisableAfterMs: number;
  /** Delays of the payment retries after a failed charge, in milliseconds. */
  readonly dunningScheduleMs: readonly number[];
  readonly dunningFinalAction: 'cancel' | 'unpaid';
  /** How often a `processing` PaymentIntent is looked up until it settles, in milliseconds. */
  readonly paymentProcessingPollMs: number;
  /** How long after a run completes its reconciliation with the gateway runs, in milliseconds. */
  readonly reconcileAfterMs: number;
}

/** Every variable this module reads: the local runtime passes these (and only these) through to functions. */
export const CONFIG_VARIABLES = Object.keys(schema.shape) as readonly (keyof typeof schema.shape)[];

/** Non-secret variables, safe to place in a function's environment. */
export const NON_SECRET_CONFIG_VARIABLES = CONFIG_VARIABLES.filter(
  (name) => !['ADMIN_API_KEY', 'DEMO_STORE_API_KEY', 'PAYMENT_GATEWAY_API_KEY'].includes(name),
);

/**
 * Parses the configuration from `env`. Unset and empty variables take their defaults.
 * @throws ConfigError naming every variable that does not parse.
 */
export function loadConfig(env: NodeJS.ProcessEnv, target: ConfigTarget = 'local'): PipelineConfig {
  const input: Record<string, string> = {};
  for (const name of CONFIG_VARIABLES) {
    const value = env[name];
    // An empty variable is treated as unset, as shells and .env files commonly produce them.
    if (value !== undefined && value !== '') input[name] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? 'configuration'),
        message: `${issue.message} (got ${JSON.stringify(input[String(issue.path[0])] ?? '')})`,
      })),
    );
  }
  const c = parsed.data;
  return {
    port: c.PORT,
    host: c.HOST,
    adminApiKey: c.ADMIN_API_KEY,
    demoStoreApiKey: c.DEMO_STORE_API_KEY,
    paymentGatewayUrl: c.PAYMENT_GATEWAY_URL,
    paymentGatewayApiKey: c.PAYMENT_GATEWAY_API_KEY,
    paymentGatewayTimeoutMs: c.PAYMENT_GATEWAY_TIMEOUT_MS,
    smtpUrl: c.SMTP_URL,
    emailFrom: c.EMAIL_FROM,
    webhookRetryScheduleMs: c.WEBHOOK_RETRY_SCHEDULE,
    webhookTimeoutMs: c.WEBHOOK_TIMEOUT_MS,
    // Private targets are a local convenience; a deployed pipeline refuses them unless told otherwise.
    webhookAllowPrivateTargets: c.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? target === 'local',
    webhookDisableAfterMs: c.WEBHOOK_DISABLE_AFTER,
    dunningScheduleMs: c.DUNNING_SCHEDULE,
    dunningFinalAction: c.DUNNING_FINAL_ACTION,
    paymentProcessingPollMs: c.PAYMENT_PROCESSING_POLL,
    reconcileAfterMs: c.RECONCILE_AFTER,
  };
}
