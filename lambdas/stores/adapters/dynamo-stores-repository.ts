import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { type Store, StoreAlreadyExistsError, type StoresRepository } from '../domain/stores';

/**
 * Stores in one table, two kinds of item: `store#<id>` holds the store, `apikey#<sha256>` maps a key digest to
 * its store, so authenticating a request is one GetItem by key and needs no index.
 */
export class DynamoStoresRepository implements StoresRepository {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async create(store: Store, apiKeyHash: string): Promise<void> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: storeKey(store.id), kind: 'store', ...store },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  pk: apiKeyKey(apiKeyHash),
                  kind: 'apikey',
                  storeId: store.id,
                  createdAt: store.createdAt,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed'
      ) {
        throw new StoreAlreadyExistsError(store.id);
      }
      throw error;
    }
  }

  async findStoreIdByApiKeyHash(apiKeyHash: string): Promise<string | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: apiKeyKey(apiKeyHash) } }),
    );
    return typeof Item?.storeId === 'string' ? Item.storeId : undefined;
  }

  async get(id: string): Promise<Store | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: storeKey(id) } }),
    );
    if (!Item) return undefined;
    return { id: String(Item.id), name: String(Item.name), createdAt: String(Item.createdAt) };
  }
}

const storeKey = (id: string) => `store#${id}`;
const apiKeyKey = (hash: string) => `apikey#${hash}`;
