import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';

export interface FailingEndpoint {
  readonly storeId: string;
  readonly endpointId: string;
  readonly url: string;
  /** `enabled` (deliveries fail, not disabled yet) or `disabled`. */
  readonly status: string;
  /** `failing` or `gone` for a disabled endpoint. */
  readonly disabledReason?: string;
  /** When its current run of failures began. */
  readonly failingSince?: string;
  readonly updatedAt?: string;
}

/** Where the failing endpoints are read from. */
export interface EndpointsSource {
  readonly dynamodb: DynamoDBClient;
  readonly tableName: string;
}

/**
 * There is no admin route that lists every store's endpoints, so the webhooks table is scanned (paginated, only
 * the attributes shown; the filter is applied after the read, so a scan reads the whole table): endpoints that
 * were disabled because they kept failing (`failing`) or answered 410 (`gone`), and enabled endpoints whose
 * deliveries currently fail (`failingSince` set). Endpoints disabled by hand (`manual`) are not listed.
 */
export async function readFailingEndpoints({
  dynamodb,
  tableName,
}: EndpointsSource): Promise<FailingEndpoint[]> {
  const documents = DynamoDBDocumentClient.from(dynamodb);
  const endpoints: FailingEndpoint[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const { Items = [], LastEvaluatedKey } = await documents.send(
      new ScanCommand({
        TableName: tableName,
        ProjectionExpression: '#store, #endpoint, #url, #status, #reason, #since, #updated',
        FilterExpression:
          '(#status = :disabled AND #reason IN (:failing, :gone)) OR (#status = :enabled AND attribute_exists(#since))',
        ExpressionAttributeNames: {
          '#store': 'storeId',
          '#endpoint': 'endpointId',
          '#url': 'url',
          '#status': 'status',
          '#reason': 'disabledReason',
          '#since': 'failingSince',
          '#updated': 'updatedAt',
        },
        ExpressionAttributeValues: {
          ':disabled': 'disabled',
          ':enabled': 'enabled',
          ':failing': 'failing',
          ':gone': 'gone',
        },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of Items) {
      endpoints.push({
        storeId: String(item.storeId),
        endpointId: String(item.endpointId),
        url: String(item.url ?? ''),
        status: String(item.status),
        ...(item.disabledReason ? { disabledReason: String(item.disabledReason) } : {}),
        ...(item.failingSince ? { failingSince: String(item.failingSince) } : {}),
        ...(item.updatedAt ? { updatedAt: String(item.updatedAt) } : {}),
      });
    }
    startKey = LastEvaluatedKey;
  } while (startKey);
  // Longest failing first; then by store and id, so that the list is stable.
  return endpoints.sort(
    (a, b) =>
      (a.failingSince ?? a.updatedAt ?? '').localeCompare(b.failingSince ?? b.updatedAt ?? '') ||
      a.storeId.localeCompare(b.storeId) ||
      a.endpointId.localeCompare(b.endpointId),
  );
}
