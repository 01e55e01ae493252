import type { ResourceMap } from '../resource-map';
import { type CfnTemplate, resourcesOfType } from '../template';
import type { LocalFunctionProps } from './local-function';

/** Template metadata keys (docs/conventions.md). */
export const ENTRY_METADATA_KEY = 'commerce-pipeline:entry';
export const HANDLER_METADATA_KEY = 'commerce-pipeline:handler';
export const LOCAL_VALUE_METADATA_KEY = 'commerce-pipeline:local-value-from';

/** Concurrency of a function without reserved concurrency: enough for a laptop, and bounded. */
export const DEFAULT_LOCAL_CONCURRENCY = 10;

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
