#!/usr/bin/env node
// Runs every jest project and ends with the line CI reads: `tests: N passed, N failed`.
// Jest's own summary is not machine-read, so the counts come from `jest --json`.
//
// A whole run (no arguments) has two phases: every test but the charge-path chaos property, on two workers; then
// the chaos property alone. The property's 1000 schedules are CPU-bound (about 5 minutes alone on 2 cores); beside
// the browser and emulator tests of the other worker they took more than twice that and ran into the property's
// time limit. Alone they take the same share of the machine on every run, and the whole suite about as long.
// With arguments (a file, a project, `-t`), one jest run with those arguments.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const CHAOS = 'test/integration/subscriptions/chaos.test.ts';
const extra = process.argv.slice(2);
const phases =
  extra.length > 0
    ? [extra]
    : [
        ['--testPathIgnorePatterns', `/${CHAOS.replaceAll('.', '\\.')}$`],
        ['--selectProjects', 'integration', '--runTestsByPath', CHAOS],
      ];

let passed = 0;
let failed = 0;
let ok = true;
phases.forEach((phaseArgs, index) => {
  const outputFile = join(process.cwd(), `.jest-results${index === 0 ? '' : `-${index + 1}`}.json`);
  rmSync(outputFile, { force: true });
  const args = ['jest', '--json', `--outputFile=${outputFile}`, ...phaseArgs];
  if (process.env.CI && !args.some((a) => a.startsWith('--maxWorkers'))) args.push('--maxWorkers=2');
  const run = spawnSync('npx', args, { stdio: 'inherit' });
  if (existsSync(outputFile)) {
    const results = JSON.parse(readFileSync(outputFile, 'utf8'));
    passed += results.numPassedTests;
    // A suite that fails to load runs no test but is still a failure.
    failed += results.numFailedTests + results.numRuntimeErrorTestSuites;
  } else {
    failed += 1;
  }
  if (run.status !== 0) ok = false;
});
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(ok && failed === 0 ? 0 : 1);
