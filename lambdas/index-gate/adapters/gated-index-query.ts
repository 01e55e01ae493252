import { DescribeTableCommand, type DescribeTableCommandOutput } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { reportIndexNotReady } from '../../platform/metrics';
import {
  type IndexDescriber,
  type IndexDescription,
  IndexGate,
  type IndexReadPolicy,
} from '../domain/index-gate';

/**
 * The only place in the code that may name a GSI in a query: every index read goes through the readiness gate.
 * (test/unit/index-reads-are-gated.test.ts fails the build when another file passes `IndexName`.)
 */
/** Any client that can send DescribeTable: the low-level client or the document client. */
interface DescribeTableSender {
  send(command: DescribeTableCommand): Promise<DescribeTableCommandOutput>;
}

export class DynamoIndexDescriber implements IndexDescriber {
  constructor(private readonly client: DescribeTableSender) {}

  async describeIndexes(table: string): Promise<readonly IndexDescription[]> {
    const { Table } = await this.client.send(new DescribeTableCommand({ TableName: table }));
    return (Table?.GlobalSecondaryIndexes ?? []).map((index) => ({
      name: index.IndexName ?? '',
      status: index.IndexStatus ?? 'UNKNOWN',
      backfilling: index.Backfilling === true,
    }));
  }
}

/**
 * DynamoDB's answers to a query on an index that cannot be read yet: a backfilling index, one that is still
 * being created, or one that does not exist on the table yet (a deploy in progress).
 */
export function isIndexNotReadyError(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  if (name !== 'ValidationException' && name !== 'ResourceNotFoundException') return false;
  return /backfilling|does not have the specified index|index.*(not|isn't).*(active|ready)|CREATING/i.test(
    message ?? '',
  );
}

/** A gate over DescribeTable that reports every not-ready read as the `IndexNotReady` metric by default. */
export function createIndexGate(
  client: DescribeTableSender,
  onNotReady: (table: string, index: string, status: string) => void = reportIndexNotReady,
): IndexGate {
  return new IndexGate(new DynamoIndexDescriber(client), {
    onNotReady,
    isNotReadyError: isIndexNotReadyError,
  });
}

/** A Query on a GSI, through the gate, with the caller's policy for a not-ready index. */
export function gatedIndexQuery<T>(
  gate: IndexGate,
  client: DynamoDBDocumentClient,
  index: string,
  input: Omit<QueryCommandInput, 'IndexName'> & { TableName: string },
  policy: IndexReadPolicy<T>,
  mapResult: (output: QueryCommandOutput) => T,
): Promise<T> {
  return gate.read(input.TableName, index, policy, async () =>
    mapResult(await client.send(new QueryCommand({ ...input, IndexName: index }))),
  );
}
