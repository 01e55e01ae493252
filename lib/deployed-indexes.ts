import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import * as z from 'zod';
import { deployedPath } from './constructs/stack-level-ids';

/**
 * The committed record of the GSIs each table has in AWS: { "<stack name>/<table path in the stack>": [index
 * names] }. Synthesis compares the declared GSIs with it (CloudFormation takes one GSI change per table per
 * deployment); `RECORD_DEPLOYED_INDEXES_COMMAND` rewrites it from the app after a successful deploy.
 */
export const DEPLOYED_INDEXES_FILE = path.join(__dirname, 'deployed-indexes.json');

/** The record as written in messages: relative to the repository root. */
export const DEPLOYED_INDEXES_FILE_NAME = 'lib/deployed-indexes.json';

export const RECORD_DEPLOYED_INDEXES_COMMAND = 'npm run indexes:record';

/**
 * Context key that replaces the committed record, e.g. in tests: the record itself, as an object or as JSON
 * (`cdk synth -c 'commerce-pipeline:deployed-indexes={...}'`).
 */
export const DEPLOYED_INDEXES_CONTEXT_KEY = 'commerce-pipeline:deployed-indexes';

export type DeployedIndexRecord = Readonly<Record<string, readonly string[]>>;

const deployedIndexRecordSchema = z.record(z.string(), z.array(z.string()));

/** The record that applies to `scope`: the context override if there is one, otherwise the committed file. */
export function deployedIndexRecord(scope: IConstruct): { record: DeployedIndexRecord; source: string } {
  const override: unknown = scope.node.tryGetContext(DEPLOYED_INDEXES_CONTEXT_KEY);
  if (override !== undefined) {
    const source = `context ${DEPLOYED_INDEXES_CONTEXT_KEY}`;
    const value = typeof override === 'string' ? parseJson(override, source) : override;
    return { record: parseRecord(value, source), source };
  }
  return { record: readDeployedIndexRecord(), source: DEPLOYED_INDEXES_FILE_NAME };
}

export function readDeployedIndexRecord(file = DEPLOYED_INDEXES_FILE): DeployedIndexRecord {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    // Without the record every table would count as new and any number of GSI changes would pass.
    throw new Error(
      `Cannot read the record of deployed indexes ${file} (${(error as Error).message}); restore it from ` +
        `version control, or create it with \`${RECORD_DEPLOYED_INDEXES_COMMAND}\` if nothing is deployed yet.`,
    );
  }
  return parseRecord(parseJson(text, file), file);
}

/** The record as committed: keys and index names sorted, so that a change shows as a one-line diff. */
export function formatDeployedIndexRecord(record: DeployedIndexRecord): string {
  const sorted = Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((key) => [key, [...(record[key] ?? [])].sort()]),
  );
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

/**
 * A table's key in the record: its stack's name and the construct path inside the stack that its logical ID is
 * made from (`deployedPath`: a table kept at its stack-level logical ID inside a feature construct keeps its key),
 * which is what identifies the deployed table (the same app deployed under two stack names has two sets of tables).
 */
export function deployedIndexesKey(table: IConstruct): string {
  return `${Stack.of(table).stackName}/${deployedPath(table).join('/')}`;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`The record of deployed indexes in ${source} is not JSON: ${(error as Error).message}`);
  }
}

function parseRecord(value: unknown, source: string): DeployedIndexRecord {
  const parsed = deployedIndexRecordSchema.safeParse(value);
  if (!parsed.success) {
    throw new Error(
      `The record of deployed indexes in ${source} must map "<stack>/<table path>" to a list of index names: ` +
        z.prettifyError(parsed.error),
    );
  }
  return parsed.data;
}
