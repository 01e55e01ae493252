import { type ConfigTarget, readConfig } from './read-config';
import { SECRET_SETTINGS, SETTINGS, type SettingName } from './variables';

/**
 * The public configuration (docs/api.md, "Configuration") as one camel-cased object: what `npm start` reads, and
 * what tests and the bench build their settings from. Deployed functions read only their own variables, through
 * `readConfig`. Secrets are not here for deployed functions: they come from Secrets Manager (platform/secrets.ts);
 * locally `npm start` reads the admin and gateway keys from this config.
 */

export { ConfigError, type ConfigTarget } from './read-config';

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

/** Every public setting: the local runtime passes these (and only these) through to functions. */
export const CONFIG_VARIABLES = Object.keys(SETTINGS) as readonly SettingName[];

/** Non-secret settings, safe to place in a function's environment. */
export const NON_SECRET_CONFIG_VARIABLES = CONFIG_VARIABLES.filter(
  (name) => !(SECRET_SETTINGS as readonly string[]).includes(name),
);

/**
 * Parses the public configuration from `env`. Unset and empty variables take their defaults.
 * @throws ConfigError naming every variable that does not parse.
 */
export function loadConfig(env: NodeJS.ProcessEnv, target: ConfigTarget = 'local'): PipelineConfig {
  const c = readConfig(CONFIG_VARIABLES, env, target);
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
    webhookAllowPrivateTargets: c.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? false,
    webhookDisableAfterMs: c.WEBHOOK_DISABLE_AFTER,
    dunningScheduleMs: c.DUNNING_SCHEDULE,
    dunningFinalAction: c.DUNNING_FINAL_ACTION,
    paymentProcessingPollMs: c.PAYMENT_PROCESSING_POLL,
    reconcileAfterMs: c.RECONCILE_AFTER,
  };
}
