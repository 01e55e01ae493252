import { availableParallelism } from 'node:os';
import type { ResourceMap } from '../resource-map';
import { type CfnTemplate, resourcesOfType } from '../template';
import type { LocalFunctionProps } from './local-function';

/** Template metadata keys (docs/conventions.md). */
export const ENTRY_METADATA_KEY = 'commerce-pipeline:entry';
export const HANDLER_METADATA_KEY = 'commerce-pipeline:handler';
export const LOCAL_VALUE_METADATA_KEY = 'commerce-pipeline:local-value-from';

/** Concurrency of a function without reserved concurrency: enough for a laptop, and bounded. */
export const DEFAULT_LOCAL_CONCURRENCY = 10;

/**
 * Execution environments of a function behind the HTTP API: two per core (one computing while another waits on
 * DynamoDB). Its requests are short, and on one machine every environment beyond that is one more isolate that
 * compiles and collects the same code on the same cores: with 8 clients on 2 cores, 8 environments cost about 1.6x
 * the CPU per request of 2 (bench/run.ts (a)). Requests beyond wait for a free environment, as past the concurrency.
 */
export const LOCAL_HTTP_ENVIRONMENTS = Math.max(2, 2 * availableParallelism());

export type FunctionDefinition = Omit<LocalFunctionProps, 'bundlePath'>;

/** The handler files of the template's functions (see `functionDefinitions`). */
export function handlerEntries(template: CfnTemplate): string[] {
  return resourcesOfType(template, 'AWS::Lambda::Function').flatMap(([, resource]) => {
    const entry = resource.Metadata?.[ENTRY_METADATA_KEY];
    return typeof entry === 'string' ? [entry] : [];
  });
}

/**
 * Every function of the template that names its handler file in its metadata, with its resolved environment.
 * Functions without that metadata (CDK's own custom-resource providers) have no local role and are skipped.
 * Secrets stay out of the environment, locally too: a function gets a secret's ARN, as its template says, and
 * reads the value from the local Secrets Manager (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, in `baseEnvironment`).
 *
 * @param baseEnvironment what every function gets on top of its own variables (it wins over them): the SDK
 *   endpoints and the local values of the contract's non-secret settings.
 */
export function functionDefinitions(
  template: CfnTemplate,
  resources: ResourceMap,
  baseEnvironment: Readonly<Record<string, string>>,
): FunctionDefinition[] {
  const httpTargets = httpIntegrationTargets(template);
  return resourcesOfType(template, 'AWS::Lambda::Function').flatMap(([logicalId, resource]) => {
    const entry = resource.Metadata?.[ENTRY_METADATA_KEY];
    if (typeof entry !== 'string') return [];
    const properties = resource.Properties ?? {};
    const local = resources.get(logicalId);
    const variables = (resources.resolve(
      (properties.Environment as { Variables?: unknown } | undefined)?.Variables ?? {},
    ) ?? {}) as Record<string, unknown>;
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(variables)) environment[name] = String(value);
    const memorySize = Number(properties.MemorySize ?? 128);
    return [
      {
        logicalId,
        name: local.ref,
        arn: local.attributes.Arn ?? local.ref,
        entry,
        handlerName: String(resource.Metadata?.[HANDLER_METADATA_KEY] ?? 'handler'),
        timeoutMs: Number(properties.Timeout ?? 3) * 1000,
        memorySize,
        // Reserved concurrency bounds a function in AWS; on one machine more than the default helps nothing.
        concurrency: Math.min(
          Number(properties.ReservedConcurrentExecutions ?? DEFAULT_LOCAL_CONCURRENCY),
          DEFAULT_LOCAL_CONCURRENCY,
          httpTargets.has(logicalId) ? LOCAL_HTTP_ENVIRONMENTS : DEFAULT_LOCAL_CONCURRENCY,
        ),
        environment: {
          ...environment,
          ...baseEnvironment,
          AWS_LAMBDA_FUNCTION_NAME: local.ref,
          AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memorySize),
        },
      },
    ];
  });
}

/** Logical ids of the functions that an HTTP API integration (AWS::ApiGatewayV2::Integration) invokes. */
function httpIntegrationTargets(template: CfnTemplate): ReadonlySet<string> {
  const targets = new Set<string>();
  for (const [, integration] of resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')) {
    collectReferences(integration.Properties?.IntegrationUri, targets);
  }
  return targets;
}

/** Every logical id `value` refers to with `Ref` or `Fn::GetAtt`, at any depth (`Fn::Join`, `Fn::Sub` lists). */
function collectReferences(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectReferences(item, into);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'Ref' && typeof inner === 'string') into.add(inner);
    else if (key === 'Fn::GetAtt' && Array.isArray(inner) && typeof inner[0] === 'string') into.add(inner[0]);
    else collectReferences(inner, into);
  }
}
