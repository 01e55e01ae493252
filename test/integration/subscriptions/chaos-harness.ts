import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { DynamoChargesRepository } from '../../../lambdas/billing/adapters/dynamo-charges-repository';
import { DynamoRunsRepository } from '../../../lambdas/billing/adapters/dynamo-runs-repository';
import { DynamoSubscriptionsRepository } from '../../../lambdas/billing/adapters/dynamo-subscriptions-repository';
import { StripePaymentGateway } from '../../../lambdas/billing/adapters/stripe-payment-gateway';
import { cancelSubscription } from '../../../lambdas/billing/domain/cancel';
import {
  type ChargeRecord,
  chargeKeyOf,
  chargeRefToString,
} from '../../../lambdas/billing/domain/charges/charge';
import {
  type ChargeRetryQueue,
  consumeChargeMessage,
} from '../../../lambdas/billing/domain/charges/consumer';
import type { PaymentGateway as GatewayPort } from '../../../lambdas/billing/domain/charges/gateway';
import { digest } from '../../../lambdas/billing/domain/event-ids';
import type {
  ChargeMessage as DomainChargeMessage,
  RunMessage,
} from '../../../lambdas/billing/domain/messages';
import { processOutboxBatch } from '../../../lambdas/billing/domain/outbox';
import type {
  DatafeedStore,
  DueSubscriptions,
  RunWorkDeps,
} from '../../../lambdas/billing/domain/runs/ports';
import type { Run } from '../../../lambdas/billing/domain/runs/run';
import type { RunSettings } from '../../../lambdas/billing/domain/runs/settings';
import { consumeRunMessage } from '../../../lambdas/billing/domain/runs/step';
import { triggerRun } from '../../../lambdas/billing/domain/runs/trigger';
import { runIdOf } from '../../../lambdas/billing/domain/schedule';
import {
  type DunningPolicy,
  dueShardOf,
  newSubscription,
  type Subscription,
} from '../../../lambdas/billing/domain/subscription';
import type { SubscriptionPatch } from '../../../lambdas/billing/domain/subscription-changes';
import { updateSubscription } from '../../../lambdas/billing/domain/update';
import { type EventsRepository, eventIdFor, type PipelineEvent } from '../../../lambdas/events/domain/events';
import { createIndexGate } from '../../../lambdas/index-gate/adapters/gated-index-query';
import type { IndexGate } from '../../../lambdas/index-gate/domain/index-gate';
import type { GatewayFault, PaymentGateway } from '../../../local/payment-gateway/payment-gateway';

/**
 * The chaos harness of the charge path: the real domain functions (`triggerRun`, `workOnRun`, `processCharge`)
 * with the real DynamoDB adapters on DynamoDB Local and the real Stripe adapter against the bundled gateway, run
 * as cooperating tasks under a deterministic scheduler.
 *
 * - Points. Every I/O a task makes (each DynamoDB command, each gateway request, each queue send or delete, each
 *   datafeed or event write, and the run's checkpoint hook) is a point: the task parks there, and the schedule
 *   (chosen by fast-check) decides which parked point goes on next, and with which fault. A task can wait at
 *   several points at once (the claims of a page are made concurrently). The scheduler waits until no real I/O
 *   is under way before each decision, so exactly one I/O happens at a time: an interleaving is a sequence of
 *   atomic I/Os, reproducible from the seed alone, and shrinkable.
 * - Time is virtual (`clock`): a point moves it on by a millisecond (which bounds a run step's length), an
 *   `expire` decision past a lease, quiescence past the stall time. The gateway's client timeout is real.
 * - Isolation: every iteration has its own three tables (unique names, the key schemas and the `due` GSI of
 *   lib/features/billing.ts) and its own gateway, so no iteration sees another's items, keys or ledger.
 * - Queues are in memory, as SQS behaves for the handlers: a message is deleted only once its consumer finished
 *   (a crash or throttle brings it back; after four receives it is dead-lettered), copies happen (`duplicate`,
 *   `redeliver`), and a pending charge is re-sent once before it waits on the DLQ for the run's stall sweep.
 * - The charges table's stream is modelled from the adapter's own successful writes (a claim is an insert, a
 *   resolution a pending → resolved update) and fed to the real outbox logic (`chargeChangeEffects` →
 *   `runs.add`) by an outbox task; DynamoDB Local's streams are not read because their iterators are not under
 *   the scheduler's control.
 * - Faults: crashes at any point (before the gateway call, after its answer and before `resolve`, at the run's
 *   checkpoints, before a message is deleted), throttled writes (injected at the SDK level, as the SDK raises
 *   them once its retries are spent: DynamoDB Local cannot throttle), duplicated sends, gateway faults
 *   (commit-then-hang against a short client timeout, hang, 500, garbage with and without the charge made, a
 *   decline of a working card), leases expiring mid-step, backup triggers, and stalls: a process that hangs at a
 *   point and comes back after everything else, its lease long taken over.
 */

export const AS_OF = '2026-03-10T06:00:00.000Z';
export const RUN_ID = runIdOf(AS_OF);
/** Two stores, so that the datafeeds are one per store. */
export const STORE_IDS = ['store_a', 'store_b'] as const;
const DAY = 86_400_000;
/** DUNNING_SCHEDULE's default: four retries, then the final action. */
export const DUNNING_SCHEDULE_MS = [1 * DAY, 3 * DAY, 5 * DAY, 7 * DAY];

export const RUN_SETTINGS: RunSettings = {
  leaseMs: 10_000,
  deadlineMs: 6 * 3_600_000,
  // Small pages so that pagination, checkpoints and cursors matter with a handful of subscriptions.
  pageSize: 2,
  stallSweepMs: 5 * 60_000,
  sweepIntervalMs: 1_000,
};

/** The gateway client's timeout: short, so that a hanging gateway costs the test little wall time. */
export const GATEWAY_TIMEOUT_MS = 60;
/** The run function's continuation delay (RUN_POLL_SECONDS). */
const RUN_POLL_SECONDS = 60;
/** How long a message that failed stays invisible before SQS delivers it again. */
const VISIBILITY_TIMEOUT_MS = 30_000;
/**
 * The charge function's timeout (lib/features/billing.ts: two gateway requests and 15 s, at least 30 s). The domain relies on
 * it: an ask can be sent no later than this after it was written down, so a search is believed searchSettleMs after.
 * Run steps are left without one: their writes are fenced, so a step that comes back late (the `stall` fault) is
 * the harder case and stays in.
 */
const CHARGE_FUNCTION_TIMEOUT_MS = 35_000;
/**
 * Virtual time without any charge changing status, PaymentIntent made or run change, after which quiescence gives
 * up: longer than a search's settle time (5 minutes) plus a run's stall sweep (5 minutes), which a charge released
 * after a cancel goes through before its run completes.
 */
const QUIET_LIMIT_MS = 12 * 60_000;
/** PAYMENT_PROCESSING_POLL for the chaos: short, so that a processing charge settles within QUIET_LIMIT_MS. */
const PROCESSING_POLL_MS = 2 * 60_000;
/** A day and a minute: past Stripe's 24-hour key retention. */
const JUMP_MS = DAY + 60_000;
/** SQS's maxReceiveCount in the model: a message that failed this often moves to the DLQ. */
const MAX_RECEIVES = 4;
/** Concurrently live tasks during the chaos (Lambda's bounded concurrency, small to keep schedules dense). */
const MAX_LIVE_TASKS = 4;

export const PAYMENT_METHODS = [
  'pm_card_visa',
  'pm_card_chargeDeclined',
  'pm_card_chargeDeclinedInsufficientFunds',
  // Bank debits: answered `processing`, settled later (succeeded, or a decline) on the gateway's clock.
  'pm_test_processing_succeeds',
  'pm_test_processing_fails',
] as const;
/** Payment methods whose charge ends succeeded. */
export const SUCCEEDING: ReadonlySet<string> = new Set(['pm_card_visa', 'pm_test_processing_succeeds']);
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/** One subscription of a scenario. */
export interface SubscriptionPlan {
  /**
   * `fresh`: its first charge is due at asOf. `dunning`: a retry (attempt 1-4) is due at asOf; attempt 4 is the
   * last, so its decline ends the subscription. `future`: starts after asOf (not due). `canceled`: ended.
   */
  readonly state: 'fresh' | 'dunning' | 'future' | 'canceled';
  readonly dunningAttempt: number;
  readonly paymentMethod: PaymentMethod;
  /** Minutes before (due) or after (future) asOf. */
  readonly offsetMinutes: number;
  /**
   * Created while the run is going on (through the API, backdated to be due), not before it. Only a `fresh` one
   * can be: the API creates subscriptions, not their dunning.
   */
  readonly late: boolean;
  /** The gateway answers (and stores) 500 to every request for it, charging nothing: visibly pending. */
  readonly gatewayDown: boolean;
}

export type Op =
  | 'resume'
  | 'charge'
  | 'run'
  | 'outbox'
  | 'trigger'
  | 'expire'
  | 'redeliver'
  | 'late'
  | 'stall'
  /** A subscription is canceled through its repository, as `DELETE /v1/subscriptions/{id}` does. */
  | 'cancel'
  /** A subscription is paused through PATCH's domain function (`updateSubscription`), racing its charge. */
  | 'pause'
  /** Its amount is changed through PATCH's domain function, racing its charge (a claim not sent takes it). */
  | 'reprice'
  /** The gateway's API key is revoked (401) until quiescence rotates a new one in. */
  | 'revoke'
  /** A day passes: leases expire, Stripe prunes every key older than 24 h. */
  | 'jump';
/** The amount a `reprice` decision sets (the scenario's subscriptions are charged another). */
export const REPRICED_AMOUNT = 4321;

export const FAULTS = [
  'none',
  'crash',
  'throttle',
  'duplicate',
  'commit-then-hang',
  'hang',
  'error500',
  'error500-committed',
  'rate-limit',
  'garbage',
  'garbage-uncommitted',
  'decline',
] as const;
export type Fault = (typeof FAULTS)[number];

/** One scheduling decision: what happens next, which one (index), and with which fault. */
export interface Decision {
  readonly op: Op;
  readonly index: number;
  readonly fault: Fault;
}

export interface Scenario {
  readonly subscriptions: readonly SubscriptionPlan[];
  readonly finalAction: DunningPolicy['finalAction'];
  readonly decisions: readonly Decision[];
}

type PointKind = 'read' | 'write' | 'gateway' | 'send' | 'delete' | 'checkpoint' | 'store';

interface Point {
  readonly kind: PointKind;
  readonly label: string;
}

const APPLICABLE: Readonly<Record<PointKind, readonly Fault[]>> = {
  read: ['crash'],
  write: ['crash', 'throttle'],
  gateway: [
    'crash',
    'commit-then-hang',
    'hang',
    'error500',
    'error500-committed',
    'rate-limit',
    'garbage',
    'garbage-uncommitted',
    'decline',
  ],
  send: ['crash', 'duplicate'],
  delete: ['crash'],
  checkpoint: ['crash'],
  store: ['crash'],
};

/** A task's process died at a point (a Lambda crash or timeout): nothing after it happens. */
export class TaskCrash extends Error {
  constructor(readonly at: string) {
    super(`crash at ${at}`);
    this.name = 'TaskCrash';
  }
}

/** Where a `stall` decision makes a process hang (the start of a point's label). */
const STALL_TRAPS = [
  'Query subs',
  // A claim, the page's lease heartbeat after the claims, and a stale claim's withdrawal.
  'Put charges',
  'checkpoint after-claims',
  'Delete charges',
  'datafeed',
  'Update runs',
  'gateway',
  'send',
] as const;

/** The virtual clock of one schedule, from a minute after asOf. */
export function newChaosClock(): { now: number } {
  return { now: Date.parse(AS_OF) + 60_000 };
}

/** The gateway's view of a chaos clock (it reads and moves the same time). */
export function gatewayClockOf(clock: { now: number }) {
  return {
    now: () => clock.now,
    advance: (ms: number) => {
      clock.now += ms;
    },
  };
}

/** What the local gateway does for a gateway fault of the schedule. */
function gatewayFaultOf(fault: Fault): GatewayFault {
  switch (fault) {
    case 'garbage':
    case 'garbage-uncommitted':
      return { kind: 'garbage', commit: fault === 'garbage' };
    case 'error500':
    case 'error500-committed':
      // Stored under the key either way, as Stripe does; the committed one moved money behind its 500.
      return { kind: 'error500', commit: fault === 'error500-committed' };
    case 'rate-limit':
      return { kind: 'rate-limit' };
    default:
      return { kind: fault as 'hang' | 'commit-then-hang' | 'decline' };
  }
}

/** DynamoDB throttling cannot be produced by DynamoDB Local: injected at the SDK level, as the SDK raises it. */
function throttled(label: string): Error {
  const error = new Error(`Throughput exceeds the current capacity (injected at ${label}).`);
  error.name = 'ProvisionedThroughputExceededException';
  return error;
}

function isInjected(error: unknown): boolean {
  return error instanceof TaskCrash || (error as Error)?.name === 'ProvisionedThroughputExceededException';
}

interface Task {
  readonly id: number;
  readonly name: string;
  /** Virtual time it started at, and how long its function may run (Lambda ends it then, wherever it is). */
  readonly startedAt: number;
  readonly timeoutMs?: number;
  /** The point it last went on from (what it is doing while it runs). */
  lastPoint?: string;
  done: boolean;
}

/**
 * A task waiting at a point. A task can wait at several at once: the domain makes some I/Os concurrently (the
 * claims of a page), and the schedule orders those too.
 */
interface Parked {
  readonly task: Task;
  readonly point: Point;
  readonly release: (fault: Fault) => void;
  /** A stalled process (a hung Lambda): it goes on only once everything else is quiet, however late that is. */
  stalled: boolean;
}

/** The adapters as one task sees them: every I/O they make is a point of that task. */
interface TaskIo {
  readonly subscriptions: DynamoSubscriptionsRepository;
  readonly charges: DynamoChargesRepository;
  readonly runs: DynamoRunsRepository;
  readonly due: DueSubscriptions;
  readonly gateway: GatewayPort;
}

interface Queued<T> {
  readonly message: T;
  receives: number;
  /** Virtual epoch ms from which a consumer can receive it (SQS's DelaySeconds). */
  readonly visibleAt: number;
}

type ChargeMessage = DomainChargeMessage;

/** A record of the charges table's stream, as DynamoDB would write it for one successful write. */
interface StreamRecord {
  readonly seq: number;
  readonly before?: ChargeRecord;
  readonly after?: ChargeRecord;
}

/** A fenced write (or lease acquisition) of the run item, as DynamoDB accepted it. */
interface RunWrite {
  readonly seq: number;
  readonly task: string;
  readonly fence?: { readonly owner: string; readonly version: number };
  readonly run: Run;
}

export interface ChaosTables {
  readonly subscriptions: string;
  readonly charges: string;
  readonly runs: string;
}

let tableCounter = 0;

/** Fresh tables for one iteration (key schemas and the `due` GSI as lib/features/billing.ts declares them). */
export async function createTables(raw: DynamoDBClient, prefix: string): Promise<ChaosTables> {
  tableCounter += 1;
  const base = `${prefix}-chaos-${tableCounter}`;
  const tables = { subscriptions: `${base}-subs`, charges: `${base}-charges`, runs: `${base}-runs` };
  const string = 'S' as const;
  await Promise.all([
    raw.send(
      new CreateTableCommand({
        TableName: tables.subscriptions,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'storeId', AttributeType: string },
          { AttributeName: 'subscriptionId', AttributeType: string },
          { AttributeName: 'dueShard', AttributeType: string },
          { AttributeName: 'dueAt', AttributeType: string },
        ],
        KeySchema: [
          { AttributeName: 'storeId', KeyType: 'HASH' },
          { AttributeName: 'subscriptionId', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'due',
            KeySchema: [
              { AttributeName: 'dueShard', KeyType: 'HASH' },
              { AttributeName: 'dueAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    ),
    raw.send(
      new CreateTableCommand({
        TableName: tables.charges,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'subscriptionKey', AttributeType: string },
          { AttributeName: 'chargeKey', AttributeType: string },
        ],
        KeySchema: [
          { AttributeName: 'subscriptionKey', KeyType: 'HASH' },
          { AttributeName: 'chargeKey', KeyType: 'RANGE' },
        ],
      }),
    ),
    raw.send(
      new CreateTableCommand({
        TableName: tables.runs,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'runId', AttributeType: string },
          { AttributeName: 'sk', AttributeType: string },
        ],
        KeySchema: [
          { AttributeName: 'runId', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    ),
  ]);
  return tables;
}

export async function deleteTables(raw: DynamoDBClient, tables: ChaosTables): Promise<void> {
  await Promise.all(
    Object.values(tables).map((TableName) => raw.send(new DeleteTableCommand({ TableName })).catch(() => {})),
  );
}

export function subscriptionIdOf(index: number): string {
  return `sub_${index}`;
}

export function storeOf(index: number): string {
  return STORE_IDS[index % STORE_IDS.length] as string;
}

/** The subscription item a plan starts as. */
export function subscriptionOf(plan: SubscriptionPlan, index: number): Subscription {
  const asOf = Date.parse(AS_OF);
  // Distinct due times (a millisecond apart at least), so cursors within a shard are totally ordered.
  const offset = plan.offsetMinutes * 60_000 + index;
  const due = plan.state === 'future' ? asOf + offset : asOf - offset;
  const subscriptionId = subscriptionIdOf(index);
  const base = newSubscription({
    storeId: storeOf(index),
    subscriptionId,
    body: {
      customer: { id: `cus_${index}`, email: `customer${index}@example.com` },
      plan: 'coffee-monthly',
      amount: 1000 + index,
      currency: 'USD',
      interval: 'month',
      paymentMethod: plan.paymentMethod,
      startAt: new Date(plan.state === 'dunning' ? asOf - 10 * DAY - offset : due).toISOString(),
    },
    fingerprint: `fp_${index}`,
    now: asOf - 20 * DAY,
    createdEventId: eventIdFor(asOf - 20 * DAY, digest(`created:${subscriptionId}`)),
  });
  if (plan.state === 'dunning') {
    const nextRetryAt = new Date(due).toISOString();
    return {
      ...base,
      status: 'past_due',
      attempt: plan.dunningAttempt,
      dueAt: nextRetryAt,
      dunning: { attempt: plan.dunningAttempt, nextRetryAt },
    };
  }
  if (plan.state === 'canceled') {
    const { dueAt: _dueAt, dueShard: _dueShard, ...ended } = base;
    return {
      ...ended,
      status: 'canceled',
      canceledAt: new Date(asOf - DAY).toISOString(),
      cancelReason: 'requested',
    };
  }
  return base;
}

export function isDue(plan: SubscriptionPlan): boolean {
  return plan.state === 'fresh' || plan.state === 'dunning';
}

export function isLate(plan: SubscriptionPlan): boolean {
  return plan.late && plan.state === 'fresh';
}

/**
 * One iteration's world: the tables, the gateway, the queues, the clock, the tasks and what was observed.
 */
export class ChaosWorld {
  readonly trace: string[] = [];
  readonly violations: string[] = [];
  /** Claims withdrawn by a run holder that had lost its lease: a message already sent for one finds no claim. */
  private readonly withdrawn = new Set<string>();
  readonly unexpected: string[] = [];
  readonly stats = {
    takeovers: 0,
    timeouts: 0,
    cancels: 0,
    pauses: 0,
    reprices: 0,
    revokes: 0,
    jumps: 0,
    released: 0,
    refused: 0,
    processing: 0,
    searches: 0,
    rekeys: 0,
    fencedSteps: 0,
    crashes: 0,
    throttles: 0,
    gatewayFaults: 0,
    duplicates: 0,
    pendingAnswers: 0,
    dlq: 0,
    lateCreated: 0,
    stalls: 0,
    dynamodbCalls: 0,
  };
  readonly chargeQueue: Queued<ChargeMessage>[] = [];
  readonly runQueue: Queued<RunMessage>[] = [];
  readonly acked: ChargeMessage[] = [];
  readonly streamRecords: StreamRecord[] = [];
  /** Resolutions (pending → resolved) each charge went through, by charge reference. */
  readonly resolutions = new Map<string, number>();
  readonly datafeeds = new Map<string, string>();
  readonly runWrites: RunWrite[] = [];
  /** Due-index reads: which task read which shard, from its start or not, at which I/O sequence number. */
  readonly dueReads: { seq: number; task: string; shard: string; fromStart: boolean }[] = [];
  /** Late subscriptions: when they were written (I/O sequence number) and whether the run was already done. */
  readonly lateWrites = new Map<string, { seq: number; runCompleted: boolean }>();
  completedBy?: { task: string; seq: number };
  /** Keys the gateway was told to decline although the card works (a `decline` fault). */
  readonly forcedDeclines = new Set<string>();
  /** Subscriptions canceled by a `cancel` decision, and the I/O sequence number the cancel was written at. */
  readonly cancels = new Map<string, number>();
  /** Subscriptions paused by a `pause` decision, and the I/O sequence number the pause was written at. */
  readonly pauses = new Map<string, number>();
  /** Subscriptions whose amount a `reprice` decision changed: the new amount and the write's I/O sequence number. */
  readonly reprices = new Map<string, { readonly seq: number; readonly amount: number }>();
  /** Each create request the gateway executed: its key, subscription and I/O sequence number. */
  readonly asks: { readonly seq: number; readonly key: string; readonly subscriptionId: string }[] = [];
  /** The charges table as the adapters' successful writes left it (the stream's old images). */
  private readonly shadow = new Map<string, ChargeRecord>();
  /** When each charge was first marked asked (I/O sequence number): "the ask" a cancel is ordered against. */
  readonly askedAt = new Map<string, number>();
  /**
   * The task that marked each charge asked first, and when it then read the subscription (I/O sequence number):
   * the charge's terms are fixed by what that read saw. Absent `readAt`: it died before reading, and the terms stayed
   * the claim's (no later process can know whether it sent them).
   */
  readonly firstMarks = new Map<string, { readonly task: string; readAt?: number }>();
  /** Claims deleted by a release (a cancel that came before the ask), not by a withdrawal. */
  readonly released = new Set<string>();
  /** The gateway key the charge function reads from its secret; `revoke` makes the gateway refuse it. */
  private gatewayKey = 'sk_test_chaos';
  private keyGeneration = 0;

  private readonly tasks: Task[] = [];
  private readonly waiting: Parked[] = [];
  /** Real I/O under way (DynamoDB, the gateway): the schedule waits for it before its next decision. */
  private inflight = 0;
  private drained?: () => void;
  private taskCounter = 0;
  private readonly cancelRequested = new Set<number>();
  private readonly changeRequested = new Set<number>();
  private ownerCounter = 0;
  private seq = 0;
  private leaseHighWater = 0;
  private outboxBusy = false;
  private lateRemaining: number[];
  /** The fault the next gateway request of the task at the gateway point meets. */
  /** Points at which the next task to get there stalls (a `stall` decision for a point not reached yet). */
  private readonly stallTraps: string[] = [];
  private nextGatewayFault?: { readonly idempotencyKey: string; readonly fault: GatewayFault };
  private readonly gate: IndexGate;
  private readonly stripe: StripePaymentGateway;
  /** The due shards any subscription of the scenario lives in (the others are empty by construction). */
  private readonly occupiedShards: ReadonlySet<string>;
  private readonly dunning: DunningPolicy;

  constructor(
    private readonly scenario: Scenario,
    readonly tables: ChaosTables,
    private readonly doc: DynamoDBDocumentClient,
    raw: DynamoDBClient,
    readonly gateway: PaymentGateway,
    /**
     * Virtual time: every task reads it, and so does the gateway (key pruning, search freshness, settlement); a
     * point moves it on by a millisecond, `expire` past a lease, `jump` past a day, quiescence to the next message.
     */
    readonly clock: { now: number } = newChaosClock(),
  ) {
    // DescribeTable goes straight to the emulator: the gate's cache is not part of the schedule.
    this.gate = createIndexGate({ send: (command) => this.track(raw.send(command)) }, () => {});
    this.stripe = new StripePaymentGateway({
      url: gateway.url,
      timeoutMs: GATEWAY_TIMEOUT_MS,
      apiKey: () => this.gatewayKey,
      // The pipeline's own re-ask (a pending charge asked again with its key) is what is under test; the SDK's
      // retry would only add its back-off sleep.
      maxNetworkRetries: 0,
    });
    const down = new Set(
      scenario.subscriptions.flatMap((plan, index) => (plan.gatewayDown ? [subscriptionIdOf(index)] : [])),
    );
    gateway.faults = ({ idempotencyKey, params }) => {
      const subscriptionId = params['metadata[subscription_id]'] ?? '';
      this.asks.push({ seq: this.seq, key: idempotencyKey ?? '', subscriptionId });
      if (down.has(subscriptionId)) return { kind: 'error500' };
      const next = this.nextGatewayFault;
      this.nextGatewayFault = undefined;
      if (!next || next.idempotencyKey !== idempotencyKey) return { kind: 'none' };
      this.stats.gatewayFaults += 1;
      if (next.fault.kind === 'decline' && idempotencyKey) this.forcedDeclines.add(idempotencyKey);
      return next.fault;
    };
    this.occupiedShards = new Set(
      scenario.subscriptions.map((_, index) => dueShardOf(storeOf(index), subscriptionIdOf(index))),
    );
    this.dunning = { scheduleMs: DUNNING_SCHEDULE_MS, finalAction: scenario.finalAction };
    this.lateRemaining = scenario.subscriptions.flatMap((plan, index) => (isLate(plan) ? [index] : []));
  }

  /** The real adapters, over a DynamoDB client whose every command is a point of `task`. */
  private io(task: Task): TaskIo {
    const client = this.chaosDocumentClient(this.doc, task);
    const subscriptions = new DynamoSubscriptionsRepository({
      client,
      tableName: this.tables.subscriptions,
      gate: this.gate,
    });
    return {
      subscriptions,
      charges: new DynamoChargesRepository({ client, tableName: this.tables.charges }),
      runs: new DynamoRunsRepository({ client, tableName: this.tables.runs }),
      // The due index through the gate and the adapter. A shard no subscription of the scenario hashes to is
      // empty (the tables are this iteration's own, and a subscription's shard is a function of its key), so it
      // is answered empty without a query: the run still walks, checkpoints and sweeps all 16 shards; this only
      // spares the emulator a dozen empty queries per pass.
      due: {
        page: (shard, asOf, after, limit) =>
          this.occupiedShards.has(shard)
            ? subscriptions.page(shard, asOf, after, limit)
            : Promise.resolve({ subscriptions: [] }),
      },
      gateway: {
        charge: async (request) => {
          const fault = await this.point(task, {
            kind: 'gateway',
            label: `gateway ${request.idempotencyKey}`,
          });
          if (fault !== 'none') {
            this.nextGatewayFault = { idempotencyKey: request.idempotencyKey, fault: gatewayFaultOf(fault) };
          }
          try {
            return await this.track(this.stripe.charge(request));
          } finally {
            // Not consumed when the gateway answered from the key's stored response (no fault applies then).
            this.nextGatewayFault = undefined;
          }
        },
        // Reads of the gateway (a processing charge's poll, a search) are points too: a process can die there.
        retrieve: async (paymentIntentId) => {
          await this.point(task, { kind: 'read', label: `gateway retrieve ${paymentIntentId}` });
          return this.track(this.stripe.retrieve(paymentIntentId));
        },
        search: async (metadata) => {
          await this.point(task, { kind: 'read', label: `gateway search ${metadata.subscription_id}` });
          this.stats.searches += 1;
          return this.track(this.stripe.search(metadata));
        },
      },
    };
  }

  /** Whether quiescence creates the late subscription `index` only once the run has finished. */
  private createdAfterTheRun(index: number): boolean {
    return (this.scenario.subscriptions[index]?.offsetMinutes ?? 0) % 2 === 1;
  }

  /** Writes the subscriptions that exist before the run, and triggers it (the primary schedule). */
  async setUp(): Promise<void> {
    const plain = new DynamoSubscriptionsRepository({
      client: this.doc,
      tableName: this.tables.subscriptions,
    });
    await Promise.all(
      this.scenario.subscriptions.map((plan, index) =>
        isLate(plan) ? undefined : plain.create(subscriptionOf(plan, index)),
      ),
    );
    this.spawnTrigger('primary');
    await this.settle();
    // The primary trigger runs without faults: the run exists from here on.
    for (let [next] = this.waiting; next; [next] = this.waiting) {
      this.resume(next, 'none');
      await this.settle();
    }
  }

  /** The chaos: every decision of the scenario, in order. */
  async chaos(): Promise<void> {
    for (const decision of this.scenario.decisions) {
      await this.settle();
      this.apply(decision);
    }
    await this.settle();
  }

  /**
   * No more faults: a revoked gateway key is rotated, parked tasks go on, the outbox catches up, visible messages
   * are consumed, and when nothing is visible the clock moves to the next delayed message (a retry, a poll, a run's
   * continuation), or, with no message left at all, past the lease and the stall time and a schedule fires again;
   * until the run is completed and announced with nothing left queued, or nothing has moved for QUIET_LIMIT_MS of
   * virtual time (a charge the gateway never answers).
   */
  async quiesce(maxDecisions = 10_000): Promise<void> {
    if (this.gateway.apiKey !== this.gatewayKey) {
      // The operator puts a new key in Secrets Manager; the charge function reads it once its cache expires.
      this.keyGeneration += 1;
      this.gatewayKey = `sk_test_chaos_${this.keyGeneration}`;
      this.gateway.apiKey = this.gatewayKey;
      this.trace.push('gateway key rotated');
    }
    let gaveUp = false;
    let lastProgress = '';
    let lastProgressAt = this.clock.now;
    const moving = async (): Promise<boolean> => {
      const run = await this.plainRuns().get(RUN_ID);
      // Any change of a charge's status (a resolution, a release, a settlement), a PaymentIntent, or the run's.
      const progress = JSON.stringify([
        [...this.shadow.entries()].map(([id, charge]) => `${id}:${charge.status}`).sort(),
        this.gateway.ledger.length,
        run?.status,
        run?.announced,
      ]);
      if (progress !== lastProgress) {
        lastProgress = progress;
        lastProgressAt = this.clock.now;
      }
      return this.clock.now - lastProgressAt < QUIET_LIMIT_MS;
    };
    for (let decision = 0; decision < maxDecisions; decision += 1) {
      await this.settle();
      const [parked] = this.waiting.filter((waiting) => !waiting.stalled);
      if (parked) {
        this.resume(parked, 'none');
        continue;
      }
      if (this.streamRecords.length > 0 && !this.outboxBusy) {
        this.spawnOutbox();
        continue;
      }
      const charge = gaveUp ? undefined : this.receive(this.chargeQueue);
      if (charge) {
        this.spawnCharge(charge);
        continue;
      }
      const step = gaveUp ? undefined : this.receive(this.runQueue);
      if (step) {
        this.spawnRun(step, 1_000_000);
        continue;
      }
      // Nothing to do now. Some subscriptions are created while the run is still going on (owed by it), the others
      // once it has finished (owed by the next run). Once the run is done, or nothing moves any more (a gateway that
      // does not answer, or what is left waits on a stalled process), the stalled processes come back, late, one at
      // a time.
      const run = await this.plainRuns().get(RUN_ID);
      const finished = run?.status === 'completed' && run.announced === true;
      const late = this.lateRemaining.find((index) => finished || gaveUp || !this.createdAfterTheRun(index));
      const [stalled] = this.waiting;
      if (late !== undefined || ((finished || gaveUp) && stalled)) {
        if (late !== undefined) this.spawnLate(late);
        else if (stalled) this.resume(stalled, 'none');
        // Something new to work on: the run gets the time to take it up.
        gaveUp = false;
        lastProgressAt = this.clock.now;
        continue;
      }
      if (gaveUp) return;
      if (!(await moving())) {
        gaveUp = true;
        continue;
      }
      const next = this.nextVisible();
      if (next !== undefined) {
        this.clock.now = Math.max(this.clock.now, next);
        continue;
      }
      if (finished) return;
      // No message left at all (the run's continuation ended in a DLQ): time passes, leases expire, a schedule fires.
      const ms = Math.max(RUN_SETTINGS.leaseMs, RUN_SETTINGS.stallSweepMs) + 1;
      this.clock.now += ms;
      this.trace.push(`clock +${ms} ms`);
      this.spawnTrigger('backup');
    }
    this.violations.push(
      `the system did not quiesce within ${maxDecisions} decisions (${Math.round((this.clock.now - Date.parse(AS_OF)) / 1000)} s after asOf, ${this.chargeQueue.length} charge and ${this.runQueue.length} run messages queued, last progress ${Math.round((this.clock.now - lastProgressAt) / 1000)} s ago)`,
    );
  }

  async stop(): Promise<void> {
    // Tasks still parked are abandoned (their process is gone); release them with a crash so nothing leaks.
    while (this.waiting.length > 0) {
      for (const parked of [...this.waiting]) this.resume(parked, 'crash');
      await this.settle();
    }
  }

  plainRuns(): DynamoRunsRepository {
    return new DynamoRunsRepository({ client: this.doc, tableName: this.tables.runs });
  }

  async scan<T>(tableName: string): Promise<T[]> {
    const items: T[] = [];
    let after: Record<string, unknown> | undefined;
    do {
      const output = await this.doc.send(
        new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: after }),
      );
      items.push(...((output.Items ?? []) as T[]));
      after = output.LastEvaluatedKey;
    } while (after);
    return items;
  }

  // ---------------------------------------------------------------------------------------------------------
  // The scheduler

  /** Tasks that take a consumer's place (a stalled one has been given up on: its message is visible again). */
  private live(): number {
    const stalled = new Set(this.waiting.filter((parked) => parked.stalled).map((parked) => parked.task));
    return this.tasks.filter((task) => !task.done && !stalled.has(task)).length;
  }

  /** Counts `io` as real I/O under way until it settles. */
  private async track<T>(io: Promise<T>): Promise<T> {
    this.inflight += 1;
    try {
      return await io;
    } finally {
      this.inflight -= 1;
      if (this.inflight === 0) this.drained?.();
    }
  }

  /**
   * Waits until every task is parked at a point or finished: no real I/O under way, and every continuation of
   * the last one run (setImmediate comes after the microtasks they are).
   */
  private async settle(): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.inflight === 0) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => {
            const busy = this.tasks.filter(
              (task) => !task.done && !this.waiting.some((w) => w.task === task),
            );
            const doing = busy
              .map((task) => `${task.name} after ${task.lastPoint ?? 'its start'}`)
              .join(', ');
            reject(new Error(`I/O did not end within 15 s: ${doing}\n${this.trace.slice(-20).join('\n')}`));
          },
          Math.max(0, deadline - Date.now()),
        );
        this.drained = () => {
          this.drained = undefined;
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private resume(parked: Parked, requested: Fault): void {
    const index = this.waiting.indexOf(parked);
    if (index < 0) return;
    this.waiting.splice(index, 1);
    const { task, point } = parked;
    // A fault the point cannot have (a gateway timeout at a DynamoDB read) does not happen. A process past its
    // function's timeout is ended by Lambda at whatever it was about to do.
    const timedOut = task.timeoutMs !== undefined && this.clock.now - task.startedAt > task.timeoutMs;
    if (timedOut) this.stats.timeouts += 1;
    const fault = timedOut ? 'crash' : APPLICABLE[point.kind].includes(requested) ? requested : 'none';
    task.lastPoint = point.label;
    this.clock.now += 1;
    if (fault !== 'none') this.trace.push(`  ${task.name} @ ${point.label}: ${fault}`);
    if (fault === 'crash') this.stats.crashes += 1;
    if (fault === 'throttle') this.stats.throttles += 1;
    if (fault === 'duplicate') this.stats.duplicates += 1;
    parked.release(fault);
  }

  /** Parks `task` at `point`; resolves with the fault it is released with (a crash throws). */
  private async point(task: Task, point: Point): Promise<Fault> {
    const fault = await new Promise<Fault>((release) => {
      const parked: Parked = { task, point, release, stalled: false };
      this.waiting.push(parked);
      const trap = this.stallTraps.findIndex((label) => point.label.startsWith(label));
      if (trap >= 0) {
        this.stallTraps.splice(trap, 1);
        this.stallAt(parked);
      }
    });
    if (fault === 'crash') throw new TaskCrash(point.label);
    return fault;
  }

  private stallAt(parked: Parked): void {
    parked.stalled = true;
    this.stats.stalls += 1;
    this.trace.push(`  ${parked.task.name} stalls @ ${parked.point.label}`);
  }

  private spawn(name: string, body: (task: Task) => Promise<void>, timeoutMs?: number): void {
    this.taskCounter += 1;
    const task: Task = {
      id: this.taskCounter,
      name: `#${this.taskCounter} ${name}`,
      done: false,
      startedAt: this.clock.now,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    };
    this.tasks.push(task);
    this.trace.push(`start ${task.name}`);
    void (async () => {
      try {
        await body(task);
      } catch (error) {
        if (!isInjected(error)) this.unexpected.push(`${task.name}: ${(error as Error)?.stack ?? error}`);
      } finally {
        task.done = true;
      }
    })();
  }

  /** Receives a visible message of `queue` (the `index`-th of them, wrapping), removing it; undefined if none. */
  private receive<T>(queue: Queued<T>[], index = 0): Queued<T> | undefined {
    const visible = queue.filter((queued) => queued.visibleAt <= this.clock.now);
    const chosen = visible[index % Math.max(1, visible.length)];
    if (chosen) queue.splice(queue.indexOf(chosen), 1);
    return chosen;
  }

  /** The earliest time a queued message becomes visible, if any is waiting. */
  private nextVisible(): number | undefined {
    const times = [...this.chargeQueue, ...this.runQueue].map((queued) => queued.visibleAt);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  private apply(decision: Decision): void {
    const parked = this.waiting.filter((waiting) => !waiting.stalled);
    const room = this.live() < MAX_LIVE_TASKS;
    const pick = <T>(items: readonly T[]): T | undefined => items[decision.index % Math.max(1, items.length)];
    switch (decision.op) {
      case 'charge': {
        const queued = room ? this.receive(this.chargeQueue, decision.index) : undefined;
        if (!queued) break;
        this.spawnCharge(queued);
        return;
      }
      case 'run': {
        const queued = room ? this.receive(this.runQueue, decision.index) : undefined;
        if (!queued) break;
        // A step's length in points: from a page or two to a whole pass.
        this.spawnRun(queued, 4 + decision.index * 6);
        return;
      }
      case 'cancel': {
        // A subscription due in this run (or one not due) is canceled, racing whatever its charge is doing.
        const index = decision.index % this.scenario.subscriptions.length;
        if (!room || this.cancelRequested.has(index)) break;
        this.cancelRequested.add(index);
        this.stats.cancels += 1;
        this.spawnCancel(index);
        return;
      }
      case 'pause':
      case 'reprice': {
        // A PATCH racing whatever the subscription's charge is doing: one change per subscription.
        const index = decision.index % this.scenario.subscriptions.length;
        if (!room || this.changeRequested.has(index)) break;
        this.changeRequested.add(index);
        if (decision.op === 'pause') this.stats.pauses += 1;
        else this.stats.reprices += 1;
        this.spawnPatch(index, decision.op === 'pause' ? { pause: {} } : { amount: REPRICED_AMOUNT });
        return;
      }
      case 'revoke':
        // The gateway key is revoked (an operator's mistake, a leak): 401 until quiescence rotates a new one in.
        if (this.gateway.apiKey === undefined) break;
        this.gateway.revokeKey();
        this.stats.revokes += 1;
        this.trace.push('gateway key revoked');
        return;
      case 'jump':
        // A day passes (a long outage, a stuck DLQ): leases expire, and the gateway prunes every key by now.
        if (this.stats.jumps >= 1) break;
        this.clock.now += JUMP_MS;
        this.stats.jumps += 1;
        this.trace.push(`clock +${JUMP_MS} ms`);
        return;
      case 'outbox':
        if (!room || this.outboxBusy || this.streamRecords.length === 0) break;
        this.spawnOutbox();
        return;
      case 'trigger':
        if (!room) break;
        this.spawnTrigger('backup');
        return;
      case 'expire':
        // Time passes beyond the lease: its holder is as good as dead, whatever it is doing.
        this.clock.now += RUN_SETTINGS.leaseMs + 1;
        this.trace.push(`clock +${RUN_SETTINGS.leaseMs + 1} ms`);
        return;
      case 'redeliver': {
        // At-least-once: a message already consumed comes again, or a run step is delivered twice.
        const again = pick(this.acked);
        if (decision.index % 2 === 0 && again) {
          this.chargeQueue.push({ message: again, receives: 0, visibleAt: this.clock.now });
          this.trace.push(`redeliver ${chargeRefToString(again)}`);
          return;
        }
        const step = pick(this.runQueue);
        if (step) {
          this.runQueue.push({ message: step.message, receives: 0, visibleAt: this.clock.now });
          this.trace.push(`duplicate run message ${step.message.owner}`);
          return;
        }
        break;
      }
      case 'late': {
        const late = this.lateRemaining[0];
        if (!room || late === undefined) break;
        this.spawnLate(late);
        return;
      }
      case 'stall': {
        // A process hangs (GC, a slow network) at the next point of a kind, now or later: it comes back after
        // everything else, after its lease was taken over and the run completed without it.
        const trap = STALL_TRAPS[decision.index % STALL_TRAPS.length] as string;
        const now = parked.find((waiting) => waiting.point.label.startsWith(trap));
        if (now) this.stallAt(now);
        else this.stallTraps.push(trap);
        return;
      }
      case 'resume':
        break;
    }
    // A fault goes to a task parked where it can happen natively, if there is one (a gateway fault to a task
    // about to call the gateway, a duplicate to one about to send, a throttle to one about to write).
    const natives = parked.filter((waiting) => APPLICABLE[waiting.point.kind].includes(decision.fault));
    const candidates = decision.fault !== 'none' && natives.length > 0 ? natives : parked;
    const chosen = candidates[decision.index % Math.max(1, candidates.length)];
    if (chosen) {
      this.resume(chosen, decision.fault);
      return;
    }
    // Nothing is parked: a consumer picks up whatever is waiting (so that no decision is wasted).
    const preferCharge = decision.index % 2 === 0 || this.runQueue.length === 0;
    const charge = preferCharge ? this.receive(this.chargeQueue) : undefined;
    if (charge) {
      this.spawnCharge(charge);
      return;
    }
    const step = this.receive(this.runQueue);
    if (step) {
      this.spawnRun(step, 4 + decision.index * 6);
      return;
    }
    if (this.streamRecords.length > 0) this.spawnOutbox();
  }

  // ---------------------------------------------------------------------------------------------------------
  // The actors: the consumers' own functions (consumeChargeMessage, consumeRunMessage, processOutboxBatch) with
  // their real retry, poll, dead-letter and event-id rules, over the queue model below

  /** A message that failed goes back (visible again after its visibility timeout); after maxReceiveCount, DLQ. */
  private requeue<T>(queue: Queued<T>[], queued: Queued<T>, what: string): void {
    queued.receives += 1;
    if (queued.receives >= MAX_RECEIVES) {
      this.stats.dlq += 1;
      this.trace.push(`  dead-letter ${what}`);
      return;
    }
    queue.push({ ...queued, visibleAt: this.clock.now + VISIBILITY_TIMEOUT_MS });
  }

  private spawnCharge(queued: Queued<ChargeMessage>): void {
    const message = queued.message;
    const name = `charge ${message.subscriptionId}/${chargeKeyOf(message.period, message.attempt)}`;
    this.spawn(
      name,
      async (task) => {
        try {
          const io = this.io(task);
          const queue: ChargeRetryQueue = {
            retryLater: async (next, delaySeconds) => {
              const fault = await this.point(task, { kind: 'send', label: `retry ${name}` });
              const copy = { message: next, receives: 0, visibleAt: this.clock.now + delaySeconds * 1000 };
              this.chargeQueue.push(copy);
              if (fault === 'duplicate') this.chargeQueue.push({ ...copy });
            },
            sendToDeadLetter: async (dead, reason) => {
              await this.point(task, { kind: 'send', label: `dead-letter ${name}` });
              this.stats.dlq += 1;
              this.trace.push(`  dead-letter ${name}: ${reason}`);
              void dead;
            },
          };
          const result = await consumeChargeMessage(
            {
              charges: io.charges,
              subscriptions: io.subscriptions,
              gateway: io.gateway,
              dunning: this.dunning,
              now: () => this.clock.now,
              queue,
              consumer: { processingPollMs: PROCESSING_POLL_MS },
            },
            message,
          );
          const outcome = result.kind === 'processed' ? result.outcome.outcome : 'deferred';
          const cause =
            result.kind === 'processed' && 'cause' in result.outcome ? ` (${result.outcome.cause})` : '';
          this.trace.push(`  ${name}: ${outcome}${cause}`);
          if (outcome === 'missing-claim' && !this.withdrawn.has(chargeRefToString(message))) {
            // Released by a cancel is the other way a claim goes before anyone asked.
            if (!this.released.has(chargeRefToString(message))) {
              this.violations.push(`a charge message without a claim: ${chargeRefToString(message)}`);
            }
          }
          if (outcome === 'pending') this.stats.pendingAnswers += 1;
          if (outcome === 'released') this.stats.released += 1;
          if (outcome === 'refused') this.stats.refused += 1;
          if (outcome === 'processing') this.stats.processing += 1;
          await this.point(task, { kind: 'delete', label: `delete ${name}` });
          this.acked.push(message);
        } catch (error) {
          this.requeue(this.chargeQueue, queued, name);
          if (!isInjected(error)) throw error;
        }
      },
      CHARGE_FUNCTION_TIMEOUT_MS,
    );
  }

  private spawnRun(queued: Queued<RunMessage>, budget: number): void {
    const message = queued.message;
    const name = `run step ${message.owner}`;
    this.spawn(name, async (task) => {
      try {
        const result = await consumeRunMessage(
          {
            ...this.runDeps(task),
            queue: { send: (next, delaySeconds) => this.runQueueSend(task, next, delaySeconds) },
            pollSeconds: RUN_POLL_SECONDS,
            stepMarginMs: 0,
            minStepMs: 1,
          },
          message,
          budget,
        );
        this.trace.push(`  ${name}: ${result}`);
        if (result === 'fenced') this.stats.fencedSteps += 1;
        await this.point(task, { kind: 'delete', label: `delete ${name}` });
      } catch (error) {
        this.requeue(this.runQueue, queued, name);
        if (!isInjected(error)) throw error;
      }
    });
  }

  private spawnTrigger(source: string): void {
    this.spawn(`trigger ${source}`, async (task) => {
      try {
        const { outcome } = await triggerRun(
          {
            runs: this.io(task).runs,
            queue: { send: (message) => this.runQueueSend(task, message) },
            now: () => this.clock.now,
            newOwner: () => {
              this.ownerCounter += 1;
              return `owner${this.ownerCounter}`;
            },
            settings: RUN_SETTINGS,
          },
          { asOf: AS_OF, source },
        );
        this.trace.push(`  trigger ${source}: ${outcome}`);
      } catch (error) {
        // A schedule whose invocation failed fires again later (quiescence does that).
        if (!isInjected(error)) throw error;
      }
    });
  }

  /**
   * The billing outbox on the charges table's stream: the real `processOutboxBatch`, on the stream records the
   * adapters' writes made (in order), with the stream's retry from the record it names.
   */
  private spawnOutbox(): void {
    const batch = this.streamRecords.slice(0, 10);
    this.outboxBusy = true;
    this.spawn(`outbox ${batch.length} records`, async (task) => {
      try {
        const runs = this.io(task).runs;
        const result = await processOutboxBatch(
          {
            // The events table is not under test here: its writes are points (a crash there retries the batch).
            events: {
              put: async (event) => {
                await this.point(task, { kind: 'store', label: `event ${event.type}` });
                return true;
              },
            },
            counters: runs,
          },
          {
            shard: 'charges-stream',
            records: batch.map((record) => ({
              sequenceNumber: String(record.seq),
              change: { table: 'charges', before: record.before, after: record.after },
            })),
          },
        );
        // The stream's checkpoint: a crash before it delivers the same records again.
        await this.point(task, { kind: 'delete', label: 'outbox checkpoint' });
        const failed = result.batchItemFailures[0]?.itemIdentifier;
        const done = failed === undefined ? batch.length : batch.findIndex((r) => String(r.seq) === failed);
        this.streamRecords.splice(0, Math.max(0, done));
      } catch (error) {
        if (!isInjected(error)) throw error;
      } finally {
        this.outboxBusy = false;
      }
    });
  }

  private spawnLate(index: number): void {
    const plan = this.scenario.subscriptions[index];
    if (!plan) return;
    this.lateRemaining = this.lateRemaining.filter((late) => late !== index);
    this.spawn(`create ${subscriptionIdOf(index)}`, async (task) => {
      try {
        await this.io(task).subscriptions.create(subscriptionOf(plan, index));
        this.stats.lateCreated += 1;
      } catch (error) {
        // The API's client asks again.
        this.lateRemaining.push(index);
        if (!isInjected(error)) throw error;
      }
    });
  }

  /** `DELETE /v1/subscriptions/{id}`: the same domain function the API route calls. */
  private spawnCancel(index: number): void {
    const id = subscriptionIdOf(index);
    this.spawn(`cancel ${id}`, async (task) => {
      try {
        const io = this.io(task);
        const result = await cancelSubscription(
          { subscriptions: io.subscriptions, charges: io.charges },
          storeOf(index),
          id,
          { canceledAt: new Date(this.clock.now).toISOString(), eventId: `evt_cancel_${id}` },
        );
        this.trace.push(`  cancel ${id}: ${result.outcome}`);
      } catch (error) {
        if (!isInjected(error)) throw error;
      }
    });
  }

  /** `PATCH /v1/subscriptions/{id}`: the same domain function the API route calls. */
  private spawnPatch(index: number, patch: SubscriptionPatch): void {
    const id = subscriptionIdOf(index);
    this.spawn(`patch ${id}`, async (task) => {
      try {
        const io = this.io(task);
        const result = await updateSubscription(
          { subscriptions: io.subscriptions, charges: io.charges },
          storeOf(index),
          id,
          patch,
          { now: this.clock.now, eventId: `evt_patch_${id}` },
        );
        this.trace.push(`  patch ${id} ${JSON.stringify(patch)}: ${result.outcome}`);
      } catch (error) {
        if (!isInjected(error)) throw error;
      }
    });
  }

  private async runQueueSend(task: Task, message: RunMessage, delaySeconds = 0): Promise<void> {
    const fault = await this.point(task, { kind: 'send', label: `send run step ${message.owner}` });
    const queued = { message, receives: 0, visibleAt: this.clock.now + delaySeconds * 1000 };
    this.runQueue.push(queued);
    if (fault === 'duplicate') this.runQueue.push({ ...queued });
  }

  private runDeps(task: Task): RunWorkDeps {
    const io = this.io(task);
    const datafeeds: DatafeedStore = {
      put: async (runId, storeId, xml, version) => {
        await this.point(task, { kind: 'store', label: `datafeed ${storeId}` });
        this.datafeeds.set(`${runId}/${version}/${storeId}`, xml);
      },
      get: async (runId, storeId, version) => this.datafeeds.get(`${runId}/${version}/${storeId}`),
    };
    const events: EventsRepository = {
      put: async (event: PipelineEvent) => {
        await this.point(task, { kind: 'store', label: `event ${event.type}` });
        return true;
      },
      get: async () => undefined,
      list: async () => ({ events: [] }),
    };
    return {
      runs: io.runs,
      due: io.due,
      subscriptions: io.subscriptions,
      charges: io.charges,
      chargeQueue: {
        send: async (messages: readonly DomainChargeMessage[]) => {
          if (messages.length === 0) return;
          const fault = await this.point(task, { kind: 'send', label: `send ${messages.length} charges` });
          for (const message of messages) {
            const queued = { message, receives: 0, visibleAt: this.clock.now };
            this.chargeQueue.push(queued);
            if (fault === 'duplicate') this.chargeQueue.push({ ...queued });
          }
        },
      },
      datafeeds,
      events,
      now: () => this.clock.now,
      settings: RUN_SETTINGS,
      checkpoint: async (point) => {
        await this.point(task, { kind: 'checkpoint', label: `checkpoint ${point}` });
      },
    };
  }

  // ---------------------------------------------------------------------------------------------------------
  // The DynamoDB client under the scheduler, and what it observes

  private chaosDocumentClient(doc: DynamoDBDocumentClient, task: Task): DynamoDBDocumentClient {
    const send = async (command: { input: Record<string, unknown> }) => {
      const name = command.constructor.name.replace(/Command$/, '');
      const input = command.input;
      const items = (input.TransactItems ?? []) as Record<string, { TableName?: string }>[];
      const tables = [
        input.TableName as string | undefined,
        ...Object.keys((input.RequestItems as Record<string, unknown> | undefined) ?? {}),
        ...items.flatMap((item) => Object.values(item).map((operation) => operation.TableName)),
      ];
      const kind = [...new Set(tables.flatMap((table) => (table ? [table.replace(/^.*-/, '')] : [])))].join(
        '+',
      );
      const write = /^(Put|Update|Delete|BatchWrite|TransactWrite)/.test(name);
      const label = `${name} ${kind}`;
      const fault = await this.point(task, { kind: write ? 'write' : 'read', label });
      if (fault === 'throttle') throw throttled(label);
      this.seq += 1;
      this.stats.dynamodbCalls += 1;
      const seq = this.seq;
      if (command instanceof QueryCommand && input.IndexName === 'due') {
        const values = input.ExpressionAttributeValues as Record<string, string>;
        this.dueReads.push({
          seq,
          task: task.name,
          shard: values[':shard'] ?? '',
          fromStart: !input.ExclusiveStartKey,
        });
      }
      const output = await this.track(doc.send(command as never));
      this.observe(task, seq, command, output as Record<string, unknown>);
      return output;
    };
    return new Proxy(doc, {
      get: (target, property, receiver) =>
        property === 'send' ? send : Reflect.get(target, property, receiver),
    });
  }

  private observe(task: Task, seq: number, command: unknown, output: Record<string, unknown>): void {
    const input = (command as { input: Record<string, unknown> }).input;
    if (input.TableName === this.tables.charges) {
      // The table as the writes left it gives each stream record its old image.
      const key = input.Key as { subscriptionKey: string; chargeKey: string } | undefined;
      const item = input.Item as ChargeRecord | undefined;
      const id = item
        ? `${item.subscriptionKey}|${item.chargeKey}`
        : `${key?.subscriptionKey}|${key?.chargeKey}`;
      const before = this.shadow.get(id);
      let after: ChargeRecord | undefined;
      if (command instanceof PutCommand) after = item;
      else if (command instanceof UpdateCommand) after = output.Attributes as ChargeRecord;
      else if (command instanceof DeleteCommand) after = undefined;
      else return;
      if (after) this.shadow.set(id, after);
      else this.shadow.delete(id);
      if (JSON.stringify(before) === JSON.stringify(after)) return;
      this.streamRecords.push({ seq, before, after });
      // A withdrawal's delete is conditional on its run; a release's is not (told apart by the write itself, not
      // by which task was withdrawing at the time: the two can run at once).
      if (command instanceof DeleteCommand && before) {
        const withdrawal = String(input.ConditionExpression ?? '').includes('runId');
        (withdrawal ? this.withdrawn : this.released).add(id);
      }
      if (after && !before?.firstAskedAt && after.firstAskedAt && !this.askedAt.has(id)) {
        this.askedAt.set(id, seq);
        this.firstMarks.set(id, { task: task.name });
      }
      if (
        after &&
        after.status !== before?.status &&
        (after.status === 'succeeded' || after.status === 'failed')
      ) {
        this.resolutions.set(id, (this.resolutions.get(id) ?? 0) + 1);
      }
      if (after && (after.keyGeneration ?? 0) > (before?.keyGeneration ?? 0)) this.stats.rekeys += 1;
      return;
    }
    if (input.TableName === this.tables.subscriptions && command instanceof GetCommand) {
      const key = input.Key as { storeId: string; subscriptionId: string };
      for (const [id, mark] of this.firstMarks) {
        if (
          mark.task === task.name &&
          mark.readAt === undefined &&
          id.startsWith(`${key.storeId}#${key.subscriptionId}|`)
        ) {
          mark.readAt = seq;
        }
      }
      return;
    }
    if (input.TableName === this.tables.subscriptions && command instanceof PutCommand) {
      const item = input.Item as Subscription;
      if (item.changeType) {
        // A change (PATCH's `replace`), not a creation.
        if (item.status === 'paused' && !this.pauses.has(item.subscriptionId)) {
          this.pauses.set(item.subscriptionId, seq);
        }
        if (item.amount === REPRICED_AMOUNT && !this.reprices.has(item.subscriptionId)) {
          this.reprices.set(item.subscriptionId, { seq, amount: item.amount });
        }
        return;
      }
      this.lateWrites.set(item.subscriptionId, { seq, runCompleted: this.completedBy !== undefined });
      return;
    }
    if (input.TableName === this.tables.subscriptions && command instanceof UpdateCommand) {
      const after = output.Attributes as Subscription | undefined;
      if (
        after?.status === 'canceled' &&
        after.cancelReason === 'requested' &&
        !this.cancels.has(after.subscriptionId)
      ) {
        this.cancels.set(after.subscriptionId, seq);
      }
      return;
    }
    if (input.TableName !== this.tables.runs) return;
    const run =
      (output.Attributes as Run | undefined) ??
      (command instanceof PutCommand ? (input.Item as Run) : undefined);
    if (!run || !(command instanceof UpdateCommand || command instanceof PutCommand)) return;
    if (!run.lease || (input.Key as { sk?: string } | undefined)?.sk?.startsWith('page#')) return;
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    const fence =
      typeof values[':fenceOwner'] === 'string'
        ? { owner: values[':fenceOwner'] as string, version: values[':fenceVersion'] as number }
        : undefined;
    if (fence && fence.version < this.leaseHighWater) {
      this.violations.push(
        `a fenced write by ${fence.owner} v${fence.version} changed the run after v${this.leaseHighWater} took over`,
      );
    }
    const previous = this.runWrites[this.runWrites.length - 1]?.run;
    if (run.lease.version > this.leaseHighWater) {
      if (previous?.lease && previous.lease.owner !== run.lease.owner) this.stats.takeovers += 1;
      this.leaseHighWater = run.lease.version;
    }
    if (previous && compareCursors(run, previous) < 0) {
      this.violations.push(
        `the cursor went backwards (${cursorText(previous)} → ${cursorText(run)}) by ${task.name}${fence ? ` v${fence.version}` : ''}`,
      );
    }
    if (previous?.status === 'completed' && run.status !== 'completed') {
      this.violations.push(`a completed run became ${run.status} again`);
    }
    if (run.status === 'completed' && !this.completedBy) this.completedBy = { task: task.name, seq };
    this.runWrites.push({ seq, task: task.name, ...(fence ? { fence } : {}), run });
  }
}

function cursorText(run: Run): string {
  if (run.enumerated) return 'enumerated';
  const after = run.cursor.after as { dueAt?: string; subscriptionId?: string } | undefined;
  return `shard ${run.cursor.shard}${after ? ` after ${after.subscriptionId}@${after.dueAt}` : ''}`;
}

/** Orders enumeration positions: (enumerated, shard, key within the shard). */
function compareCursors(a: Run, b: Run): number {
  if (a.enumerated !== b.enumerated) return a.enumerated ? 1 : -1;
  if (a.enumerated) return 0;
  if (a.cursor.shard !== b.cursor.shard) return a.cursor.shard - b.cursor.shard;
  const key = (run: Run) => {
    const after = run.cursor.after as { dueAt?: string; subscriptionId?: string } | undefined;
    return after ? `1|${after.dueAt}|${after.subscriptionId}` : '0';
  };
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
