import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import { toleratePollFailure } from './api-client';
import type { Answer, SubscriptionRun } from './subscription-runs';

/**
 * Shows a subscription run's progress, once or until it completes: a redrawn bar on a terminal, plain lines
 * (only when something changed) in a pipe or a log, or the API's JSON answers with `--json`.
 */

/** Where the progress goes: stdout, or a stand-in in tests. */
export interface Output {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface FollowOptions {
  /** Poll until the run is completed. */
  readonly watch: boolean;
  readonly intervalMs: number;
  /** Print each answer as one JSON line instead. */
  readonly json: boolean;
  readonly out: Output;
  /** Where a poll that failed and will be retried is reported. */
  readonly warn: (message: string) => void;
  /** Ends the watch (Ctrl-C) with an AbortError, after the display is closed. */
  readonly signal?: AbortSignal;
}

/** Reads the run, shows it, and while watching polls it until `completed`; answers the last run read. */
export async function followRun(
  read: () => Promise<Answer<SubscriptionRun>>,
  options: FollowOptions,
): Promise<SubscriptionRun> {
  // The first read fails fast: a wrong URL, key or run id is not worth waiting for.
  let answer = await read();
  const display = options.json
    ? new JsonDisplay(options.out)
    : options.out.isTTY
      ? new BarDisplay(options.out)
      : new LineDisplay(options.out);
  try {
    display.show(answer);
    let failures = 0;
    while (options.watch && answer.value.status !== 'completed') {
      await sleep(options.intervalMs, undefined, { signal: options.signal });
      try {
        answer = await read();
        failures = 0;
      } catch (error) {
        options.signal?.throwIfAborted();
        failures += 1;
        toleratePollFailure(error, failures, options);
        continue;
      }
      options.signal?.throwIfAborted();
      display.show(answer);
    }
  } finally {
    // Also on an error or Ctrl-C: a terminal is not left on a half-drawn bar.
    display.end(answer.value);
  }
  return answer.value;
}

/** One line of a run's progress, for logs and pipes. */
export function formatRunLine(run: SubscriptionRun): string {
  const done = run.succeeded + run.failed;
  const parts = [
    run.runId,
    run.status,
    `${done}/${run.total} done (${percent(done, run.total)})`,
    `${run.succeeded} succeeded, ${run.failed} failed, ${run.pending} pending`,
  ];
  if (run.status === 'completed') {
    if (run.completedAt) parts.push(`completed at ${run.completedAt}`);
  } else {
    parts.push(`${formatRate(run.ratePerMinute)}/min`, `ETA ${formatEta(run.etaSeconds)}`);
  }
  return parts.join('  ');
}

function percent(done: number, total: number): string {
  return total === 0 ? '100%' : `${Math.floor((100 * done) / total)}%`;
}

function formatRate(ratePerMinute: number | null | undefined): string {
  if (ratePerMinute === null || ratePerMinute === undefined) return '?';
  return ratePerMinute < 10 ? ratePerMinute.toFixed(1) : String(Math.round(ratePerMinute));
}

/** `45s`, `3m 05s`, `2h 10m`; `?` while the API cannot tell yet. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

interface RunDisplay {
  show(answer: Answer<SubscriptionRun>): void;
  end(run: SubscriptionRun): void;
}

class JsonDisplay implements RunDisplay {
  private last = '';
  constructor(private readonly out: Output) {}

  show(answer: Answer<SubscriptionRun>): void {
    const line = JSON.stringify(answer.raw);
    if (line !== this.last) this.out.write(`${line}\n`);
    this.last = line;
  }

  end(): void {}
}

class LineDisplay implements RunDisplay {
  private last = '';
  constructor(private readonly out: Output) {}

  /** A line when the counts or the status moved: a log of a long run is not one line every 2 s. */
  show({ value: run }: Answer<SubscriptionRun>): void {
    const progress = [run.status, run.total, run.succeeded, run.failed, run.pending].join(' ');
    if (progress !== this.last) this.out.write(`${formatRunLine(run)}\n`);
    this.last = progress;
  }

  end(): void {}
}

class BarDisplay implements RunDisplay {
  private readonly bar: SingleBar;
  private started = false;

  constructor(private readonly out: Output) {
    this.bar = new SingleBar({
      stream: out as NodeJS.WritableStream,
      format:
        '{runId} {status} [{bar}] {value}/{total} | {succeeded} succeeded, {failed} failed, {pending} pending | {rate}/min | ETA {etaText}',
      barCompleteChar: '=',
      barIncompleteChar: '-',
      barsize: 30,
    });
  }

  show({ value: run }: Answer<SubscriptionRun>): void {
    const done = run.succeeded + run.failed;
    const payload = {
      runId: run.runId,
      status: run.status,
      succeeded: run.succeeded,
      failed: run.failed,
      pending: run.pending,
      rate: formatRate(run.ratePerMinute),
      etaText: run.status === 'completed' ? '0s' : formatEta(run.etaSeconds),
    };
    if (!this.started) {
      this.started = true;
      this.bar.start(run.total, done, payload);
      return;
    }
    // The total grows while the run still enumerates due subscriptions.
    if (run.total !== this.bar.getTotal()) this.bar.setTotal(run.total);
    this.bar.update(done, payload);
    // Each poll is news: drawn now, even when cli-progress's throttle would skip it (polls under 200 ms apart).
    this.bar.render();
  }

  end(run: SubscriptionRun): void {
    if (!this.started) return;
    this.bar.stop();
    this.started = false;
    if (run.status === 'completed') {
      this.out.write(
        `Run ${run.runId} completed${run.completedAt ? ` at ${run.completedAt}` : ''}: ` +
          `${run.succeeded} succeeded, ${run.failed} failed.\n`,
      );
    }
  }
}
