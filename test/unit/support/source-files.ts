import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** The repository's root directory. */
export const REPO_ROOT = join(__dirname, '..', '..', '..');

/** A source file: its path relative to the repository root, with `/` separators, and its text. */
export interface SourceFile {
  readonly path: string;
  readonly text: string;
}

/** Every `.ts` file under the given folders of the repository (folders that do not exist are skipped). */
export function sourceFiles(...folders: readonly string[]): SourceFile[] {
  return folders.flatMap((folder) => {
    const dir = join(REPO_ROOT, folder);
    return existsSync(dir) ? walk(dir) : [];
  });
}

function walk(dir: string): SourceFile[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : walk(path);
      if (!path.endsWith('.ts')) return [];
      return [{ path: relative(REPO_ROOT, path).split(sep).join('/'), text: readFileSync(path, 'utf8') }];
    });
}
