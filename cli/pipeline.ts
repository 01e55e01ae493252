import { randomUUID } from 'node:crypto';
import { SingleBar } from 'cli-progress';
import { Argument, Command, CommanderError, Option } from 'commander';
import { ApiError, callApi } from './api-client';
import {
  formatReconciliation,
  getReconciliation,
  hasMismatch,
  ReconciliationRefusedError,
  startReconciliation,
  waitForReconciliation,
} from './reconciliations';
import { approximateDepth, redrive, resolveRedriveTarget } from './redrive';
import { followRun } from './run-progress';
import { formatStatus, type PipelineStatus, readStatus, resolveStatusSources, statusJson } from './status';
import {
  getRun,
  parseAsOf,
  parseIntervalSeconds,
  parseRunId,
  RunNotFoundError,
  startRun,
} from './subscription-runs';
import { resolveTarget, type Target, TargetError, type TargetOptions } from './target';

/** `npx pipeline`: the operator CLI, for the local stack and (with AWS credentials) a deployed one. */
export function buildProgram(): Command {
  const program = new Command('pipeline')
    .description('Operate a commerce-pipeline: the local stack (npm start) or a deployed stack.')
    .addOption(new Option('--api-url <url>', 'base URL of the HTTP API').env('PIPELINE_API_URL'))
    .addOption(new Option('--admin-key <key>', 'admin API key').env('ADMIN_API_KEY'))
    .addOption(
      new Option('--stack <name>', 'a deployed stack: URL and admin key from its outputs and secret'),
    )
    .addOption(
      new Option(
        '--stack-file <path>',
        'the local stack file that `npm start` writes (default: .local/stack.json)',
      ).env('PIPELINE_STACK_FILE'),
    )
    .showHelpAfterError()
    // Usage errors (bad arguments, unknown commands) become a CommanderError, exit code 2, in `main`.
    .exitOverride();

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
      'move every message of a dead-letter queue back to its source queue: `deliveries`, `replays`, `charges`, `runs`, `notifications`, a logical name or a queue URL',
    )
    .option('--to <url>', 'the source queue, for a dead-letter queue URL that is no pipeline queue')
    .action(async (queue: string, options: { to?: string }) => {
      const { stack, stackFile } = program.opts<TargetOptions>();
      const { sqs, pair } = await resolveRedriveTarget(queue, { stack, stackFile, ...options });
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

  const watchOptions = (command: Command) =>
    command
      .option('--watch', 'follow the run until it is completed (default: show it once)')
      .addOption(
        new Option('--interval <seconds>', 'seconds between two polls while watching')
          .argParser(parseIntervalSeconds)
          .default(2),
      )
      .option('--json', "print the API's answers as JSON lines instead of a progress bar");

  watchOptions(
    program
      .command('run')
      .description(
        "start the subscription run of --as-of's UTC date (default: now); a run that exists is answered, not repeated",
      )
      .addOption(
        new Option(
          '--as-of <iso-time>',
          'charge what is due at this time, e.g. 2026-01-15T06:00:00Z',
        ).argParser(parseAsOf),
      )
      .option('--idempotency-key <key>', 'make a retry of this command safe (default: a new UUID)'),
  ).action(async (options: RunCommandOptions & { asOf?: string; idempotencyKey?: string }) => {
    const resolved = await target();
    const { value, raw } = await startRun(resolved, options);
    console.log(options.json ? JSON.stringify(raw) : describeStartedRun(value));
    if (options.watch) await watchRun(resolved, value.runId, options);
  });

  watchOptions(
    program
      .command('runs')
      .description("show a subscription run's progress: done of total, succeeded, failed, pending, rate, ETA")
      .addArgument(new Argument('<runId>', 'the UTC date of the run, YYYY-MM-DD').argParser(parseRunId)),
  ).action(async (runId: string, options: RunCommandOptions) => {
    await watchRun(await target(), runId, options);
  });

  program
    .command('reconcile')
    .description(
      'reconcile a completed run with the payment gateway: its PaymentIntents against the charges recorded; waits for the report and prints it; exit code 1 when it has duplicates or orphans',
    )
    .addArgument(new Argument('<date>', 'the UTC date of the run, YYYY-MM-DD').argParser(parseRunId))
    .addOption(
      new Option('--interval <seconds>', 'seconds between two polls while waiting')
        .argParser(parseIntervalSeconds)
        .default(2),
    )
    .addOption(
      new Option(
        '--timeout <seconds>',
        'give up waiting after this many seconds (the reconciliation goes on)',
      )
        .argParser(parseIntervalSeconds)
        .default(600),
    )
    .option('--no-wait', 'start it and exit without waiting for the report')
    .option('--json', "print the API's answer (the report) as JSON")
    .option('--idempotency-key <key>', 'make a retry of this command safe (default: a new UUID)')
    .action(
      async (
        date: string,
        options: {
          interval: number;
          timeout: number;
          wait: boolean;
          json?: boolean;
          idempotencyKey?: string;
        },
      ) => {
        const resolved = await target();
        const started = await startReconciliation(resolved, date, options);
        if (!options.wait) {
          console.log(
            options.json
              ? JSON.stringify(started.raw)
              : `Reconciliation of run ${started.value.date}: ${started.value.status}`,
          );
          return;
        }
        const interrupt = new AbortController();
        const onInterrupt = () => interrupt.abort();
        process.once('SIGINT', onInterrupt);
        try {
          const { value, raw } = await waitForReconciliation(() => getReconciliation(resolved, date), {
            intervalMs: options.interval * 1000,
            timeoutMs: options.timeout * 1000,
            warn: (message) => console.error(message),
            signal: interrupt.signal,
          });
          process.stdout.write(
            options.json ? `${JSON.stringify(raw, null, 2)}\n` : formatReconciliation(value),
          );
          if (hasMismatch(value)) throw new ExitCode(1);
        } catch (error) {
          if ((error as Error).name !== 'AbortError') throw error;
          console.error('Stopped waiting; the reconciliation goes on.');
          throw new ExitCode(130);
        } finally {
          process.removeListener('SIGINT', onInterrupt);
        }
      },
    );

  program
    .command('status')
    .description(
      "one screen: every queue's depth and oldest message, the dead-letter queues, the current subscription run " +
        'and the failing webhook endpoints; exit code 1 when a dead-letter queue has messages, the run is past ' +
        'its deadline or a part could not be read',
    )
    .option('--json', 'print the status as one JSON document')
    .action(async (options: { json?: boolean }) => {
      const sources = await resolveStatusSources(program.opts<TargetOptions>());
      let status: PipelineStatus;
      try {
        status = await readStatus(sources);
      } finally {
        sources.destroy();
      }
      const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
      process.stdout.write(
        options.json ? `${JSON.stringify(statusJson(status), null, 2)}\n` : formatStatus(status, { color }),
      );
      if (status.attention.length > 0) throw new ExitCode(1);
    });

  return program;
}

/** Ends a command with this exit code, having printed what there was to print. */
class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit code ${code}`);
    this.name = 'ExitCode';
  }
}

/** What the API's `outcome` (beyond the contract; shown when present) means to an operator. */
const OUTCOMES: Readonly<Record<string, string>> = {
  started: 'started now',
  joined: 'already running; no second pass',
  resumed: 'resumed',
  completed: 'already completed; no second pass',
};

function describeStartedRun(run: { runId: string; status: string; outcome?: string }): string {
  const outcome = run.outcome ? ` (${OUTCOMES[run.outcome] ?? run.outcome})` : '';
  return `Run ${run.runId}: ${run.status}${outcome}`;
}

interface RunCommandOptions {
  readonly watch?: boolean;
  readonly interval: number;
  readonly json?: boolean;
}

/** Shows the run once, or with --watch until it is completed; Ctrl-C ends the watch, not the run. */
async function watchRun(target: Target, runId: string, options: RunCommandOptions): Promise<void> {
  const interrupt = new AbortController();
  const onInterrupt = () => interrupt.abort();
  if (options.watch) process.once('SIGINT', onInterrupt);
  try {
    await followRun(() => getRun(target, runId), {
      watch: options.watch ?? false,
      intervalMs: options.interval * 1000,
      json: options.json ?? false,
      out: process.stdout,
      warn: (message) => console.error(message),
      signal: interrupt.signal,
    });
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv as string[]);
    return 0;
  } catch (error) {
    // Commander has printed the usage error (or the help) already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ExitCode) return error.code;
    if ((error as Error).name === 'AbortError') {
      console.error('Stopped watching; the run goes on.');
      return 130;
    }
    if (error instanceof ApiError && error.status === 401) {
      console.error(`${error.message}\nThe admin key was refused: check --admin-key or ADMIN_API_KEY.`);
      return 1;
    }
    if (
      error instanceof ApiError ||
      error instanceof TargetError ||
      error instanceof RunNotFoundError ||
      error instanceof ReconciliationRefusedError
    ) {
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
