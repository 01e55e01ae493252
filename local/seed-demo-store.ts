import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDocumentClient } from '../lambdas/platform/dynamodb';
import { DynamoStoresRepository } from '../lambdas/stores/adapters/dynamo-stores-repository';
import { generateStoreApiKey } from '../lambdas/stores/domain/api-keys';
import { createStore } from '../lambdas/stores/domain/stores';
import type { FunctionDefinition } from './runtime/function-definitions';

export const DEMO_STORE_ID = 'demo';

/**
 * Creates the store `demo` with the configured key (or a new one) through the same domain code as
 * `POST /v1/admin/stores`, in the stores table the functions are given (STORES_TABLE_NAME). A template without
 * such a table (a test's fixture stack) gets no demo store.
 */
export async function seedDemoStore(
  functions: readonly FunctionDefinition[],
  dynamodb: DynamoDBClient,
  apiKey = generateStoreApiKey(),
): Promise<{ id: string; apiKey: string } | undefined> {
  const tableName = functions.find((fn) => fn.environment.STORES_TABLE_NAME)?.environment.STORES_TABLE_NAME;
  if (!tableName) return undefined;
  const repository = new DynamoStoresRepository({ client: createDocumentClient(dynamodb), tableName });
  const store = await createStore(repository, { id: DEMO_STORE_ID, name: 'Demo store' }, { apiKey });
  return { id: store.id, apiKey: store.apiKey };
}
