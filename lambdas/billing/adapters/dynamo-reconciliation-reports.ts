import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { batchGetConsistent } from '../../platform/dynamodb';
import type { ReconciliationReports } from '../domain/reconciliation';
import type { ReconciliationReport } from '../domain/reconciliation-report';

/** The sort key of a run's reconciliation report, beside its run item (`run`) and manifest pages (`page#…`). */
const RECONCILIATION_SK = 'reconciliation';

/**
 * Reconciliation reports in the runs table (pk `runId` = the run's date, sk `reconciliation`): one item per run,
 * replaced by each reconciliation, so it needs no table of its own and is found from the run's id. The manifest
 * query (`begins_with(sk, 'page#')`) and the run item's reads never meet it.
 */
export class DynamoReconciliationReports implements ReconciliationReports {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  async put(report: ReconciliationReport): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...report, runId: report.date, sk: RECONCILIATION_SK },
      }),
    );
  }

  async get(date: string): Promise<ReconciliationReport | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { runId: date, sk: RECONCILIATION_SK },
        ConsistentRead: true,
      }),
    );
    return Item ? toReport(Item) : undefined;
  }

  async getMany(dates: readonly string[]): Promise<ReconciliationReport[]> {
    const keys = [...new Set(dates)].map((runId) => ({ runId, sk: RECONCILIATION_SK }));
    return (await batchGetConsistent(this.client, this.tableName, keys)).map(toReport);
  }
}

function toReport(item: Record<string, unknown>): ReconciliationReport {
  const { runId: _runId, sk: _sk, ...report } = item;
  return report as unknown as ReconciliationReport;
}
