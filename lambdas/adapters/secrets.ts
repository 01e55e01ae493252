import type middy from '@middy/core';
import secretsManager from '@middy/secrets-manager';
import type { Context } from 'aws-lambda';
import { requireEnv } from './environment';

/**
 * Secrets at run time, never in the environment: each function names the environment variable that holds a
 * secret's ARN, and the value is read from Secrets Manager through middy's cached middleware, so a value rotated
 * in Secrets Manager is picked up within `cacheExpiryMs` without a deploy (and no person is needed at scale-out).
 *
 * Locally there is no Secrets Manager: the local runtime passes `PIPELINE_LOCAL_SECRETS`, a JSON object from
 * secret ARN to value taken from the local configuration. Both paths put the values on the Lambda context
 * under the same names, so handlers never know which one ran.
 */
export const SECRETS_CACHE_EXPIRY_MS = 5 * 60_000;

/** Maps a context property name to the environment variable holding the secret's ARN. */
export type SecretBindings = Readonly<Record<string, string>>;

export type ContextWithSecrets<Bindings extends SecretBindings> = Context & {
  [Name in keyof Bindings]: string;
};

export function loadSecrets<Bindings extends SecretBindings>(
  bindings: Bindings,
  options: { cacheExpiryMs?: number } = {},
): middy.MiddlewareObj {
  const arns = Object.fromEntries(
    Object.entries(bindings).map(([name, variable]) => [name, requireEnv(variable)]),
  );
  const localSecrets = process.env.PIPELINE_LOCAL_SECRETS;
  if (localSecrets !== undefined) return localSecretsMiddleware(arns, parseLocalSecrets(localSecrets));
  return secretsManager({
    fetchData: arns,
    setToContext: true,
    cacheKey: 'pipeline-secrets',
    cacheExpiry: options.cacheExpiryMs ?? SECRETS_CACHE_EXPIRY_MS,
  }) as middy.MiddlewareObj;
}

function parseLocalSecrets(json: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(json);
    if (parsed && typeof parsed === 'object') return parsed as Record<string, string>;
  } catch {
    // Reported below with a message that does not echo the (secret) content.
  }
  throw new Error('PIPELINE_LOCAL_SECRETS is not a JSON object of secret ARN to value.');
}

function localSecretsMiddleware(
  arns: Record<string, string>,
  values: Record<string, string>,
): middy.MiddlewareObj {
  for (const [name, arn] of Object.entries(arns)) {
    if (typeof values[arn] !== 'string') throw new Error(`No local value for secret "${name}" (${arn}).`);
  }
  return {
    before: (request) => {
      for (const [name, arn] of Object.entries(arns)) {
        Object.assign(request.context, { [name]: values[arn] });
      }
    },
  };
}
