import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildOpenApiDocument } from '../lambdas/api/openapi/document';

/**
 * `npm run lint:openapi`: writes the OpenAPI document that `GET /openapi.json` serves to a temporary file and lints
 * it with Redocly's CLI under the repository's redocly.yaml. Exits with Redocly's status (1 on any error).
 */

export interface OpenApiLint {
  /** Redocly's exit status: 0 when there is no error. */
  readonly status: number;
  /** What Redocly printed on stdout (the report; JSON with `format: 'json'`) and on stderr. */
  readonly stdout: string;
  readonly stderr: string;
}

const ROOT = resolve(__dirname, '..');

export function lintOpenApiDocument(options: { format?: 'stylish' | 'json' } = {}): OpenApiLint {
  const directory = mkdtempSync(join(tmpdir(), 'commerce-pipeline-openapi-'));
  try {
    const file = join(directory, 'openapi.json');
    writeFileSync(file, `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`);
    const run = spawnSync(
      'npx',
      [
        'redocly',
        'lint',
        file,
        '--config',
        join(ROOT, 'redocly.yaml'),
        `--format=${options.format ?? 'stylish'}`,
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        // No telemetry and no update check: the lint runs offline, in CI and in the tests.
        env: {
          ...process.env,
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
          NO_COLOR: '1',
        },
      },
    );
    if (run.error) throw run.error;
    return { status: run.status ?? 1, stdout: run.stdout, stderr: run.stderr };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const { status, stdout, stderr } = lintOpenApiDocument();
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exit(status);
}
