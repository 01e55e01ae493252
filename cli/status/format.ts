import { formatRunLine } from '../run-progress';
import type { PipelineStatus } from './read-status';
import type { Section } from './section';
import type { QueueState } from './sources/sqs';

/** In text, at most this many failing endpoints are listed (`--json` has them all). */
export const MAX_ENDPOINT_ROWS = 20;

/** `0s`, `45s`, `3m 05s`, `2h 10m`, `3d 04h`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d ${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** How the text is drawn: ANSI colours only on a terminal without NO_COLOR. */
export interface TextStyle {
  readonly color: boolean;
}

/** The status as one screen of plain text with aligned columns. */
export function formatStatus(status: PipelineStatus, style: TextStyle = { color: false }): string {
  const now = Date.parse(status.at);
  const red = (text: string) => (style.color ? `\x1b[1;31m${text}\x1b[0m` : text);
  const lines: string[] = [`Pipeline status: ${status.target} at ${status.at}`, ''];

  // Queues
  lines.push('Queues');
  if (status.queues.state !== 'ok') {
    lines.push(`  ${describeSection(status.queues)}`);
  } else {
    const age = (state: QueueState) =>
      state.oldestAgeSeconds !== null
        ? formatAge(state.oldestAgeSeconds)
        : state.oldestAgeUnknown
          ? 'n/a'
          : '-';
    const rows = status.queues.value.map(({ name, queue, deadLetterQueue: dlq }) => [
      name,
      String(queue.visible),
      String(queue.inFlight),
      String(queue.delayed),
      age(queue),
      dlq.total > 0 ? `! ${dlq.total}` : '0',
      age(dlq),
    ]);
    const table = alignColumns(
      [['QUEUE', 'VISIBLE', 'IN FLIGHT', 'DELAYED', 'OLDEST', 'DLQ', 'DLQ OLDEST'], ...rows],
      ['left', 'right', 'right', 'right', 'left', 'right', 'left'],
    );
    table.forEach((line, index) => {
      const row = status.queues.state === 'ok' ? status.queues.value[index - 1] : undefined;
      lines.push(`  ${row && row.deadLetterQueue.total > 0 ? red(line) : line}`.trimEnd());
    });
    lines.push(
      status.ageSource === 'cloudwatch'
        ? '  Counts: SQS approximate; oldest: CloudWatch ApproximateAgeOfOldestMessage (newest datapoint, 5 min).'
        : '  Counts: SQS approximate; oldest: oldest message in any state, by SentTimestamp (fauxqs inspection).',
    );
    const unknown = status.queues.value
      .flatMap(({ queue, deadLetterQueue }) => [queue.oldestAgeUnknown, deadLetterQueue.oldestAgeUnknown])
      .find((reason) => reason !== undefined);
    if (unknown) lines.push(`  n/a: the age is unknown: ${unknown}.`);
    for (const { name, deadLetterQueue } of status.queues.value) {
      if (deadLetterQueue.total > 0) {
        lines.push(
          red(
            `  ! ${deadLetterQueue.total} dead letter(s) on ${name}: \`${status.redriveCommand} ${name}\` moves them back.`,
          ),
        );
      }
    }
  }

  // The run
  lines.push('', 'Subscription run');
  if (status.run.state !== 'ok') {
    lines.push(`  ${describeSection(status.run)}`);
  } else if (!status.run.value.run) {
    lines.push(`  no run today (${status.run.value.looked.join(', ')}: none)`);
  } else {
    const { run, pastDeadline } = status.run.value;
    const done = run.succeeded + run.failed;
    lines.push(`  ${progressBar(done, run.total)} ${formatRunLine(run)}`);
    if (run.deadlineAt) {
      const deadline = Date.parse(run.deadlineAt);
      const when =
        run.status === 'completed'
          ? ''
          : now > deadline
            ? ` (${formatAge((now - deadline) / 1000)} ago)`
            : ` (in ${formatAge((deadline - now) / 1000)})`;
      const line = `  deadline ${run.deadlineAt}${when}${pastDeadline ? '  ! PAST DEADLINE, not completed' : ''}`;
      lines.push(pastDeadline ? red(line) : line);
    }
  }

  // Failing endpoints
  lines.push('', 'Failing endpoints');
  if (status.failingEndpoints.state !== 'ok') {
    lines.push(`  ${describeSection(status.failingEndpoints)}`);
  } else if (status.failingEndpoints.value.length === 0) {
    lines.push('  none');
  } else {
    const all = status.failingEndpoints.value;
    const rows = all
      .slice(0, MAX_ENDPOINT_ROWS)
      .map((endpoint) => [
        endpoint.storeId,
        endpoint.endpointId,
        hostOf(endpoint.url),
        endpoint.status === 'disabled' ? `disabled (${endpoint.disabledReason ?? '?'})` : 'failing',
        endpoint.failingSince
          ? `${endpoint.failingSince} (${formatAge((now - Date.parse(endpoint.failingSince)) / 1000)})`
          : '-',
      ]);
    for (const line of alignColumns(
      [['STORE', 'ENDPOINT', 'HOST', 'STATUS', 'FAILING SINCE'], ...rows],
      ['left', 'left', 'left', 'left', 'left'],
    )) {
      lines.push(`  ${line}`.trimEnd());
    }
    if (all.length > MAX_ENDPOINT_ROWS)
      lines.push(`  ... and ${all.length - MAX_ENDPOINT_ROWS} more (--json lists them all)`);
  }

  lines.push('');
  if (status.attention.length === 0) {
    lines.push('OK: no dead letters, no run past its deadline.');
  } else {
    lines.push(red('Needs attention:'));
    for (const item of status.attention) lines.push(red(`  - ${item}`));
  }
  return `${lines.join('\n')}\n`;
}

/** The status for machines: every section as read, with what needs attention. */
export function statusJson(status: PipelineStatus): unknown {
  const part = <T>(value: Section<T>, map: (v: T) => unknown) =>
    value.state === 'ok'
      ? map(value.value)
      : value.state === 'unavailable'
        ? { unavailable: value.reason }
        : { error: value.error };
  return {
    target: status.target,
    at: status.at,
    ageSource: status.ageSource,
    queues: part(status.queues, (queues) => queues),
    run: part(status.run, (run) => ({
      looked: run.looked,
      run: run.raw ?? null,
      pastDeadline: run.pastDeadline,
    })),
    failingEndpoints: part(status.failingEndpoints, (endpoints) => endpoints),
    attention: status.attention,
  };
}

function describeSection(part: Section<unknown>): string {
  if (part.state === 'unavailable') return `not available: ${part.reason}`;
  if (part.state === 'error') return `! could not be read: ${part.error}`;
  return '';
}

/** `[==========----------]`, 20 wide; a run with nothing to charge is full. */
export function progressBar(done: number, total: number, width = 20): string {
  const filled = total === 0 ? width : Math.min(width, Math.floor((width * done) / total));
  return `[${'='.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Pads every column to its widest cell, two spaces apart. */
export function alignColumns(rows: readonly string[][], align: readonly ('left' | 'right')[]): string[] {
  const widths = align.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) =>
    row
      .map((cell, column) =>
        align[column] === 'right'
          ? cell.padStart(widths[column] ?? 0)
          : cell.padEnd(column === row.length - 1 ? 0 : (widths[column] ?? 0)),
      )
      .join('  '),
  );
}
