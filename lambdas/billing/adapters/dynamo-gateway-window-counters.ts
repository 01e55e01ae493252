import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type {
  StoreWindowCounters,
  WindowCounts,
  WindowCountsUpdate,
} from '../../stores/domain/shared-store-throttle';

/**
 * The gateway limiter's shared counts (domain/gateway-pace.ts) in the runs table, which billing owns: one item
 * `{runId: "rate-limit#<key>", sk: "window-counts", w<window>: count, …}`. Run ids are UTC dates (`YYYY-MM-DD`),
 * so the partition `rate-limit#…` is apart from every run, its manifest pages and its reconciliation report; no
 * reader of the table lists partitions. The charge function may update this partition only (a `dynamodb:LeadingKeys`
 * condition in lib/features/billing.ts).
 *
 * A sync is one UpdateItem: ADD of this environment's counts, REMOVE of the windows past the horizon, with
 * ReturnValues ALL_NEW, which answers every window's global count in the same request. The item holds the last ten
 * windows, far under 1 KB: one write unit per sync. The runs table has no TTL, and needs none here: the item stays
 * that small for good.
 */
export class DynamoGatewayWindowCounters implements StoreWindowCounters {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async add(key: string, update: WindowCountsUpdate): Promise<WindowCounts> {
    const names: Record<string, string> = {};
    const values: Record<string, number> = {};
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
    // A sync with nothing to add or remove still reads the counts: SET of the key's own kind keeps it one update.
    names['#kind'] = 'kind';
    const expression = [
      'SET #kind = :kind',
      adds.length > 0 ? `ADD ${adds.join(', ')}` : '',
      removes.length > 0 ? `REMOVE ${removes.join(', ')}` : '',
    ]
      .filter((clause) => clause !== '')
      .join(' ');
    const { Attributes = {} } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: gatewayCountsKey(key),
        UpdateExpression: expression,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ...values, ':kind': 'gateway-rate-limit' },
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

/** The runs table's key of the shared counts of `key`: a partition no run id (a UTC date) can be. */
export function gatewayCountsKey(key: string): { runId: string; sk: string } {
  return { runId: `rate-limit#${key}`, sk: 'window-counts' };
}
