import * as z from 'zod';
import { AWS_DEFAULTS, LOCAL_DEFAULTS, VARIABLES, type VariableName, type VariableValue } from './variables';

/** Where the configuration is used: some defaults differ between the local stack and AWS. */
export type ConfigTarget = 'local' | 'aws';

/** One function's configuration: each variable it reads, parsed and typed, under its own name. */
export type ConfigOf<N extends VariableName> = { readonly [K in N]: VariableValue<K> };

export class ConfigError extends Error {
  constructor(readonly problems: readonly { variable: string; message: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}\n` +
        'Fix or unset the variable(s) above and start again.',
    );
    this.name = 'ConfigError';
  }
}

/**
 * Parses the variables `names` from `env`, once, at cold start. Unset and empty variables take their defaults; a
 * required one that is unset, or any that does not parse, is reported with its name.
 * @throws ConfigError naming every variable that does not parse.
 */
export function readConfig<const N extends VariableName>(
  names: readonly N[],
  env: NodeJS.ProcessEnv,
  target: ConfigTarget = 'aws',
): ConfigOf<N> {
  const defaults = target === 'local' ? LOCAL_DEFAULTS : AWS_DEFAULTS;
  const shape: Record<string, z.ZodType> = {};
  const input: Record<string, string> = {};
  for (const name of names) {
    shape[name] = VARIABLES[name];
    const value = env[name];
    // An empty variable is treated as unset, as shells and .env files commonly produce them.
    if (value !== undefined && value !== '') input[name] = value;
    else if (defaults[name] !== undefined) input[name] = defaults[name];
  }
  const parsed = z.object(shape).safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const variable = String(issue.path[0] ?? 'configuration');
        const got = input[variable];
        return {
          variable,
          message: got === undefined ? issue.message : `${issue.message} (got ${JSON.stringify(got)})`,
        };
      }),
    );
  }
  return parsed.data as ConfigOf<N>;
}

/**
 * Checks one value the deployment sets, with the schema the function will parse it with: `lib/` calls this at
 * synth time for every literal value it passes.
 * @returns the problem, or undefined when the value parses.
 */
export function problemWith(name: VariableName, value: string): string | undefined {
  const parsed = VARIABLES[name].safeParse(value);
  return parsed.success ? undefined : parsed.error.issues.map((issue) => issue.message).join('; ');
}
