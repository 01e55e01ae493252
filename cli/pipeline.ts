import { randomUUID } from 'node:crypto';
import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { ApiError, callApi } from './api-client';
import { approximateDepth, redrive, resolveRedriveTarget } from './redrive';
import { resolveTarget, TargetError, type TargetOptions } from './target';

/** `npx pipeline`: the operator CLI, for the local stack and (with AWS credentials) a deployed one. */
export function buildProgram(): Command {
  const program = new Command('pipeline')
    .description('Operate a commerce-pipeline: the local stack (npm start) or a deployed stack.')
    .addOption(new Option('--api-url <url>', 'base URL of the HTTP API').env('PIPELINE_API_URL'))
    .addOption(new Option('--admin-key <key>', 'admin API key').env('ADMIN_API_KEY'))
    .addOption(
      new Option('--stack <name>', 'a deployed stack: URL and admin key from its outputs and secret'),
    )
    .showHelpAfterError();

  const target = () => resolveTarget(program.opts<TargetOptions>());

  program
    .command('health')
    .description('check that the HTTP API answers')
    .action(async () => {
      const resolved = await target();
      const body = await callApi(resolved, 'GET', '/health', { auth: 'none' });
      console.log(`${resolved.apiUrl}: ${JSON.stringify(body)}`);
    });

  const stores = program.command('stores').description('manage stores');
  stores
    .command('create <id>')
    .description('create a store and print its API key (shown once)')
    .option('--name <name>', 'display name (default: the id)')
    .option('--idempotency-key <key>', 'make a retry of this command safe (default: a new UUID)')
    .action(async (id: string, options: { name?: string; idempotencyKey?: string }) => {
      const body = await callApi(await target(), 'POST', '/v1/admin/stores', {
        body: { id, name: options.name ?? id },
        idempotencyKey: options.idempotencyKey ?? randomUUID(),
      });
      console.log(JSON.stringify(body, null, 2));
    });

  program
    .command('redrive <queue>')
    .description(
      'move every message of a dead-letter queue back to its source queue: `deliveries`, `replays`, a logical name or a queue URL',
    )
    .option('--to <url>', 'the source queue, for a dead-letter queue URL that is no pipeline queue')
    .action(async (queue: string, options: { to?: string }) => {
      const { sqs, pair } = await resolveRedriveTarget(queue, {
        stack: program.opts<TargetOptions>().stack,
        ...options,
      });
      try {
        const total = await approximateDepth(sqs, pair.deadLetterUrl);
        // A bar on a terminal; in a pipe or a log, only the final count line.
        const bar = process.stderr.isTTY
          ? new SingleBar({ format: 'redrive [{bar}] {value}/{total}' })
          : undefined;
        bar?.start(total, 0);
        const result = await redrive(sqs, pair, {
          onProgress: (moved) => {
            if (moved > (bar?.getTotal() ?? 0)) bar?.setTotal(moved);
            bar?.update(moved);
          },
        });
        bar?.stop();
        console.log(`Moved ${result.moved} message(s) from ${pair.deadLetterUrl} to ${pair.sourceUrl}.`);
        if (result.failed > 0) {
          throw new Error(
            `${result.failed} message(s) could not be sent and stay on the dead-letter queue; run redrive again.`,
          );
        }
      } finally {
        sqs.destroy();
      }
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv as string[]);
    return 0;
  } catch (error) {
    if (error instanceof ApiError || error instanceof TargetError) {
      console.error(error.message);
      return 1;
    }
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (cause) {
      console.error(
        `The pipeline API could not be reached (${cause.code ?? cause.message}): is \`npm start\` running, or is --api-url right?`,
      );
      return 1;
    }
    console.error((error as Error).message ?? error);
    return 1;
  }
}
