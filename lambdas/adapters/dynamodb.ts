import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * One document client per execution environment, created at module scope and reused across invocations.
 * The endpoint comes from the SDK's standard configuration (AWS_ENDPOINT_URL_DYNAMODB locally).
 */
let shared: DynamoDBDocumentClient | undefined;

export function documentClient(): DynamoDBDocumentClient {
  shared ??= createDocumentClient(new DynamoDBClient({}));
  return shared;
}

export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
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
