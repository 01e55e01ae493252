import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsRedriveQueues } from '../lambdas/operations/adapters/sqs-queues';
import { QUEUE_NAMES, type QueueName, type QueuePair } from '../lambdas/operations/domain/queues';
import {
  type RedriveOptions,
  type RedriveResult,
  redrive as redriveQueues,
} from '../lambdas/operations/domain/redrive';
import { localClientConfig } from '../local/aws-clients';
import { readLocalStackFile } from './local-stack-file';
import { stackOutputs, TargetError } from './target';

/**
 * The queue pairs of the pipeline (each a DurableQueue: `<Construct>Queue` and `<Construct>DeadLetterQueue`,
 * with the stack outputs `<Construct>QueueUrl` and `<Construct>DeadLetterQueueUrl`), by the name
 * `npx pipeline redrive <queue>` takes.
 */
const QUEUES: Readonly<Record<QueueName, { readonly construct: string }>> = {
  deliveries: { construct: 'Deliveries' },
  replays: { construct: 'Replays' },
  charges: { construct: 'Charges' },
  runs: { construct: 'Runs' },
  notifications: { construct: 'Notifications' },
};

export { approximateDepth } from '../lambdas/operations/adapters/sqs-queues';
export { QUEUE_NAMES, type QueueName, type QueuePair } from '../lambdas/operations/domain/queues';
export type { RedriveOptions, RedriveResult } from '../lambdas/operations/domain/redrive';

/**
 * Moves every message of `pair.deadLetterUrl` back to `pair.sourceUrl` (lambdas/operations/domain/redrive.ts:
 * receive, send, then delete only what was sent), until the DLQ reads empty twice in a row.
 */
export async function redrive(
  sqs: SQSClient,
  pair: QueuePair,
  options: Omit<RedriveOptions, 'budgetMs' | 'now'> = {},
): Promise<Omit<RedriveResult, 'stoppedBy'>> {
  const { moved, failed } = await redriveQueues(new SqsRedriveQueues(sqs), pair, options);
  return { moved, failed };
}

/** The SQS client and the queue pair `npx pipeline redrive <queue>` works on. */
export interface RedriveTarget {
  readonly sqs: SQSClient;
  readonly pair: QueuePair;
}

/**
 * `queue` is `deliveries`, `replays`, `charges`, `runs` or `notifications`, a logical name (`DeliveriesQueue`, `DeliveriesDeadLetterQueue`, with or
 * without CDK's hash) or a queue URL of either queue of a pair. With `--stack`, the URLs come from the stack's
 * outputs (and the caller's AWS credentials); otherwise from the running `npm start` (`.local/stack.json`).
 * `to` names the source queue for a dead-letter queue URL that is no pipeline queue.
 */
export async function resolveRedriveTarget(
  queue: string,
  options: { stack?: string; stackFile?: string; to?: string },
): Promise<RedriveTarget> {
  if (options.stack) {
    const pairs = deployedQueuePairs(await stackOutputs(options.stack));
    return { sqs: new SQSClient({}), pair: pickPair(queue, pairs, options.to) };
  }
  const local = readLocalStackFile(options.stackFile);
  if (!local) {
    if (options.to && isUrl(queue)) {
      return { sqs: new SQSClient({}), pair: { sourceUrl: options.to, deadLetterUrl: queue } };
    }
    throw new TargetError(
      'No queues to redrive: start the local stack with `npm start`, or pass --stack <name> for a deployed stack.',
    );
  }
  return {
    sqs: new SQSClient(localClientConfig(local.endpoints.sqs)),
    pair: pickPair(queue, localQueuePairs(local.resources ?? {}), options.to),
  };
}

/** A resource of the local stack (`.local/stack.json`'s `resources`) by its construct id, whatever CDK's hash. */
export function localResource(
  resources: Readonly<Record<string, string>>,
  constructId: string,
): string | undefined {
  // Logical ids are the construct path plus CDK's 8-character hash: DeliveriesQueue99C7B338.
  const pattern = new RegExp(`^${constructId}[0-9A-F]{8}$`);
  return Object.entries(resources).find(([logicalId]) => pattern.test(logicalId))?.[1];
}

/** The queue pairs of the local stack, from its resources (logical id to queue URL). */
export function localQueuePairs(
  resources: Readonly<Record<string, string>>,
): Record<QueueName, QueuePair | undefined> {
  return mapQueues(({ construct }) => {
    const sourceUrl = localResource(resources, `${construct}Queue`);
    const deadLetterUrl = localResource(resources, `${construct}DeadLetterQueue`);
    return sourceUrl && deadLetterUrl ? { sourceUrl, deadLetterUrl } : undefined;
  });
}

/** The queue pairs of a deployed stack, from its outputs. */
export function deployedQueuePairs(
  outputs: Readonly<Record<string, string | undefined>>,
): Record<QueueName, QueuePair | undefined> {
  return mapQueues(({ construct }) => {
    const sourceUrl = outputs[`${construct}QueueUrl`];
    const deadLetterUrl = outputs[`${construct}DeadLetterQueueUrl`];
    return sourceUrl && deadLetterUrl ? { sourceUrl, deadLetterUrl } : undefined;
  });
}

function mapQueues(
  of: (names: (typeof QUEUES)[QueueName]) => QueuePair | undefined,
): Record<QueueName, QueuePair | undefined> {
  return Object.fromEntries(QUEUE_NAMES.map((name) => [name, of(QUEUES[name])])) as Record<
    QueueName,
    QueuePair | undefined
  >;
}

function pickPair(
  queue: string,
  pairs: Record<QueueName, QueuePair | undefined>,
  to: string | undefined,
): QueuePair {
  const known = Object.entries(pairs).flatMap(([name, pair]) => (pair ? [[name, pair] as const] : []));
  const names = known.map(([name]) => name).join(', ') || 'none';
  if (isUrl(queue)) {
    const match = known.find(([, pair]) => pair.sourceUrl === queue || pair.deadLetterUrl === queue);
    if (match) return match[1];
    if (to) return { sourceUrl: to, deadLetterUrl: queue };
    throw new TargetError(`${queue} is no queue of this pipeline (${names}): pass --to <source queue URL>.`);
  }
  // `deliveries`, `DeliveriesQueue`, `DeliveriesDeadLetterQueue`, `DeliveriesQueue99C7B338`...
  const key = queue
    .replace(/[0-9A-F]{8}$/, '')
    .replace(/(DeadLetter)?Queue$/i, '')
    .toLowerCase();
  const match = known.find(([name]) => name === key);
  if (!match) throw new TargetError(`Unknown queue "${queue}": this pipeline has ${names}.`);
  return match[1];
}

function isUrl(text: string): boolean {
  return /^https?:\/\//.test(text);
}
