/**
 * Rewrites lib/deployed-indexes.json from the app: the global secondary indexes every PipelineTable declares.
 * Run it after a deploy has succeeded, and commit the file: synthesis compares the next change with it.
 *
 *   npm run indexes:record
 *
 * It refuses to record a table whose declared indexes differ from the record by more than one, since no
 * deployment can have made that change; fix the declaration, or the file by hand if AWS really has them.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { createPipelineApp } from '../lib/app';
import { PipelineTable } from '../lib/constructs/pipeline-table';
import {
  DEPLOYED_INDEXES_FILE,
  DEPLOYED_INDEXES_FILE_NAME,
  type DeployedIndexRecord,
  formatDeployedIndexRecord,
  RECORD_DEPLOYED_INDEXES_COMMAND,
  readDeployedIndexRecord,
} from '../lib/deployed-indexes';
import { indexChanges, tooManyIndexChanges } from '../lib/index-changes';

function main(): number {
  const { app } = createPipelineApp({ bundle: false, nag: false });
  const tables = app.node.findAll().filter((node): node is PipelineTable => node instanceof PipelineTable);
  const previous: DeployedIndexRecord = existsSync(DEPLOYED_INDEXES_FILE) ? readDeployedIndexRecord() : {};

  const refusals = tables.flatMap((table) => {
    const deployed = previous[table.deployedIndexesKey];
    if (deployed === undefined) return [];
    const refusal = tooManyIndexChanges({
      table: table.deployedIndexesKey,
      deployed,
      declared: table.indexNames,
      recordSource: DEPLOYED_INDEXES_FILE_NAME,
      recordCommand: RECORD_DEPLOYED_INDEXES_COMMAND,
    });
    return refusal ? [refusal] : [];
  });
  if (refusals.length > 0) {
    console.error(`Not recorded: no deployment can have made these changes.\n${refusals.join('\n')}`);
    return 1;
  }

  const record = Object.fromEntries(tables.map((table) => [table.deployedIndexesKey, table.indexNames]));
  writeFileSync(DEPLOYED_INDEXES_FILE, formatDeployedIndexRecord(record));
  for (const table of tables) {
    const { added, removed } = indexChanges(previous[table.deployedIndexesKey] ?? [], table.indexNames);
    const change = [...added.map((name) => `+${name}`), ...removed.map((name) => `-${name}`)].join(' ');
    console.log(
      `${table.deployedIndexesKey}: [${table.indexNames.join(', ')}]${change ? `  (${change})` : ''}`,
    );
  }
  console.log(`Recorded in ${DEPLOYED_INDEXES_FILE_NAME}; commit it.`);
  return 0;
}

process.exitCode = main();
