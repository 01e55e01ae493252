import { execFile } from 'node:child_process';
import * as path from 'node:path';

export const REPO_ROOT = path.join(__dirname, '..', '..', '..');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `npx pipeline <args>` as an operator runs it: bin/pipeline.js in a child process, stdout a pipe (not a TTY). The
 * flags are the target: nothing comes from the test run's environment (ADMIN_API_KEY, PIPELINE_API_URL,
 * PIPELINE_STACK_FILE).
 */
export function runCli(args: readonly string[]): Promise<CliResult> {
  const env = { ...process.env };
  delete env.ADMIN_API_KEY;
  delete env.PIPELINE_API_URL;
  delete env.PIPELINE_STACK_FILE;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'pipeline.js'), ...args],
      { cwd: REPO_ROOT, env, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
