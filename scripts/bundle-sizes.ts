import * as path from 'node:path';
import { build } from 'esbuild';
import { BUNDLE_MAIN_FIELDS, PIPELINE_RUNTIME } from '../lib/constructs/pipeline-function';
import { handlerEntries } from '../local/runtime/function-definitions';
import { synthesizePipelineTemplate } from '../local/template';

/** The target for every function bundle, minified. */
export const BUNDLE_SIZE_LIMIT_BYTES = 1024 * 1024;

const REPO_ROOT = path.resolve(__dirname, '..');

/**
 * Each function's bundle size, minified, built with the options PipelineFunction gives NodejsFunction (the
 * source map is left out: it is a separate file that Lambda does not load unless asked).
 */
export async function measureBundles(): Promise<{ entry: string; bytes: number }[]> {
  const entries = [...new Set(handlerEntries(synthesizePipelineTemplate()))].sort();
  return Promise.all(
    entries.map(async (entry) => {
      const result = await build({
        entryPoints: [path.join(REPO_ROOT, entry)],
        bundle: true,
        minify: true,
        platform: 'node',
        format: 'cjs',
        target: PIPELINE_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, 'node$1'),
        mainFields: BUNDLE_MAIN_FIELDS,
        write: false,
        logLevel: 'error',
      });
      return { entry, bytes: result.outputFiles.reduce((sum, file) => sum + file.contents.byteLength, 0) };
    }),
  );
}

async function main(): Promise<void> {
  const sizes = await measureBundles();
  console.log('| function bundle | minified size |\n|---|---|');
  for (const { entry, bytes } of sizes) console.log(`| ${entry} | ${(bytes / 1024).toFixed(0)} KiB |`);
  const over = sizes.filter(({ bytes }) => bytes >= BUNDLE_SIZE_LIMIT_BYTES);
  if (over.length > 0) {
    console.error(`Over 1 MiB: ${over.map(({ entry }) => entry).join(', ')}`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
