import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The SDK's own request logger (`@aws-sdk/core`'s loggerMiddleware); the functions log with Powertools. */
const SDK_LOGGER_MIDDLEWARE = 'loggerMiddleware';

/**
 * One document client per execution environment, created at module scope and reused across invocations.
 * The endpoint comes from the SDK's standard configuration (AWS_ENDPOINT_URL_DYNAMODB locally).
 */
let shared: DynamoDBDocumentClient | undefined;

export function documentClient(): DynamoDBDocumentClient {
  shared ??= createDocumentClient(new DynamoDBClient({}));
  return shared;
}

/**
 * Wraps `client` (and drops the SDK's logger middleware from it: it runs the input and output of every call through
 * their sensitive-data filters for a logger that no function sets, about a tenth of the SDK's CPU per call).
 */
export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  client.middlewareStack.remove(SDK_LOGGER_MIDDLEWARE);
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** True for the error DynamoDB raises when a condition expression does not hold. */
export function isConditionalCheckFailure(
  error: unknown,
): error is Error & { Item?: Record<string, unknown> } {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_SIZE = 100;

/**
 * Every item of `keys` that exists, read with strongly consistent BatchGetItem calls (100 keys each), in no
 * particular order. Unprocessed keys (a busy table) are asked again after a backoff, `maxTries` times per batch at
 * most; then it fails with ProvisionedThroughputExceededException, which the API answers 503 with Retry-After.
 */
export async function batchGetConsistent(
  client: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Record<string, unknown>[],
  options: { readonly maxTries?: number; readonly backoff?: (tries: number) => Promise<void> } = {},
): Promise<Record<string, unknown>[]> {
  const maxTries = options.maxTries ?? 5;
  const backoff =
    options.backoff ??
    ((tries: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** tries))));
  const found: Record<string, unknown>[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_SIZE) {
    let batch = keys.slice(start, start + BATCH_GET_SIZE);
    for (let tries = 0; batch.length > 0; tries += 1) {
      if (tries >= maxTries) {
        const error = new Error(`BatchGetItem on ${tableName} left ${batch.length} key(s) unprocessed.`);
        error.name = 'ProvisionedThroughputExceededException';
        throw error;
      }
      if (tries > 0) await backoff(tries - 1);
      const output = await client.send(
        new BatchGetCommand({ RequestItems: { [tableName]: { Keys: [...batch], ConsistentRead: true } } }),
      );
      found.push(...((output.Responses?.[tableName] ?? []) as Record<string, unknown>[]));
      batch = (output.UnprocessedKeys?.[tableName]?.Keys ?? []) as Record<string, unknown>[];
    }
  }
  return found;
}
