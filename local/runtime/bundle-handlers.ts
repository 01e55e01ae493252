import * as path from 'node:path';
import { build } from 'esbuild';

/** The repository root: handler entries in template metadata are relative to it. */
export const REPO_ROOT = path.join(__dirname, '..', '..');

/**
 * Bundles each handler entry as Lambda would run it (esbuild, CommonJS, Node 20 syntax, source maps), in one
 * esbuild pass. Returns the bundle file of each entry.
 */
export async function bundleHandlers(
  entries: readonly string[],
  outDir: string,
): Promise<Map<string, string>> {
  const unique = [...new Set(entries)];
  const outputs = new Map(unique.map((entry) => [entry, path.join(outDir, `${withoutExtension(entry)}.js`)]));
  if (unique.length === 0) return outputs;
  await build({
    entryPoints: unique.map((entry) => ({ in: path.join(REPO_ROOT, entry), out: withoutExtension(entry) })),
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // As the deployed bundles are built (lib/constructs/pipeline-function.ts): ES modules first.
    mainFields: ['module', 'main'],
    sourcemap: true,
    logLevel: 'error',
  });
  return outputs;
}

function withoutExtension(entry: string): string {
  return entry.replace(/\.[cm]?[jt]sx?$/, '');
}
