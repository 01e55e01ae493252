import { type SourceFile, sourceFiles } from './support/source-files';

/**
 * Every read of a GSI must go through the readiness gate (the 2018 outage read an index still being built).
 * The gate's adapter is the only file allowed to pass `IndexName` to DynamoDB.
 */
const ALLOWED = new Set(['lambdas/index-gate/adapters/gated-index-query.ts']);

/** The files that name an index (`IndexName`) other than the gate's adapter: the reads that skip the gate. */
function ungatedIndexReads(files: readonly SourceFile[]): string[] {
  return files
    .filter((file) => !ALLOWED.has(file.path))
    .filter((file) => /\bIndexName\b/.test(file.text))
    .map((file) => file.path);
}

describe('index reads', () => {
  it('name an index only through the gate', () => {
    expect(ungatedIndexReads(sourceFiles('lambdas'))).toEqual([]);
  });

  it('detects an ungated query (the check itself works)', () => {
    const query = "client.send(new QueryCommand({ TableName: t, IndexName: 'byDue' }))";
    expect(
      ungatedIndexReads([
        { path: 'lambdas/billing/adapters/due-subscriptions.ts', text: query },
        { path: 'lambdas/index-gate/adapters/gated-index-query.ts', text: query },
        { path: 'lambdas/billing/adapters/by-key.ts', text: 'new QueryCommand({ TableName: t })' },
      ]),
    ).toEqual(['lambdas/billing/adapters/due-subscriptions.ts']);
  });
});
