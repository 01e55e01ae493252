import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { StoreWindowCounters, WindowCounts, WindowCountsUpdate } from '../domain/shared-store-throttle';

/**
 * The shared per-store request counts of SharedStoreThrottle, one item per store in a table keyed by `pk` (string)
 * with TTL on `expiresAt` (the idempotency table, whose other keys are `store:…#…`, `admin#…` and `notification#…`):
 * `{pk: "rate-limit#<storeId>", w<window>: count, …, expiresAt}`, a few windows at a time (the horizon).
 *
 * A sync is one UpdateItem: ADD of this environment's counts, REMOVE of the windows past the horizon, SET of the
 * expiry, with ReturnValues ALL_NEW, which answers every window's global count in the same request (returned values
 * consume no read capacity). The item stays far under 1 KB: one write unit per sync, whatever the traffic.
 */
export class DynamoStoreWindowCounters implements StoreWindowCounters {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async add(storeId: string, update: WindowCountsUpdate): Promise<WindowCounts> {
    const names: Record<string, string> = {};
    const values: Record<string, number> = { ':expiresAt': Math.ceil(update.expiresAt / 1000) };
    const adds = [...update.increments].map(([window, count], i) => {
      names[`#a${i}`] = windowAttribute(window);
      values[`:a${i}`] = count;
      return `#a${i} :a${i}`;
    });
    const removes = update.forget
      .filter((window) => !update.increments.has(window))
      .map((window, i) => {
        names[`#r${i}`] = windowAttribute(window);
        return `#r${i}`;
      });
    const expression = [
      'SET expiresAt = :expiresAt',
      adds.length > 0 ? `ADD ${adds.join(', ')}` : '',
      removes.length > 0 ? `REMOVE ${removes.join(', ')}` : '',
    ]
      .filter((clause) => clause !== '')
      .join(' ');
    const { Attributes = {} } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: rateLimitKey(storeId) },
        UpdateExpression: expression,
        ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    const counts = new Map<number, number>();
    for (const [name, value] of Object.entries(Attributes)) {
      const match = WINDOW_ATTRIBUTE.exec(name);
      if (match && typeof value === 'number') counts.set(Number(match[1]), value);
    }
    return counts;
  }
}

const WINDOW_ATTRIBUTE = /^w(\d+)$/;

function windowAttribute(window: number): string {
  return `w${window}`;
}

/** The key of a store's counts: apart from every other key space of the table. */
export function rateLimitKey(storeId: string): string {
  return `rate-limit#${storeId}`;
}
