import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { localClientConfig } from '../local/aws-clients';
import { ApiError } from './api-client';
import { readLocalStackFile } from './local-stack-file';
import {
  deployedQueuePairs,
  localQueuePairs,
  localResource,
  QUEUE_NAMES,
  type QueueName,
  type QueuePair,
} from './redrive';
import { formatRunLine } from './run-progress';
import { getRun, RunNotFoundError, type SubscriptionRun } from './subscription-runs';
import {
  resolveTarget,
  stackOutputs,
  type Target,
  TargetError,
  type TargetOptions,
  targetOfStack,
} from './target';

/**
 * `npx pipeline status`: one screen with every queue's depth and oldest message, the dead-letter queues, the
 * current subscription run and the failing webhook endpoints, for the local stack or a deployed one.
 *
 * Each section is read on its own: one that cannot be read is reported as such, and the others are still shown.
 */

/** The stack output that names the webhooks table of a deployed stack (for the failing endpoints). */
export const WEBHOOKS_TABLE_OUTPUT = 'WebhooksTableName';
/** The window of CloudWatch's ApproximateAgeOfOldestMessage that is read in AWS. */
export const AGE_METRIC_WINDOW_MS = 5 * 60_000;
/** In text, at most this many failing endpoints are listed (`--json` has them all). */
export const MAX_ENDPOINT_ROWS = 20;

/** SQS's three approximate counts of a queue. */
export interface QueueDepth {
  /** ApproximateNumberOfMessages: ready to be received. */
  readonly visible: number;
  /** ApproximateNumberOfMessagesNotVisible: received and neither deleted nor back yet. */
  readonly inFlight: number;
  /** ApproximateNumberOfMessagesDelayed: sent with a delay that has not passed. */
  readonly delayed: number;
}

export interface QueueState extends QueueDepth {
  readonly url: string;
  /** visible + inFlight + delayed. */
  readonly total: number;
  /** Age of the oldest message, in whole seconds; null when the queue is empty or the age is unknown. */
  readonly oldestAgeSeconds: number | null;
  /** Why the age is unknown although the queue has messages. */
  readonly oldestAgeUnknown?: string;
}

export interface QueueStatus {
  readonly name: QueueName;
  readonly queue: QueueState;
  readonly deadLetterQueue: QueueState;
}

export interface FailingEndpoint {
  readonly storeId: string;
  readonly endpointId: string;
  readonly url: string;
  /** `enabled` (deliveries fail, not disabled yet) or `disabled`. */
  readonly status: string;
  /** `failing` or `gone` for a disabled endpoint. */
  readonly disabledReason?: string;
  /** When its current run of failures began. */
  readonly failingSince?: string;
  readonly updatedAt?: string;
}

/** A section that could be read, could not be read (error), or does not exist for this target (unavailable). */
export type Section<T> =
  | { readonly state: 'ok'; readonly value: T }
  | { readonly state: 'unavailable'; readonly reason: string }
  | { readonly state: 'error'; readonly error: string };

export interface RunSection {
  /** The run ids looked up, today's (UTC) first. */
  readonly looked: readonly string[];
  /** Today's run, else yesterday's; null when neither exists. */
  readonly run: SubscriptionRun | null;
  /** The API's answer as it came. */
  readonly raw?: unknown;
  /** Not completed and past its deadlineAt. */
  readonly pastDeadline: boolean;
}

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

/** Reads the oldest message's age of each queue URL; a missing entry is an unknown age. */
export interface OldestAgeReader {
  readonly source: 'fauxqs' | 'cloudwatch';
  read(queueUrls: readonly string[], now: number): Promise<OldestAges>;
}

export interface OldestAges {
  readonly seconds: ReadonlyMap<string, number>;
  /** Why ages are missing (shown beside an unknown age). */
  readonly unknownReason: string;
}

/** Where `status` reads each section from. */
export interface StatusSources {
  readonly target: string;
  readonly redriveCommand: string;
  readonly api: Section<Target>;
  readonly queues: Section<{
    readonly sqs: Pick<SQSClient, 'send'>;
    readonly pairs: Readonly<Record<QueueName, QueuePair | undefined>>;
    readonly ages: OldestAgeReader;
  }>;
  readonly endpoints: Section<{ readonly dynamodb: DynamoDBClient; readonly tableName: string }>;
  /** Closes the SDK clients. */
  destroy(): void;
}

/**
 * The sources of `status`: `--stack` reads a deployed stack's outputs (queues, table, API) and uses the caller's
 * AWS credentials; otherwise the local stack's file gives the emulators and the resources, and the API is the
 * flags' or the local stack's (as for every command).
 */
export async function resolveStatusSources(options: TargetOptions): Promise<StatusSources> {
  if (options.stack) return deployedSources(options.stack, options);
  const local = readLocalStackFile(options.stackFile);
  const api = await section(() => resolveTarget(options));
  if (!local) {
    if (api.state !== 'ok') {
      throw new TargetError(
        'No pipeline to look at: start the local stack with `npm start`, or pass --stack <name> for a deployed ' +
          'stack (or --api-url <url> and --admin-key for the run alone).',
      );
    }
    const reason = 'only the API is known (--api-url): pass --stack <name>, or run `npm start`';
    return {
      target: api.value.apiUrl,
      redriveCommand: 'npx pipeline redrive',
      api,
      queues: { state: 'unavailable', reason },
      endpoints: { state: 'unavailable', reason },
      destroy: () => undefined,
    };
  }
  const resources = local.resources ?? {};
  const sqs = new SQSClient(localClientConfig(local.endpoints.sqs));
  const dynamodb = new DynamoDBClient(localClientConfig(local.endpoints.dynamodb));
  const tableName = localResource(resources, 'WebhooksTable');
  return {
    target: `local stack (${local.apiUrl})`,
    redriveCommand: `npx pipeline${options.stackFile ? ` --stack-file ${options.stackFile}` : ''} redrive`,
    api,
    queues: {
      state: 'ok',
      value: { sqs, pairs: localQueuePairs(resources), ages: fauxqsAges(local.endpoints.sqs) },
    },
    endpoints: tableName
      ? { state: 'ok', value: { dynamodb, tableName } }
      : { state: 'unavailable', reason: 'the local stack has no webhooks table' },
    destroy: () => {
      sqs.destroy();
      dynamodb.destroy();
    },
  };
}

async function deployedSources(stackName: string, options: TargetOptions): Promise<StatusSources> {
  const outputs = await stackOutputs(stackName);
  const api = await section(() =>
    options.apiUrl ? resolveTarget(options) : targetOfStack(stackName, outputs, options.adminKey),
  );
  const sqs = new SQSClient({});
  const dynamodb = new DynamoDBClient({});
  const cloudwatch = new CloudWatchClient({});
  const tableName = outputs[WEBHOOKS_TABLE_OUTPUT];
  return {
    target: `stack ${stackName}`,
    redriveCommand: `npx pipeline --stack ${stackName} redrive`,
    api,
    queues: {
      state: 'ok',
      value: { sqs, pairs: deployedQueuePairs(outputs), ages: cloudWatchAges(cloudwatch) },
    },
    endpoints: tableName
      ? { state: 'ok', value: { dynamodb, tableName } }
      : { state: 'unavailable', reason: `stack ${stackName} has no ${WEBHOOKS_TABLE_OUTPUT} output` },
    destroy: () => {
      sqs.destroy();
      dynamodb.destroy();
      cloudwatch.destroy();
    },
  };
}

/** Reads every section (concurrently) and decides what needs attention. */
export async function readStatus(sources: StatusSources, now = Date.now()): Promise<PipelineStatus> {
  const [queues, run, failingEndpoints] = await Promise.all([
    then(sources.queues, ({ sqs, pairs, ages }) => readQueues(sqs, pairs, ages, now)),
    then(sources.api, (target) => readCurrentRun(target, now)),
    then(sources.endpoints, ({ dynamodb, tableName }) => readFailingEndpoints(dynamodb, tableName)),
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

async function readQueues(
  sqs: Pick<SQSClient, 'send'>,
  pairs: Readonly<Record<QueueName, QueuePair | undefined>>,
  ages: OldestAgeReader,
  now: number,
): Promise<QueueStatus[]> {
  const known = QUEUE_NAMES.flatMap((name) => {
    const pair = pairs[name];
    return pair ? [{ name, pair }] : [];
  });
  if (known.length === 0) throw new Error('no queue of the pipeline was found');
  const urls = known.flatMap(({ pair }) => [pair.sourceUrl, pair.deadLetterUrl]);
  const [depths, oldest] = await Promise.all([
    Promise.all(urls.map((url) => readDepth(sqs, url))),
    ages
      .read(urls, now)
      .catch((error: Error): OldestAges => ({ seconds: new Map(), unknownReason: describeError(error) })),
  ]);
  const stateOf = (url: string): QueueState => {
    const depth = depths[urls.indexOf(url)] as QueueDepth;
    const total = depth.visible + depth.inFlight + depth.delayed;
    const age = oldest.seconds.get(url);
    // An empty queue has no oldest message, whatever a metric sampled a minute ago says.
    if (total === 0) return { url, ...depth, total, oldestAgeSeconds: null };
    if (age === undefined)
      return { url, ...depth, total, oldestAgeSeconds: null, oldestAgeUnknown: oldest.unknownReason };
    return { url, ...depth, total, oldestAgeSeconds: age };
  };
  return known.map(({ name, pair }) => ({
    name,
    queue: stateOf(pair.sourceUrl),
    deadLetterQueue: stateOf(pair.deadLetterUrl),
  }));
}

async function readDepth(sqs: Pick<SQSClient, 'send'>, queueUrl: string): Promise<QueueDepth> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/** The last segment of a queue URL: the queue's name. */
export function queueNameOf(queueUrl: string): string {
  return decodeURIComponent(new URL(queueUrl).pathname.split('/').filter(Boolean).pop() ?? '');
}

/**
 * Locally: fauxqs's inspection endpoint (`GET /_fauxqs/queues/<name>`), which lists every message (ready,
 * delayed, in flight) without receiving it. A ReceiveMessage "peek" with VisibilityTimeout 0 is not used: every
 * receive counts towards maxReceiveCount (fauxqs counts them as SQS does), so peeking would push messages to
 * their dead-letter queue. The age is that of the oldest message in any of the three states, by SentTimestamp.
 */
export function fauxqsAges(sqsEndpoint: string): OldestAgeReader {
  return {
    source: 'fauxqs',
    read: async (queueUrls, now) => {
      const seconds = new Map<string, number>();
      let unknownReason = 'not found in the fauxqs inspection';
      await Promise.all(
        queueUrls.map(async (url) => {
          const response = await fetch(
            new URL(`/_fauxqs/queues/${encodeURIComponent(queueNameOf(url))}`, sqsEndpoint),
            { signal: AbortSignal.timeout(10_000) },
          );
          if (!response.ok) {
            unknownReason = `no fauxqs inspection (HTTP ${response.status})`;
            await response.body?.cancel();
            return;
          }
          const sent = sentTimestamps((await response.json()) as FauxqsQueue);
          if (sent.length > 0) seconds.set(url, ageSeconds(now, Math.min(...sent)));
        }),
      );
      return { seconds, unknownReason };
    },
  };
}

interface FauxqsMessage {
  readonly sentTimestamp?: number;
}

interface FauxqsQueue {
  readonly messages?: {
    readonly ready?: readonly FauxqsMessage[];
    readonly delayed?: readonly FauxqsMessage[];
    readonly inflight?: readonly { readonly message?: FauxqsMessage }[];
  };
}

function sentTimestamps(queue: FauxqsQueue): number[] {
  const { ready = [], delayed = [], inflight = [] } = queue.messages ?? {};
  return [...ready, ...delayed, ...inflight.map((entry) => entry.message ?? {})]
    .map((message) => Number(message.sentTimestamp))
    .filter((sent) => Number.isFinite(sent));
}

/**
 * In AWS: SQS has no attribute for the oldest message's age, so it is CloudWatch's ApproximateAgeOfOldestMessage
 * (AWS/SQS, by QueueName), the Maximum of its newest one-minute datapoint in the last 5 minutes. SQS publishes it
 * every minute, so it may be a minute or more behind; a queue with no datapoint in the window shows n/a.
 */
export function cloudWatchAges(cloudwatch: Pick<CloudWatchClient, 'send'>): OldestAgeReader {
  return {
    source: 'cloudwatch',
    read: async (queueUrls, now) => {
      const queries: MetricDataQuery[] = queueUrls.map((url, index) => ({
        Id: `q${index}`,
        ReturnData: true,
        MetricStat: {
          Metric: {
            Namespace: 'AWS/SQS',
            MetricName: 'ApproximateAgeOfOldestMessage',
            Dimensions: [{ Name: 'QueueName', Value: queueNameOf(url) }],
          },
          Period: 60,
          Stat: 'Maximum',
        },
      }));
      const seconds = new Map<string, number>();
      let nextToken: string | undefined;
      do {
        const answer = await cloudwatch.send(
          new GetMetricDataCommand({
            MetricDataQueries: queries,
            StartTime: new Date(now - AGE_METRIC_WINDOW_MS),
            EndTime: new Date(now),
            ScanBy: 'TimestampDescending',
            NextToken: nextToken,
          }),
        );
        for (const result of answer.MetricDataResults ?? []) {
          const url = queueUrls[Number(result.Id?.slice(1))];
          const newest = result.Values?.[0];
          if (url !== undefined && newest !== undefined && !seconds.has(url))
            seconds.set(url, Math.round(newest));
        }
        nextToken = answer.NextToken;
      } while (nextToken);
      return { seconds, unknownReason: 'no CloudWatch datapoint in the last 5 minutes' };
    },
  };
}

/**
 * Today's run (the UTC date), or yesterday's when today's does not exist (yet): a run that started before
 * midnight may still be running. Neither: no run.
 */
async function readCurrentRun(target: Target, now: number): Promise<RunSection> {
  const today = new Date(now).toISOString().slice(0, 10);
  const yesterday = new Date(now - 86_400_000).toISOString().slice(0, 10);
  const looked: string[] = [];
  for (const runId of [today, yesterday]) {
    looked.push(runId);
    try {
      const { value, raw } = await getRun(target, runId);
      return { looked, run: value, raw, pastDeadline: isPastDeadline(value, now) };
    } catch (error) {
      if (!(error instanceof RunNotFoundError)) throw error;
    }
  }
  return { looked, run: null, pastDeadline: false };
}

/** Not completed, and its deadline has passed. */
export function isPastDeadline(run: SubscriptionRun, now: number): boolean {
  if (run.status === 'completed' || run.deadlineAt === undefined) return false;
  const deadline = Date.parse(run.deadlineAt);
  return Number.isFinite(deadline) && now > deadline;
}

/**
 * There is no admin route that lists every store's endpoints, so the webhooks table is scanned (paginated, only
 * the attributes shown; the filter is applied after the read, so a scan reads the whole table): endpoints that
 * were disabled because they kept failing (`failing`) or answered 410 (`gone`), and enabled endpoints whose
 * deliveries currently fail (`failingSince` set). Endpoints disabled by hand (`manual`) are not listed.
 */
async function readFailingEndpoints(dynamodb: DynamoDBClient, tableName: string): Promise<FailingEndpoint[]> {
  const documents = DynamoDBDocumentClient.from(dynamodb);
  const endpoints: FailingEndpoint[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const { Items = [], LastEvaluatedKey } = await documents.send(
      new ScanCommand({
        TableName: tableName,
        ProjectionExpression: '#store, #endpoint, #url, #status, #reason, #since, #updated',
        FilterExpression:
          '(#status = :disabled AND #reason IN (:failing, :gone)) OR (#status = :enabled AND attribute_exists(#since))',
        ExpressionAttributeNames: {
          '#store': 'storeId',
          '#endpoint': 'endpointId',
          '#url': 'url',
          '#status': 'status',
          '#reason': 'disabledReason',
          '#since': 'failingSince',
          '#updated': 'updatedAt',
        },
        ExpressionAttributeValues: {
          ':disabled': 'disabled',
          ':enabled': 'enabled',
          ':failing': 'failing',
          ':gone': 'gone',
        },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of Items) {
      endpoints.push({
        storeId: String(item.storeId),
        endpointId: String(item.endpointId),
        url: String(item.url ?? ''),
        status: String(item.status),
        ...(item.disabledReason ? { disabledReason: String(item.disabledReason) } : {}),
        ...(item.failingSince ? { failingSince: String(item.failingSince) } : {}),
        ...(item.updatedAt ? { updatedAt: String(item.updatedAt) } : {}),
      });
    }
    startKey = LastEvaluatedKey;
  } while (startKey);
  // Longest failing first; then by store and id, so that the list is stable.
  return endpoints.sort(
    (a, b) =>
      (a.failingSince ?? a.updatedAt ?? '').localeCompare(b.failingSince ?? b.updatedAt ?? '') ||
      a.storeId.localeCompare(b.storeId) ||
      a.endpointId.localeCompare(b.endpointId),
  );
}

async function section<T>(read: () => Promise<T>): Promise<Section<T>> {
  try {
    return { state: 'ok', value: await read() };
  } catch (error) {
    return { state: 'error', error: describeError(error) };
  }
}

async function then<T, R>(source: Section<T>, read: (value: T) => Promise<R>): Promise<Section<R>> {
  if (source.state !== 'ok') return source;
  return section(() => read(source.value));
}

function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const line = error.message.split('\n')[0] ?? error.message;
    return error.status === 401 ? `${line} (check --admin-key or ADMIN_API_KEY)` : line;
  }
  if (!(error instanceof Error)) return String(error);
  // fetch's network failures carry the socket error as `cause`; the SDK's errors are named after the service's.
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause) return `${error.message} (${cause.code ?? cause.message})`;
  return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
}

function ageSeconds(now: number, since: number): number {
  return Math.max(0, Math.floor((now - since) / 1000));
}

// ---------------------------------------------------------------------------------------------------------------
// Text

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
