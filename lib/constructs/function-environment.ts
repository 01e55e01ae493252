import { Token } from 'aws-cdk-lib';
import type * as z from 'zod';
import { problemWith } from '../../lambdas/platform/config/read-config';
import {
  RESOURCES,
  type ResourceName,
  SECRET_SETTINGS,
  SETTINGS,
  type VariableName,
} from '../../lambdas/platform/config/variables';
import type { DeploymentSettings, SecretSettingName } from '../settings';
import type { PipelineFunction } from './pipeline-function';

/** The RESOURCES among `N` a deployment must set: those whose schema has neither a default nor `optional()`. */
export type RequiredResourceName<N extends VariableName> = N extends ResourceName
  ? undefined extends z.input<(typeof RESOURCES)[N]>
    ? never
    : N
  : never;

/**
 * The values the CDK app gives a function whose variable list names `N`: every required resource (a compile error
 * when one is missing), and optionally any other non-secret variable of the list (tuning, or a setting the app
 * defaults). Names outside the list are compile errors in an object literal, and refused at synth otherwise.
 */
export type FunctionVariableValues<N extends VariableName> = {
  readonly [K in RequiredResourceName<N>]: string;
} & {
  readonly [K in Exclude<N, RequiredResourceName<N> | SecretSettingName>]?: string;
};

export interface FunctionEnvironmentProps<N extends VariableName> {
  /**
   * The deployment's settings (PipelineStack's `settings`): the function gets those its list names, and no other.
   */
  readonly settings: DeploymentSettings;
  /** What the app wires in: the list's resources, its tuning values, defaults of settings (which `settings` win over). */
  readonly values: FunctionVariableValues<N>;
}

/**
 * The environment of a function from its variable list (`lambdas/<feature>/function-variables.ts`, the list its
 * handler reads with `readConfig`): exactly the variables of the list that have a value, each literal value checked
 * with the schema the function parses it with, so that a value the function would refuse at cold start fails synth.
 * @param what the function, for messages (e.g. its construct id)
 * @throws naming the function and the variable: a secret setting in the list, a required resource without a value,
 *   a value for a variable the list does not name, or a literal value its schema refuses.
 */
export function functionEnvironment<const N extends VariableName>(
  what: string,
  variables: readonly N[],
  props: FunctionEnvironmentProps<N>,
): Record<string, string> {
  for (const name of variables) {
    if ((SECRET_SETTINGS as readonly string[]).includes(name)) {
      throw new Error(
        `${what}: ${name} is a secret setting and never an environment variable in AWS; pass its secret's ARN.`,
      );
    }
  }
  const values = props.values as Readonly<Record<string, string | undefined>>;
  const missing = variables.filter(
    (name) =>
      name in RESOURCES && !RESOURCES[name as ResourceName].safeParse(undefined).success && !values[name],
  );
  if (missing.length > 0) {
    throw new Error(`${what}: no value for the resource(s) ${missing.join(', ')} its variable list names.`);
  }
  const fromSettings = Object.fromEntries(
    Object.entries(props.settings).filter(([name]) => (variables as readonly string[]).includes(name)),
  );
  return checkedVariables(what, variables, { ...values, ...fromSettings });
}

/**
 * Adds variables to a function made with `functionEnvironment`, for a resource wired in after the function exists
 * (e.g. the notifications queue the fan-out function sends to), with the same checks.
 * @throws as `functionEnvironment`.
 */
export function addFunctionVariables<const N extends VariableName>(
  fn: PipelineFunction,
  variables: readonly N[],
  values: { readonly [K in Exclude<N, SecretSettingName>]?: string },
): void {
  for (const [name, value] of Object.entries(checkedVariables(fn.node.id, variables, values))) {
    fn.fn.addEnvironment(name, value);
  }
}

function checkedVariables(
  what: string,
  variables: readonly VariableName[],
  values: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if ((SECRET_SETTINGS as readonly string[]).includes(name)) {
      throw new Error(`${what}: ${name} is a secret setting and never an environment variable in AWS.`);
    }
    if (!(variables as readonly string[]).includes(name)) {
      throw new Error(
        `${what}: ${name} is not in the function's variable list (lambdas/<feature>/function-variables.ts): ` +
          'the handler would not read it.',
      );
    }
    const problem = Token.isUnresolved(value) ? undefined : problemWith(name as VariableName, value);
    if (problem) {
      const origin = name in SETTINGS ? 'setting' : 'variable';
      throw new Error(`${what}: ${origin} ${name} ${problem} (got ${JSON.stringify(value)}).`);
    }
    environment[name] = value;
  }
  return environment;
}
