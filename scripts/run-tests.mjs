#!/usr/bin/env node
// Runs every jest project and ends with the line CI reads: `tests: N passed, N failed`.
// Jest's own summary is not machine-read, so the counts come from `jest --json`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const outputFile = join(process.cwd(), '.jest-results.json');
rmSync(outputFile, { force: true });
const args = ['jest', '--json', `--outputFile=${outputFile}`, ...process.argv.slice(2)];
if (process.env.CI && !args.some((a) => a.startsWith('--maxWorkers'))) args.push('--maxWorkers=2');
const run = spawnSync('npx', args, { stdio: 'inherit' });

let passed = 0;
let failed = 0;
if (existsSync(outputFile)) {
  const results = JSON.parse(readFileSync(outputFile, 'utf8'));
  passed = results.numPassedTests;
  // A suite that fails to load runs no test but is still a failure.
  failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
} else {
  failed = 1;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
