import type middy from '@middy/core';
import secretsManager from '@middy/secrets-manager';
import type { Context } from 'aws-lambda';
import { requireEnv } from './environment';

/**
 * Secrets at run time, never in the environment: each function names the environment variable that holds a
 * secret's ARN, and the value is read from Secrets Manager through middy's cached middleware, so a value rotated
 * in Secrets Manager is picked up once the cache expires, without a deploy (and no person is needed at
 * scale-out). The values are put on the Lambda context under the binding names.
 *
 * The same middleware runs locally: the local stack serves its own Secrets Manager
 * (`local/emulators/secrets-manager.ts`) and points the SDK at it with `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
 */

/** How long a function keeps a secret's value before it reads it again, in seconds. */
export const SECRETS_CACHE_SECONDS_VARIABLE = 'SECRETS_CACHE_SECONDS';
export const SECRETS_CACHE_EXPIRY_MS = 5 * 60_000;
/** middy reads a `cacheExpiry` above one day as a point in time, not a duration: longer caches are refused. */
const MAX_SECRETS_CACHE_SECONDS = 86_400;

/** Maps a context property name to the environment variable holding the secret's ARN. */
export type SecretBindings = Readonly<Record<string, string>>;

export type ContextWithSecrets<Bindings extends SecretBindings> = Context & {
  [Name in keyof Bindings]: string;
};

/**
 * The middleware that puts the bound secrets on the context, cached for `cacheExpiryMs` (by default
 * SECRETS_CACHE_SECONDS of the environment, 300 s when unset).
 * @throws at cold start when a binding's variable is unset or SECRETS_CACHE_SECONDS does not parse.
 */
export function loadSecrets<Bindings extends SecretBindings>(
  bindings: Bindings,
  options: { cacheExpiryMs?: number } = {},
): middy.MiddlewareObj {
  const arns = Object.fromEntries(
    Object.entries(bindings).map(([name, variable]) => [name, requireEnv(variable)]),
  );
  return secretsManager({
    fetchData: arns,
    setToContext: true,
    cacheKey: 'pipeline-secrets',
    cacheExpiry: options.cacheExpiryMs ?? secretsCacheExpiryMs(process.env),
  }) as middy.MiddlewareObj;
}

/** SECRETS_CACHE_SECONDS of `env` in milliseconds: a whole number from 1 to 86400, 300 when unset or empty. */
export function secretsCacheExpiryMs(env: NodeJS.ProcessEnv): number {
  const text = env[SECRETS_CACHE_SECONDS_VARIABLE]?.trim();
  if (text === undefined || text === '') return SECRETS_CACHE_EXPIRY_MS;
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || seconds < 1 || seconds > MAX_SECRETS_CACHE_SECONDS) {
    throw new Error(
      `${SECRETS_CACHE_SECONDS_VARIABLE} must be a whole number of seconds from 1 to ${MAX_SECRETS_CACHE_SECONDS}, got "${text}".`,
    );
  }
  return seconds * 1000;
}
