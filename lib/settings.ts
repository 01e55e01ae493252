import { Token } from 'aws-cdk-lib';
import { problemWith } from '../lambdas/platform/config/read-config';
import {
  AWS_DEFAULTS,
  SECRET_SETTINGS,
  SETTINGS,
  type SettingName,
  VARIABLES,
  type VariableValue,
} from '../lambdas/platform/config/variables';

/** A setting that holds a secret: never an environment variable in AWS (Secrets Manager holds it). */
export type SecretSettingName = (typeof SECRET_SETTINGS)[number];

/**
 * Non-secret public configuration (SETTINGS of `lambdas/platform/config/variables.ts`, docs/api.md
 * "Configuration") for the deployed functions, by variable name. Each function gets those its variable list names.
 * Secret settings are refused: they live in Secrets Manager.
 */
export type PipelineSettings = { readonly [N in Exclude<SettingName, SecretSettingName>]?: string };

/** Settings checked by `deploymentSettings`: only setting names, no secret, every value parses. */
export type DeploymentSettings = Readonly<Partial<Record<SettingName, string>>>;

/**
 * The settings the functions get: the AWS defaults that differ from the local stack's (AWS_DEFAULTS: webhook targets
 * in private networks refused), overridden by `settings`.
 * @throws naming the variable, for a name that is no setting, a secret, or a value its schema refuses.
 */
export function deploymentSettings(settings: PipelineSettings = {}): DeploymentSettings {
  const merged: Partial<Record<SettingName, string>> = {};
  for (const [name, value] of Object.entries({ ...AWS_DEFAULTS, ...settings })) {
    if (value === undefined) continue;
    if ((SECRET_SETTINGS as readonly string[]).includes(name)) {
      throw new Error(
        `PipelineStack settings: ${name} is a secret; it belongs in Secrets Manager, not in settings.`,
      );
    }
    if (!(name in SETTINGS)) {
      throw new Error(
        `PipelineStack settings: ${name} is not a setting (lambdas/platform/config/variables.ts SETTINGS names them).`,
      );
    }
    const problem = Token.isUnresolved(value) ? undefined : problemWith(name as SettingName, value);
    if (problem) {
      throw new Error(`PipelineStack settings: ${name} ${problem} (got ${JSON.stringify(value)}).`);
    }
    merged[name as SettingName] = value;
  }
  return merged;
}

/**
 * A setting as the functions parse it (with the same schema, and its default when unset), for what the CDK app
 * sizes from it, e.g. a function timeout from WEBHOOK_TIMEOUT_MS.
 * @throws naming the variable, if the value does not parse.
 */
export function settingValue<N extends SettingName>(settings: DeploymentSettings, name: N): VariableValue<N> {
  const parsed = VARIABLES[name].safeParse(settings[name]);
  if (!parsed.success) {
    throw new Error(
      `PipelineStack settings: ${name} ${parsed.error.issues.map((issue) => issue.message).join('; ')} ` +
        `(got ${JSON.stringify(settings[name])}).`,
    );
  }
  return parsed.data as VariableValue<N>;
}
