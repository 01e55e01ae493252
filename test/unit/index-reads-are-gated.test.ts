import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Every read of a GSI must go through the readiness gate (the 2018 outage read an index still being built).
 * The gate's adapter is the only file allowed to pass `IndexName` to DynamoDB.
 */
const ROOT = join(__dirname, '..', '..');
const ALLOWED = new Set(['lambdas/index-gate/adapters/gated-index-query.ts']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('index reads', () => {
  it('name an index only through the gate', () => {
    const offenders = sourceFiles(join(ROOT, 'lambdas'))
      .map((path) => relative(ROOT, path))
      .filter((path) => !ALLOWED.has(path))
      .filter((path) => /\bIndexName\b/.test(readFileSync(join(ROOT, path), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('detects an ungated query (the check itself works)', () => {
    expect(/\bIndexName\b/.test("client.send(new QueryCommand({ TableName: t, IndexName: 'byDue' }))")).toBe(
      true,
    );
  });
});
