import type middy from '@middy/core';
import secretsManager from '@middy/secrets-manager';
import type { Context } from 'aws-lambda';
import { type ResourceName, readConfig } from './config';

/**
 * Secrets at run time, never in the environment: each function names the environment variable that holds a
 * secret's ARN, and the value is read from Secrets Manager through middy's cached middleware, so a value rotated
 * in Secrets Manager is picked up once the cache expires, without a deploy (and no person is needed at
 * scale-out). The values are put on the Lambda context under the binding names.
 *
 * The same middleware runs locally: the local stack serves its own Secrets Manager
 * (`local/emulators/secrets-manager.ts`) and points the SDK at it with `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
 */

/** The cache's default: SECRETS_CACHE_SECONDS unset (its schema's default, 300 s). */
export const SECRETS_CACHE_EXPIRY_MS = 5 * 60_000;

/** A variable that holds a secret's ARN. */
type SecretArnVariable = Extract<ResourceName, `${string}_SECRET_ARN`>;

/** Maps a context property name to the environment variable holding the secret's ARN. */
export type SecretBindings = Readonly<Record<string, SecretArnVariable>>;

export type ContextWithSecrets<Bindings extends SecretBindings> = Context & {
  [Name in keyof Bindings]: string;
};

/**
 * The middleware that puts the bound secrets on the context, cached for `cacheExpiryMs` (by default
 * SECRETS_CACHE_SECONDS of the environment, 300 s when unset).
 * @throws ConfigError at cold start when a binding's variable is unset or SECRETS_CACHE_SECONDS does not parse.
 */
export function loadSecrets<Bindings extends SecretBindings>(
  bindings: Bindings,
  options: { cacheExpiryMs?: number; env?: NodeJS.ProcessEnv } = {},
): middy.MiddlewareObj {
  const env = options.env ?? process.env;
  const arns = readConfig(Object.values(bindings), env);
  return secretsManager({
    fetchData: Object.fromEntries(Object.entries(bindings).map(([name, variable]) => [name, arns[variable]])),
    setToContext: true,
    cacheKey: 'pipeline-secrets',
    cacheExpiry: options.cacheExpiryMs ?? secretsCacheExpiryMs(env),
  }) as middy.MiddlewareObj;
}

/**
 * SECRETS_CACHE_SECONDS of `env` in milliseconds: a whole number from 1 to 86400, 300 when unset or blank.
 * @throws ConfigError naming the variable and its value when it does not parse.
 */
export function secretsCacheExpiryMs(env: NodeJS.ProcessEnv): number {
  // A blank value counts as unset, like an empty one.
  const { SECRETS_CACHE_SECONDS } = readConfig(['SECRETS_CACHE_SECONDS'], {
    SECRETS_CACHE_SECONDS: env.SECRETS_CACHE_SECONDS?.trim() === '' ? undefined : env.SECRETS_CACHE_SECONDS,
  });
  return SECRETS_CACHE_SECONDS * 1000;
}
