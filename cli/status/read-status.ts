import { readSectionFrom, type Section } from './section';
import { type FailingEndpoint, readFailingEndpoints } from './sources/dynamodb';
import { type QueueStatus, readQueues } from './sources/sqs';
import { type RunSection, readCurrentRun } from './sources/subscription-run';
import type { StatusSources } from './status-sources';

export interface PipelineStatus {
  /** What was read: `local stack`, `stack <name>`, or the API URL of the flags. */
  readonly target: string;
  /** When it was read (ISO). */
  readonly at: string;
  /** Where the oldest ages come from: fauxqs's inspection (local) or CloudWatch (AWS). */
  readonly ageSource: 'fauxqs' | 'cloudwatch';
  readonly queues: Section<readonly QueueStatus[]>;
  readonly run: Section<RunSection>;
  readonly failingEndpoints: Section<readonly FailingEndpoint[]>;
  /** What makes the exit code 1: dead letters, a run past its deadline, a section that could not be read. */
  readonly attention: readonly string[];
  /** The redrive command to suggest, with the target's flags (`npx pipeline redrive <queue>`). */
  readonly redriveCommand: string;
}

/** Reads every section (concurrently) and decides what needs attention. */
export async function readStatus(sources: StatusSources, now = Date.now()): Promise<PipelineStatus> {
  const [queues, run, failingEndpoints] = await Promise.all([
    readSectionFrom(sources.queues, (queueSource) => readQueues(queueSource, now)),
    readSectionFrom(sources.api, (target) => readCurrentRun(target, now)),
    readSectionFrom(sources.endpoints, readFailingEndpoints),
  ]);
  const ageSource = sources.queues.state === 'ok' ? sources.queues.value.ages.source : 'fauxqs';
  const status = {
    target: sources.target,
    at: new Date(now).toISOString(),
    ageSource,
    queues,
    run,
    failingEndpoints,
    redriveCommand: sources.redriveCommand,
  } as const;
  return { ...status, attention: attentionOf(status) };
}

/** What makes `status` exit with 1. Failing endpoints do not: they are the stores' receivers, not the pipeline. */
export function attentionOf(status: Omit<PipelineStatus, 'attention'>): string[] {
  const attention: string[] = [];
  if (status.queues.state === 'ok') {
    for (const { name, deadLetterQueue } of status.queues.value) {
      if (deadLetterQueue.total > 0) {
        attention.push(`${deadLetterQueue.total} message(s) on the ${name} dead-letter queue`);
      }
    }
  }
  if (status.run.state === 'ok' && status.run.value.pastDeadline && status.run.value.run) {
    const { run } = status.run.value;
    attention.push(`run ${run.runId} is ${run.status} past its deadline ${run.deadlineAt}`);
  }
  for (const [name, part] of [
    ['queues', status.queues],
    ['subscription run', status.run],
    ['failing endpoints', status.failingEndpoints],
  ] as const) {
    if (part.state === 'error') attention.push(`the ${name} could not be read: ${part.error}`);
  }
  return attention;
}
