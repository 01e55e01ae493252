import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

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
