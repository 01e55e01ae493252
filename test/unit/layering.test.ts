import { posix } from 'node:path';
import * as ts from 'typescript';
import { type SourceFile, sourceFiles } from './support/source-files';

/**
 * The layers of the code, as the imports of every `.ts` file state them (read with the TypeScript compiler's
 * pre-processor: `import`, `export … from`, `require()` and `import()`, type-only imports included).
 *
 * - A domain file (`lambdas/<feature>/domain/**`) does no I/O and knows no AWS: it imports no AWS SDK, no
 *   `aws-lambda` (not even its types: how Lambda delivers work is the handler's business, which hands the domain
 *   its own types), no Powertools, no middy, no CDK, no I/O module of Node, no vendor client (Stripe,
 *   Nodemailer), and no adapter or handler. It may import other lambdas modules (`lambdas/platform/*`, a
 *   feature's `function-variables.ts` …) only when they are pure by the same rule, all the way down.
 * - Nothing in `lambdas/` reaches outside it (into `lib/`, `local/`, `cli/`, `test/`, `bench/` …): the
 *   functions are bundled from `lambdas/` alone. This covers the handlers, which never import `lib/`,
 *   `local/` or `cli/`.
 * - The CDK app (`lib/`) imports from `lambdas/` only the names and schemas of the functions' settings
 *   (`lambdas/platform/config/**`, `lambdas/<feature>/function-variables.ts`), themselves pure, and names the
 *   handlers by path strings, which must name files that exist.
 */

type Rule = 'domain-is-pure' | 'lambdas-stay-inside' | 'lib-imports-names-only' | 'lib-handler-paths-exist';

interface Violation {
  readonly rule: Rule;
  readonly file: string;
  readonly specifier: string;
  readonly why: string;
}

/** Packages a domain file must not import, by name (a name also covers its subpaths), with what they are. */
const NOT_IN_DOMAIN: readonly (readonly [string, string])[] = [
  ['@aws-sdk', 'the AWS SDK'],
  ['aws-lambda', 'the Lambda event types'],
  ['@aws-lambda-powertools', 'Powertools'],
  ['@middy', 'middy'],
  ['aws-cdk-lib', 'the CDK'],
  ['constructs', 'the CDK'],
  ['stripe', 'a vendor client'],
  ['nodemailer', 'a vendor client'],
];
/** Node's modules that do I/O: named bare or with `node:`, with or without a subpath (`fs/promises`). */
const IO_MODULES = new Set(['fs', 'net', 'http', 'https', 'http2', 'dns', 'child_process', 'tls', 'dgram']);

/** What a file imports: the module specifiers, in order. */
function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((file) => file.fileName);
}

/** Why a domain file may not import the package `specifier`, or undefined if it may. */
function forbiddenPackage(specifier: string): string | undefined {
  if (specifier.startsWith('.')) return undefined;
  const builtin = specifier.replace(/^node:/, '').split('/')[0] ?? '';
  if (IO_MODULES.has(builtin)) return 'I/O';
  const found = NOT_IN_DOMAIN.find(([name]) => specifier === name || specifier.startsWith(`${name}/`));
  return found?.[1];
}

/** The repository path a relative specifier names (a `.ts` file or folder index when one is known). */
function resolve(from: string, specifier: string, known: ReadonlyMap<string, string>): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  return [`${base}.ts`, `${base}/index.ts`, base].find((path) => known.has(path)) ?? base;
}

const isDomain = (path: string) => /^lambdas\/[^/]+\/(.+\/)?domain\//.test(path);
const isAdapterOrHandler = (path: string) => /^lambdas\/(.+\/)?(adapters|handlers)\//.test(path);
const isSettingsNames = (path: string) =>
  path.startsWith('lambdas/platform/config/') || /^lambdas\/[^/]+\/function-variables\.ts$/.test(path);

/** The checks every file of `files` must pass: the violations, in file order. */
function layeringViolations(files: readonly SourceFile[]): Violation[] {
  const byPath = new Map(files.map((file) => [file.path, file.text]));
  const impurity = new Map<string, string | undefined>();

  /**
   * Why the lambdas module at `path` is not pure (the chain of imports down to the offending one), or undefined
   * if it is. Domain files are checked on their own, so the chain does not go through them.
   */
  function whyImpure(path: string, visiting: Set<string> = new Set()): string | undefined {
    if (impurity.has(path)) return impurity.get(path);
    const text = byPath.get(path);
    if (text === undefined || visiting.has(path)) return undefined;
    visiting.add(path);
    let why: string | undefined;
    for (const specifier of importsOf(text)) {
      const forbidden = forbiddenPackage(specifier);
      const target = resolve(path, specifier, byPath);
      if (forbidden) why = `${path} imports '${specifier}' (${forbidden})`;
      else if (target && isAdapterOrHandler(target)) why = `${path} imports ${target}`;
      else if (target?.startsWith('lambdas/') && !isDomain(target)) {
        const below = whyImpure(target, visiting);
        if (below) why = `${path} → ${below}`;
      }
      if (why) break;
    }
    visiting.delete(path);
    // A module found pure while an import cycle was cut short may not be: only a whole answer is kept.
    if (why !== undefined || visiting.size === 0) impurity.set(path, why);
    return why;
  }

  const violations: Violation[] = [];
  for (const { path: file, text } of files) {
    const inLambdas = file.startsWith('lambdas/');
    for (const specifier of importsOf(text)) {
      const target = resolve(file, specifier, byPath);
      const report = (rule: Rule, why: string) => violations.push({ rule, file, specifier, why });
      if (isDomain(file)) {
        const forbidden = forbiddenPackage(specifier);
        if (forbidden) report('domain-is-pure', `${forbidden} in the domain`);
        else if (target && isAdapterOrHandler(target)) report('domain-is-pure', 'an adapter or handler');
        else if (target?.startsWith('lambdas/') && !isDomain(target)) {
          const why = whyImpure(target);
          if (why) report('domain-is-pure', `not pure: ${why}`);
        }
      }
      if (inLambdas && target !== undefined && !target.startsWith('lambdas/')) {
        report('lambdas-stay-inside', `reaches outside lambdas/, into ${target}`);
      }
      if (file.startsWith('lib/') && target?.startsWith('lambdas/')) {
        if (!isSettingsNames(target)) report('lib-imports-names-only', 'lib/ imports only settings names');
        else {
          const why = whyImpure(target);
          if (why) report('lib-imports-names-only', `not pure: ${why}`);
        }
      }
    }
    if (file.startsWith('lib/')) {
      for (const path of stringLiterals(file, text).filter((s) => /^lambdas\/.+\.ts$/.test(s))) {
        if (!byPath.has(path)) {
          violations.push({ rule: 'lib-handler-paths-exist', file, specifier: path, why: 'no such file' });
        }
      }
    }
  }
  return violations;
}

function stringLiterals(path: string, text: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) found.push(node.text);
    node.forEachChild(visit);
  };
  visit(ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true));
  return found;
}

const described = (violations: readonly Violation[], rule: Rule) =>
  violations.filter((v) => v.rule === rule).map((v) => `${v.file}: '${v.specifier}' — ${v.why}`);

describe('layering', () => {
  const files = sourceFiles('bin', 'lib', 'lambdas', 'local', 'cli', 'bench', 'scripts', 'test');
  const violations = layeringViolations(files);

  it('reads the domain files, the handlers and lib/ (the checks are not vacuous)', () => {
    expect(files.filter((file) => isDomain(file.path)).length).toBeGreaterThan(20);
    expect(files.filter((file) => isAdapterOrHandler(file.path)).length).toBeGreaterThan(10);
    expect(files.filter((file) => file.path.startsWith('lib/')).length).toBeGreaterThan(5);
  });

  it('domain files are pure: no AWS, no I/O, no adapters or handlers, only pure lambdas modules', () => {
    expect(described(violations, 'domain-is-pure')).toEqual([]);
  });

  it('nothing in lambdas/ imports from outside it (lib/, local/, cli/, test/, bench/ …)', () => {
    expect(described(violations, 'lambdas-stay-inside')).toEqual([]);
  });

  it('lib/ imports from lambdas/ only the pure settings names and schemas', () => {
    expect(described(violations, 'lib-imports-names-only')).toEqual([]);
  });

  it('lib/ names handler files that exist', () => {
    expect(described(violations, 'lib-handler-paths-exist')).toEqual([]);
  });

  it('reports every kind of offending import (the check itself works)', () => {
    const synthetic: SourceFile[] = [
      {
        path: 'lambdas/shop/domain/orders.ts',
        text: [
          "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
          "import type { SQSEvent } from 'aws-lambda';",
          "import { readFileSync } from 'node:fs';",
          "import { lookup } from 'dns/promises';",
          "import Stripe from 'stripe';",
          "import { randomUUID } from 'node:crypto';",
          "import { z } from 'zod';",
          "import { Repo } from '../adapters/repo';",
          "import { impure } from '../../platform/impure';",
          "import { pure } from '../../platform/pure';",
          "import { Item } from './item';",
          "import { Other } from '../../other/domain/other';",
          "const lazy = () => import('../handlers/handler');",
          "export * from '../../platform/cycle-a';",
          "export * from '../../platform/cycle-b';",
        ].join('\n'),
      },
      { path: 'lambdas/shop/domain/item.ts', text: "export { pure } from '../../platform/pure';" },
      { path: 'lambdas/other/domain/other.ts', text: 'export type Other = string;' },
      { path: 'lambdas/platform/pure.ts', text: "import ms from './duration';\nexport const pure = ms;" },
      { path: 'lambdas/platform/duration.ts', text: 'export default 1;' },
      { path: 'lambdas/platform/impure.ts', text: "export { sqs as impure } from './clients';" },
      { path: 'lambdas/platform/clients.ts', text: "import { SQSClient } from '@aws-sdk/client-sqs';" },
      { path: 'lambdas/platform/cycle-a.ts', text: "import './cycle-b';\nimport '@aws-sdk/client-s3';" },
      { path: 'lambdas/platform/cycle-b.ts', text: "import './cycle-a';" },
      {
        path: 'lambdas/shop/adapters/repo.ts',
        text: "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
      },
      {
        path: 'lambdas/shop/handlers/handler.ts',
        text: "import { stack } from '../../../lib/app';\nimport { Repo } from '../adapters/repo';",
      },
      { path: 'lambdas/platform/config/variables.ts', text: "import * as z from 'zod';" },
      { path: 'lambdas/shop/function-variables.ts', text: "import '../platform/config/variables';" },
      {
        path: 'lambdas/platform/config/parameters.ts',
        text: "import { SSMClient } from '@aws-sdk/client-ssm';",
      },
      {
        path: 'lib/app.ts',
        text: [
          "import { VARIABLES } from '../lambdas/platform/config/variables';",
          "import type { ShopVariables } from '../lambdas/shop/function-variables';",
          "import { handler } from '../lambdas/shop/handlers/handler';",
          "import { SSM } from '../lambdas/platform/config/parameters';",
          "const entry = 'lambdas/shop/handlers/handler.ts';",
          "const gone = 'lambdas/shop/handlers/gone.ts';",
        ].join('\n'),
      },
    ];
    const found = layeringViolations(synthetic);

    expect(described(found, 'domain-is-pure')).toEqual([
      "lambdas/shop/domain/orders.ts: '@aws-sdk/client-dynamodb' — the AWS SDK in the domain",
      "lambdas/shop/domain/orders.ts: 'aws-lambda' — the Lambda event types in the domain",
      "lambdas/shop/domain/orders.ts: 'node:fs' — I/O in the domain",
      "lambdas/shop/domain/orders.ts: 'dns/promises' — I/O in the domain",
      "lambdas/shop/domain/orders.ts: 'stripe' — a vendor client in the domain",
      "lambdas/shop/domain/orders.ts: '../adapters/repo' — an adapter or handler",
      "lambdas/shop/domain/orders.ts: '../../platform/impure' — not pure: lambdas/platform/impure.ts → " +
        "lambdas/platform/clients.ts imports '@aws-sdk/client-sqs' (the AWS SDK)",
      "lambdas/shop/domain/orders.ts: '../handlers/handler' — an adapter or handler",
      "lambdas/shop/domain/orders.ts: '../../platform/cycle-a' — not pure: " +
        "lambdas/platform/cycle-a.ts imports '@aws-sdk/client-s3' (the AWS SDK)",
      "lambdas/shop/domain/orders.ts: '../../platform/cycle-b' — not pure: lambdas/platform/cycle-b.ts → " +
        "lambdas/platform/cycle-a.ts imports '@aws-sdk/client-s3' (the AWS SDK)",
    ]);
    expect(described(found, 'lambdas-stay-inside')).toEqual([
      "lambdas/shop/handlers/handler.ts: '../../../lib/app' — reaches outside lambdas/, into lib/app.ts",
    ]);
    expect(described(found, 'lib-imports-names-only')).toEqual([
      "lib/app.ts: '../lambdas/shop/handlers/handler' — lib/ imports only settings names",
      "lib/app.ts: '../lambdas/platform/config/parameters' — not pure: " +
        "lambdas/platform/config/parameters.ts imports '@aws-sdk/client-ssm' (the AWS SDK)",
    ]);
    expect(described(found, 'lib-handler-paths-exist')).toEqual([
      "lib/app.ts: 'lambdas/shop/handlers/gone.ts' — no such file",
    ]);
  });
});
