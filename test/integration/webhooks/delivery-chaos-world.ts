import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ulid } from 'ulid';
import { DynamoEventsRepository } from '../../../lambdas/events/adapters/dynamo-events-repository';
import type { EventType, PipelineEvent } from '../../../lambdas/events/domain/events';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { dnsResolver } from '../../../lambdas/webhooks/adapters/dns-resolver';
import { DynamoAttemptsRepository } from '../../../lambdas/webhooks/adapters/dynamo-attempts-repository';
import { DynamoEndpointsRepository } from '../../../lambdas/webhooks/adapters/dynamo-endpoints-repository';
import { delaySeconds } from '../../../lambdas/webhooks/adapters/sqs-delivery-queue';
import { WebhookHttpClient } from '../../../lambdas/webhooks/adapters/webhook-http-client';
import {
  Delivery,
  type DeliveryEventMetric,
  type WebhookSender,
} from '../../../lambdas/webhooks/domain/delivery';
import { deliverBatch } from '../../../lambdas/webhooks/domain/delivery-batch';
import { type Endpoint, endpointWants } from '../../../lambdas/webhooks/domain/endpoints';
import {
  CachedEndpoints,
  fanOutBatch,
  type StreamRecordInput,
} from '../../../lambdas/webhooks/domain/fanout';
import {
  type DeliveryMessage,
  type DeliveryQueue,
  parseDeliveryRecord,
} from '../../../lambdas/webhooks/domain/messages';
import { runReplay } from '../../../lambdas/webhooks/domain/replay';
import { localClientConfig } from '../../../local/aws-clients';
import { silentLogger } from '../../unit/support/logger';

/**
 * The world one schedule of the delivery chaos test runs in (delivery-chaos.test.ts).
 *
 * Real: the consumers `fanOutBatch` and `deliverBatch` with the `Delivery` of two execution environments, the
 * DynamoDB adapters on DynamoDB Local, the webhook HTTP client and an HTTP receiver on 127.0.0.1, `runReplay`.
 * Modelled: the clock (a model time every component reads, so leases, delays and visibility timeouts cost no wall
 * time), the deliveries queue with SQS standard's semantics, and the two DynamoDB streams with Lambda's:
 * - SQS: a received message is invisible for the visibility timeout, and comes back then unless deleted; a batch
 *   deletes what it did not report; an invocation that crashed deletes nothing; a message received more than
 *   maxReceiveCount times goes to the DLQ; messages are received in any order among the visible ones; a
 *   `duplicate` fault leaves a copy of a received message behind with its own receive count (it reads 1 when
 *   received, as the copies SQS keeps on its other servers may: "at-least-once delivery" in the SQS guide);
 * - streams: one shard each, in order; a batch reporting failures is retried from the lowest sequence number
 *   reported (the records after it that succeeded are processed again); a crashed invocation retries the batch.
 * Faults are injected at the SDK level, by a middleware on each environment's DynamoDB client: a crash (before or
 * after a named call: every later call of that invocation fails, and its result is thrown away as Lambda's would
 * be), a throttled success record after a 2xx (`ProvisionedThroughputExceededException`, as the SDK raises it when
 * its own retries are spent), a throttled event put in the fan-out. The queue and the HTTP client have the same
 * crash points around them.
 *
 * Liveness of the model: an available message waits at most FAIRNESS_MS of model time before the consumers take
 * it (time only moves past that by processing it). A record-only follow-up held longer than the lease's grace
 * could let a copy send again: the residual named in docs/webhooks-design.md, not modelled here.
 */
/** Three attempts: short enough that schedules of a few dozen steps exhaust some. */
export const RETRY_SCHEDULE_MS = [0, 2_000, 10_000];
export const FUNCTION_TIMEOUT_MS = 60_000;
/** Six times the function's timeout, as the DurableQueue construct sets it. */
export const VISIBILITY_TIMEOUT_MS = 6 * FUNCTION_TIMEOUT_MS;
/** The DurableQueue construct's default is 5; 3 is reached by schedules this short, and the rule is the same. */
export const MAX_RECEIVE_COUNT = 3;
export const FAIRNESS_MS = 60_000;
/**
 * Real time: a hanging receiver costs the test this much wall time per attempt. A receiver's 2xx that reaches the
 * client after it (a loaded machine) is the receiver-side duplicate Standard Webhooks receivers dedupe: detected
 * and counted apart ("2xx after the client gave up"), never taken for one of the pipeline's.
 */
export const CLIENT_TIMEOUT_MS = 300;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export type Behavior = 'ok' | 'error' | 'gone' | 'hang' | 'busy' | 'flaky';
export const BEHAVIORS: readonly Behavior[] = ['ok', 'error', 'gone', 'hang', 'busy', 'flaky'];
export type Filter = 'all' | 'transactions' | 'charges';
export type EventKind = 'transaction' | 'subscription.charged' | 'subscription.canceled';
export type Op = 'fanout' | 'deliver' | 'parallel' | 'advance' | 'replay' | 'behave';
export type Fault = 'none' | 'crash' | 'throttle' | 'record-fails' | 'duplicate' | 'stream-fault';

export interface EndpointPlan {
  readonly filter: Filter;
  readonly behavior: Behavior;
}
export interface Decision {
  readonly op: Op;
  readonly pick: number;
  readonly fault: Fault;
  readonly point: number;
}
export interface Scenario {
  readonly endpoints: readonly EndpointPlan[];
  readonly events: readonly EventKind[];
  readonly decisions: readonly Decision[];
}

type CallKind =
  | 'claim'
  | 'record-success'
  | 'record-failure'
  | 'release'
  | 'endpoint-write'
  | 'event-put'
  | 'event-read'
  | 'other'
  | 'queue-send'
  | 'post';
type Phase = 'before' | 'after';
const DELIVERY_CRASH_POINTS: readonly [CallKind, Phase][] = [
  ['claim', 'before'],
  ['claim', 'after'],
  ['post', 'before'],
  ['post', 'after'],
  ['post', 'after'],
  ['record-success', 'before'],
  ['record-success', 'after'],
  ['record-failure', 'after'],
  ['release', 'before'],
  ['queue-send', 'before'],
  ['queue-send', 'after'],
];
const FANOUT_CRASH_POINTS: readonly [CallKind, Phase][] = [
  ['event-put', 'before'],
  ['event-put', 'after'],
  ['queue-send', 'before'],
  ['queue-send', 'after'],
];
const THROTTLED_CALLS: readonly CallKind[] = [
  'claim',
  'record-failure',
  'release',
  'endpoint-write',
  'event-read',
];
const ADVANCES_MS = [1_000, 5_000, 30_000, 120_000, 400_000, 1_000_000];

class Crash extends Error {
  override readonly name = 'Crash';
}

function throttled(): Error {
  return Object.assign(new Error('Rate of requests exceeds the allowed throughput (injected).'), {
    name: 'ProvisionedThroughputExceededException',
    $fault: 'client',
  });
}

interface Invocation {
  crashed: boolean;
  readonly crashAt?: readonly [CallKind, Phase];
  /** The first call of this kind is throttled (the SDK's retries spent): its message fails and comes back. */
  throttle?: CallKind;
  /** A fan-out fault: the put of this event fails, or the send of its messages. */
  readonly failEvent?: { readonly eventId: string; readonly at: 'event-put' | 'queue-send' };
  /** The deliveries whose lease this invocation took (`endpoint#event#replay`). */
  readonly claimed: string[];
  /** `endpoint#event` of every 2xx this invocation received. */
  readonly answered2xx: string[];
}

const idle = (): Invocation => ({ crashed: false, claimed: [], answered2xx: [] });

/** `endpoint#event#replay`: one delivery. */
export function deliveryKey(d: { endpointId: string; eventId: string; replayId?: string }): string {
  return `${d.endpointId}#${d.eventId}#${d.replayId ?? '0'}`;
}

// ---------------------------------------------------------------------------------------------------------------
// A lane: tables, a receiver and clients shared by the schedules of one fast-check run

interface Received {
  readonly endpointId: string;
  readonly webhookId: string;
  /** The harness's tag of the request (a header the sender adds), to match what the client saw. */
  readonly requestId: string;
  readonly answered: number | 'hang';
}

/** The header the harness's sender adds to each request. */
const REQUEST_ID_HEADER = 'x-chaos-request';

/** The receivers of a lane: one HTTP server, one path per endpoint, answering as its behaviour says. */
class Receivers {
  readonly requests: Received[] = [];
  readonly behaviors = new Map<string, Behavior>();
  private readonly counts = new Map<string, number>();
  private readonly hanging = new Set<ServerResponse>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<Receivers> {
    let receivers: Receivers | undefined;
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () =>
        receivers?.answer(
          request.url ?? '',
          String(request.headers['webhook-id']),
          String(request.headers[REQUEST_ID_HEADER]),
          response,
        ),
      );
    });
    server.keepAliveTimeout = 60_000;
    receivers = new Receivers(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receivers;
  }

  urlOf(endpointId: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/h/${endpointId}`;
  }

  reset(): void {
    this.requests.length = 0;
    this.behaviors.clear();
    this.counts.clear();
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(url: string, webhookId: string, requestId: string, response: ServerResponse): void {
    const endpointId = url.split('/').pop() ?? '';
    const count = (this.counts.get(endpointId) ?? 0) + 1;
    this.counts.set(endpointId, count);
    const behavior = this.behaviors.get(endpointId) ?? 'ok';
    if (behavior === 'hang') {
      this.requests.push({ endpointId, webhookId, requestId, answered: 'hang' });
      // The client gives up first; the response is dropped after it, so nothing is answered late.
      this.hanging.add(response);
      setTimeout(() => {
        this.hanging.delete(response);
        response.destroy();
      }, CLIENT_TIMEOUT_MS * 3).unref();
      return;
    }
    const status =
      behavior === 'ok'
        ? 204
        : behavior === 'error'
          ? 500
          : behavior === 'gone'
            ? 410
            : behavior === 'busy'
              ? 503
              : count % 2 === 0
                ? 200
                : 502;
    this.requests.push({ endpointId, webhookId, requestId, answered: status });
    response.writeHead(status, status === 503 ? { 'retry-after': '2' } : {}).end(status >= 300 ? 'no' : '');
  }
}

export interface LaneTables {
  /** Named in stream ARNs only: the fan-out reads its records from the model stream. */
  readonly transactions: string;
  readonly events: string;
  readonly webhooks: string;
  readonly attempts: string;
}

export class Lane {
  private constructor(
    readonly raw: DynamoDBClient,
    readonly tables: LaneTables,
    readonly receivers: Receivers,
    readonly http: WebhookHttpClient,
    private readonly endpoint: string,
  ) {}

  static async open(endpoint: string, name: string): Promise<Lane> {
    const raw = new DynamoDBClient(localClientConfig(endpoint));
    const tables = {
      transactions: `${name}-transactions`,
      events: `${name}-events`,
      webhooks: `${name}-webhooks`,
      attempts: `${name}-attempts`,
    };
    const table = (TableName: string, hash: string, range: string) =>
      raw.send(
        new CreateTableCommand({
          TableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: hash, AttributeType: 'S' },
            { AttributeName: range, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: hash, KeyType: 'HASH' },
            { AttributeName: range, KeyType: 'RANGE' },
          ],
        }),
      );
    // The keys of lib/pipeline-stack.ts.
    await Promise.all([
      table(tables.events, 'storeId', 'eventId'),
      table(tables.webhooks, 'storeId', 'endpointId'),
      table(tables.attempts, 'endpointId', 'sk'),
    ]);
    const http = new WebhookHttpClient({
      timeoutMs: CLIENT_TIMEOUT_MS,
      allowPrivateTargets: true,
      requireHttps: false,
      resolver: dnsResolver,
    });
    return new Lane(raw, tables, await Receivers.start(), http, endpoint);
  }

  /** An execution environment: its own DynamoDB client, whose middleware is the crash and fault points. */
  environment(): Environment {
    return new Environment(this, new DynamoDBClient(localClientConfig(this.endpoint)));
  }

  async close(): Promise<void> {
    this.http.close();
    await this.receivers.stop();
    await Promise.all(
      Object.values(this.tables).map((TableName) =>
        this.raw.send(new DeleteTableCommand({ TableName })).catch(() => undefined),
      ),
    );
    this.raw.destroy();
  }
}

/** What the schedules of a lane went through, summed (the test checks that each happened at least once). */
export type Stats = Record<string, number>;

/** A Lambda execution environment: adapters over its own client; a crash ends its invocation and resets it. */
class Environment {
  invocation: Invocation = idle();
  world: DeliveryChaosWorld | undefined;
  private delivery: Delivery | undefined;
  readonly docs;

  constructor(
    readonly lane: Lane,
    readonly client: DynamoDBClient,
  ) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const kind = this.kindOf(String(context.commandName), args.input as Record<string, unknown>);
        this.point(kind, 'before');
        const injected = this.world?.injectedFault(
          kind,
          args.input as Record<string, unknown>,
          this.invocation,
        );
        if (injected) throw injected;
        const result = await next(args);
        if (kind === 'claim') this.invocation.claimed.push(deliveryKey((args.input as { Item: never }).Item));
        this.point(kind, 'after');
        return result;
      },
      { step: 'initialize', name: 'deliveryChaos' },
    );
    this.docs = createDocumentClient(client);
  }

  /** The environment's Delivery: a new one after a crash, as Lambda starts a new execution environment. */
  deliveryFor(world: DeliveryChaosWorld): Delivery {
    this.delivery ??= new Delivery({
      endpoints: new CachedEndpoints(this.endpoints(), { now: () => world.now }),
      endpointWrites: this.endpoints(),
      events: new DynamoEventsRepository({ client: this.docs, tableName: this.lane.tables.events }),
      attempts: new DynamoAttemptsRepository({ client: this.docs, tableName: this.lane.tables.attempts }),
      queue: this.queue(world),
      sender: this.sender(),
      metrics: {
        attempted: () => undefined,
        count: (name: DeliveryEventMetric) => world.count(name),
      },
      logger: silentLogger,
      retryScheduleMs: RETRY_SCHEDULE_MS,
      disableAfterMs: 86_400_000,
      now: () => world.now,
      random: () => world.random(),
      sleep: async () => undefined,
    });
    return this.delivery;
  }

  restart(): void {
    this.delivery = undefined;
  }

  endpoints(): DynamoEndpointsRepository {
    return new DynamoEndpointsRepository({ client: this.docs, tableName: this.lane.tables.webhooks });
  }

  /** The deliveries queue as this environment's code sees it: a crash point on each send. */
  queue(world: DeliveryChaosWorld): DeliveryQueue {
    return {
      send: async (messages) => {
        this.point('queue-send', 'before');
        const failing = this.invocation.failEvent;
        if (failing?.at === 'queue-send' && messages.some((m) => m.eventId === failing.eventId)) {
          throw new Error('SQS refused 1 of the delivery messages: InternalError (injected)');
        }
        await world.queue.send(messages);
        this.point('queue-send', 'after');
      },
      sendToDeadLetter: async (message, reason) => {
        this.point('queue-send', 'before');
        world.queue.deadLetter(message, `handler: ${reason}`);
        this.point('queue-send', 'after');
      },
    };
  }

  private sender(): WebhookSender {
    return {
      post: async (url, body, headers) => {
        this.point('post', 'before');
        const requestId = ulid();
        const result = await this.lane.http.post(url, body, { ...headers, [REQUEST_ID_HEADER]: requestId });
        const key = `${url.split('/').pop()}#${(JSON.parse(body) as PipelineEvent).id}`;
        if (result.status !== undefined && result.status >= 200 && result.status < 300) {
          this.invocation.answered2xx.push(key);
        } else if (result.status === undefined) {
          // The receiver may not even have seen the request yet (a loaded machine): whether it answered 2xx
          // after the client gave up is judged when the schedule is checked, by the request's id.
          this.world?.gaveUpOn(requestId);
        }
        this.point('post', 'after');
        return result;
      },
    };
  }

  private crashesAt(kind: CallKind, phase: Phase): boolean {
    const at = this.invocation.crashAt;
    return at !== undefined && at[0] === kind && at[1] === phase;
  }

  /** Throws once the invocation has crashed, and crashes it at its crash point. */
  private point(kind: CallKind, phase: Phase): void {
    if (this.invocation.crashed) throw new Crash('the invocation crashed');
    if (this.crashesAt(kind, phase)) {
      this.invocation.crashed = true;
      throw new Crash(`crash ${phase} ${kind}`);
    }
  }

  private kindOf(command: string, input: Record<string, unknown>): CallKind {
    const table = String(input.TableName ?? '');
    const { tables } = this.lane;
    if (table === tables.attempts) {
      if (command === 'DeleteItemCommand') return 'release';
      const status = (input.Item as { status?: string } | undefined)?.status;
      if (status === 'sending') return 'claim';
      if (status === 'succeeded') return 'record-success';
      if (status === 'failed') return 'record-failure';
      return 'other';
    }
    if (table === tables.webhooks && command !== 'GetItemCommand' && command !== 'QueryCommand') {
      return 'endpoint-write';
    }
    if (table === tables.events) return command === 'PutItemCommand' ? 'event-put' : 'event-read';
    return 'other';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The deliveries queue, with SQS standard's semantics

interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  visibleAt: number;
  receiveCount: number;
}

class ModelQueue {
  readonly messages: QueuedMessage[] = [];
  readonly deadLetters: { readonly message: DeliveryMessage; readonly reason: string }[] = [];

  constructor(private readonly world: DeliveryChaosWorld) {}

  async send(messages: readonly DeliveryMessage[]): Promise<void> {
    const now = this.world.now;
    for (const message of messages) {
      this.messages.push({
        messageId: ulid(),
        body: JSON.stringify(message),
        visibleAt: now + delaySeconds(message, now) * 1000,
        receiveCount: 0,
      });
    }
  }

  deadLetter(message: DeliveryMessage, reason: string): void {
    this.deadLetters.push({ message, reason });
  }

  visible(): QueuedMessage[] {
    return this.messages.filter((m) => m.visibleAt <= this.world.now);
  }

  /** Up to `count` visible messages, in an order `pick` chooses; over maxReceiveCount goes to the DLQ. */
  receive(count: number, pick: number): QueuedMessage[] {
    const candidates = this.visible();
    const batch: QueuedMessage[] = [];
    let seed = pick;
    while (batch.length < count && candidates.length > 0) {
      seed = (seed * 1_103_515_245 + 12_345) >>> 0;
      const [taken] = candidates.splice(seed % candidates.length, 1);
      if (!taken) break;
      taken.receiveCount += 1;
      if (taken.receiveCount > MAX_RECEIVE_COUNT) {
        this.remove(taken);
        this.deadLetter(JSON.parse(taken.body), 'redrive: maxReceiveCount');
        this.world.count('redriven');
        continue;
      }
      taken.visibleAt = this.world.now + VISIBILITY_TIMEOUT_MS;
      batch.push(taken);
    }
    return batch;
  }

  /** A copy SQS keeps on another server that missed a receive or a delete: received again later, counting 1. */
  duplicate(of: QueuedMessage, afterMs: number): void {
    this.messages.push({ ...of, visibleAt: this.world.now + afterMs, receiveCount: 0 });
  }

  remove(message: QueuedMessage): void {
    const index = this.messages.indexOf(message);
    if (index >= 0) this.messages.splice(index, 1);
  }

  nextVisibleAt(): number | undefined {
    return this.messages.reduce<number | undefined>(
      (min, m) => (min === undefined || m.visibleAt < min ? m.visibleAt : min),
      undefined,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One schedule

interface Stream {
  readonly records: StreamRecordInput[];
  checkpoint: number;
}

export interface Verdict {
  readonly problems: string[];
}

export class DeliveryChaosWorld {
  now: number;
  private readonly start: number;
  readonly queue = new ModelQueue(this);
  readonly trace: string[] = [];
  readonly stats: Stats = {};
  private readonly storeId: string;
  private readonly endpoints: Endpoint[] = [];
  private readonly events: PipelineEvent[] = [];
  private readonly streams: Record<'transactions' | 'events', Stream> = {
    transactions: { records: [], checkpoint: 0 },
    events: { records: [], checkpoint: 0 },
  };
  /** Replays that sent a message, by `endpoint#event`. */
  private readonly replays = new Map<string, Set<string>>();
  /** 2xx answers a crash threw away before their record: `endpoint#event` → how many. */
  private readonly atRisk = new Map<string, number>();
  /** 2xx answers that reached the client after its timeout: `endpoint#event` → how many. */
  private readonly gaveUp = new Set<string>();
  /** Success records still to fail, by delivery key (the SDK-level injection). */
  private readonly recordFailures = new Map<string, number>();
  /**
   * Lease claims still to be throttled, by delivery key: DynamoDB refusing one item for a while. Kept through the
   * drain, so a message refused on every receive goes to the DLQ by SQS's redrive.
   */
  private readonly claimThrottles = new Map<string, number>();
  private rng: number;
  private replaySequence = 0;

  constructor(
    private readonly lane: Lane,
    private readonly envs: readonly [Environment, Environment, Environment],
    private readonly scenario: Scenario,
    id: string,
    seed: number,
  ) {
    this.now = Date.now();
    this.start = this.now;
    this.storeId = `st-${id}`;
    this.rng = seed >>> 0 || 1;
    for (const env of envs) {
      env.world = this;
      env.invocation = idle();
      env.restart();
    }
  }

  static environments(lane: Lane): [Environment, Environment, Environment] {
    return [lane.environment(), lane.environment(), lane.environment()];
  }

  count(name: DeliveryEventMetric | string, n = 1): void {
    this.stats[name] = (this.stats[name] ?? 0) + n;
  }

  /** The client gave up on this request (timeout, reset): a 2xx the receiver gives it counts as answered late. */
  gaveUpOn(requestId: string): void {
    this.gaveUp.add(requestId);
  }

  random(): number {
    this.rng = (this.rng * 1_103_515_245 + 12_345) >>> 0;
    return this.rng / 0x1_0000_0000;
  }

  // -------------------------------------------------------------------------------------------------------------

  async setUp(): Promise<void> {
    const { receivers, tables } = this.lane;
    receivers.reset();
    const observer = this.envs[2].endpoints();
    const at = new Date(this.now).toISOString();
    for (const [index, plan] of this.scenario.endpoints.entries()) {
      const id = `${this.storeId}-ep${index}`;
      const endpoint: Endpoint = {
        id,
        storeId: this.storeId,
        url: receivers.urlOf(id),
        events:
          plan.filter === 'all'
            ? ['*']
            : plan.filter === 'transactions'
              ? ['transaction.created']
              : ['subscription.charged'],
        status: 'enabled',
        secrets: [{ secret: SECRET }],
        createdAt: at,
        updatedAt: at,
      };
      await observer.create(endpoint);
      this.endpoints.push(endpoint);
      receivers.behaviors.set(id, plan.behavior);
    }
    const events = new DynamoEventsRepository({ client: this.envs[2].docs, tableName: tables.events });
    for (const [index, kind] of this.scenario.events.entries()) {
      // A millisecond apart at least: a replay window of one millisecond holds exactly one event.
      const createdAt = this.now - 60_000 + index * 1_000;
      const eventId = `evt_${ulid(createdAt)}`;
      const sequenceNumber = String(index + 1).padStart(6, '0');
      if (kind === 'transaction') {
        const txnId = `txn_${index}`;
        const transaction = { id: txnId, total: 1_000 + index, currency: 'EUR' };
        this.events.push({
          id: eventId,
          type: 'transaction.created',
          createdAt: new Date(createdAt).toISOString(),
          storeId: this.storeId,
          data: transaction,
        });
        this.streams.transactions.records.push({
          sequenceNumber,
          eventName: 'INSERT',
          table: 'transactions',
          keys: { storeId: this.storeId, txnId },
          newImage: {
            storeId: this.storeId,
            txnId,
            eventId,
            fingerprint: 'f',
            acceptedAt: new Date(createdAt).toISOString(),
            transaction,
          },
        });
      } else {
        // A direct event: its producer wrote it to the events table (in its own transaction); the stream carries it.
        const event: PipelineEvent = {
          id: eventId,
          type: kind as EventType,
          createdAt: new Date(createdAt).toISOString(),
          storeId: this.storeId,
          data: { subscriptionId: `sub_${index}` },
        };
        this.events.push(event);
        await events.put(event, 'direct');
        this.streams.events.records.push({
          sequenceNumber,
          eventName: 'INSERT',
          table: 'events',
          keys: { storeId: this.storeId, eventId },
          newImage: {
            storeId: this.storeId,
            eventId,
            type: kind,
            createdAt: event.createdAt,
            data: event.data,
            origin: 'direct',
          },
        });
      }
    }
  }

  async chaos(): Promise<void> {
    for (const decision of this.scenario.decisions) await this.step(decision);
  }

  /** No more faults, every receiver healthy: run until every queue and stream is empty. */
  async quiesce(): Promise<void> {
    for (const endpoint of this.endpoints) this.lane.receivers.behaviors.set(endpoint.id, 'ok');
    this.recordFailures.clear();
    for (let steps = 0; steps < 3_000; steps++) {
      const stream = this.pendingStream();
      if (stream) {
        await this.fanOut(stream, 10, { op: 'fanout', pick: 0, fault: 'none', point: 0 });
        continue;
      }
      if (this.queue.visible().length > 0) {
        await this.deliver(steps % 2, 10, steps, 'none', 0);
        continue;
      }
      const next = this.queue.nextVisibleAt();
      if (next === undefined) return;
      this.now = Math.max(this.now, next);
    }
    throw new Error(`the schedule did not settle: ${this.queue.messages.length} messages left`);
  }

  private async step(decision: Decision): Promise<void> {
    const { op, pick, fault, point } = decision;
    switch (op) {
      case 'fanout': {
        const stream = this.pendingStream(pick);
        if (stream) await this.fanOut(stream, 1 + (pick % 4), decision);
        return;
      }
      case 'deliver':
        return this.deliver(pick % 2, 1 + (pick % 3), pick, fault, point);
      case 'parallel': {
        this.count('parallel');
        const first = this.queue.receive(1 + (pick % 3), pick);
        const second = this.queue.receive(1 + (point % 3), point);
        await Promise.all([
          this.invoke(0, first, fault, point),
          this.invoke(1, second, fault === 'crash' ? 'none' : fault, point + 1),
        ]);
        return;
      }
      case 'advance':
        return this.advance(ADVANCES_MS[pick % ADVANCES_MS.length] ?? 1_000);
      case 'replay':
        return this.replay(pick, point, fault === 'duplicate');
      case 'behave': {
        const endpoint = this.endpoints[pick % this.endpoints.length];
        const behavior = BEHAVIORS[point % BEHAVIORS.length] ?? 'ok';
        if (endpoint) this.lane.receivers.behaviors.set(endpoint.id, behavior);
        this.trace.push(`behave ${endpoint?.id} ${behavior}`);
        return;
      }
    }
  }

  /** Model time moves on, but an available message is taken within FAIRNESS_MS: the consumers are running. */
  private async advance(ms: number): Promise<void> {
    const oldest = this.queue
      .visible()
      .reduce((min, m) => Math.min(min, m.visibleAt), Number.POSITIVE_INFINITY);
    const target = Math.min(this.now + ms, Math.max(this.now, oldest + FAIRNESS_MS));
    if (target <= this.now) {
      await this.deliver(0, 3, ms, 'none', 0);
      return;
    }
    this.now = target;
    this.trace.push(`advance to +${Math.round((target - this.start) / 1000)} s`);
  }

  private pendingStream(pick = 0): Stream | undefined {
    const pending = (['transactions', 'events'] as const)
      .map((name) => this.streams[name])
      .filter((stream) => stream.checkpoint < stream.records.length);
    return pending[pick % Math.max(1, pending.length)];
  }

  private async fanOut(stream: Stream, size: number, decision: Decision): Promise<void> {
    const records = stream.records.slice(stream.checkpoint, stream.checkpoint + size);
    const env = this.envs[2];
    const target = records[decision.point % records.length];
    const eventId = String(target?.newImage?.eventId ?? '');
    env.invocation = {
      ...idle(),
      ...(decision.fault === 'crash'
        ? { crashAt: FANOUT_CRASH_POINTS[decision.point % FANOUT_CRASH_POINTS.length] }
        : {}),
      ...(decision.fault === 'stream-fault'
        ? { failEvent: { eventId, at: decision.pick % 2 === 0 ? 'queue-send' : 'event-put' } as const }
        : {}),
    };
    const invocation = env.invocation;
    const response = await fanOutBatch(
      {
        events: new DynamoEventsRepository({ client: env.docs, tableName: this.lane.tables.events }),
        endpoints: env.endpoints(),
        queue: env.queue(this),
        retryScheduleMs: RETRY_SCHEDULE_MS,
        now: () => this.now,
        logger: silentLogger,
      },
      records,
    );
    env.invocation = idle();
    if (invocation.crashed) {
      this.count('crashes');
      this.trace.push(`fanout ${records.length} records: crashed (${invocation.crashAt?.join(' ')})`);
      return;
    }
    const failed = response.batchItemFailures.map((f) => f.itemIdentifier).sort();
    const lowest = failed[0];
    if (lowest === undefined) {
      stream.checkpoint += records.length;
    } else {
      this.count('stream retries');
      stream.checkpoint = stream.records.findIndex((r) => r.sequenceNumber === lowest);
    }
    this.trace.push(`fanout ${records.length} records: failed [${failed.join(',')}]`);
  }

  private async deliver(
    envIndex: number,
    size: number,
    pick: number,
    fault: Fault,
    point: number,
  ): Promise<void> {
    const received = this.queue.receive(size, pick);
    await this.invoke(envIndex, received, fault, point);
  }

  private async invoke(
    envIndex: number,
    received: QueuedMessage[],
    fault: Fault,
    point: number,
  ): Promise<void> {
    if (received.length === 0) return;
    const env = this.envs[envIndex] as Environment;
    const messages = received.map((m) => JSON.parse(m.body) as DeliveryMessage);
    if (fault === 'duplicate') {
      const of = received[point % received.length] as QueuedMessage;
      this.queue.duplicate(of, (point % 3) * 10_000);
      this.count('duplicates');
    }
    if (fault === 'throttle' && point % 2 === 0) {
      const first = messages[0] as DeliveryMessage;
      this.claimThrottles.set(deliveryKey(first), 1 + ((point >> 1) % 4));
    }
    if (fault === 'record-fails') {
      for (const message of messages) this.recordFailures.set(deliveryKey(message), 1 + (point % 4));
    }
    env.invocation = {
      ...idle(),
      ...(fault === 'crash' ? { crashAt: DELIVERY_CRASH_POINTS[point % DELIVERY_CRASH_POINTS.length] } : {}),
      ...(fault === 'throttle' && point % 2 === 1
        ? { throttle: THROTTLED_CALLS[(point >> 1) % THROTTLED_CALLS.length] }
        : {}),
    };
    const invocation = env.invocation;
    const response = await deliverBatch(
      env.deliveryFor(this),
      received.map((m) =>
        parseDeliveryRecord({
          messageId: m.messageId,
          body: m.body,
          attributes: { ApproximateReceiveCount: String(m.receiveCount) },
        }),
      ),
      { deadline: this.now + FUNCTION_TIMEOUT_MS },
    );
    env.invocation = idle();
    const what = messages.map(
      (m) => `${m.endpointId.split('-').pop()}/${m.eventId.slice(-4)}#${m.attempt}${m.recordOnly ? 'R' : ''}`,
    );
    if (invocation.crashed) {
      // Lambda: the environment is gone and nothing of the batch is deleted.
      env.restart();
      this.count('crashes');
      await this.settleLost2xx(invocation);
      this.trace.push(
        `deliver [${what.join(' ')}] env${envIndex}: crashed (${invocation.crashAt?.join(' ')})`,
      );
      return;
    }
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    for (const message of received) if (!failed.has(message.messageId)) this.queue.remove(message);
    this.trace.push(`deliver [${what.join(' ')}] env${envIndex}: ${failed.size} failed`);
  }

  /**
   * The 2xx answers a crash threw away before their success was recorded (and not handed to a follow-up): the one
   * documented exception to "sent once", counted per `endpoint#event` (replays share it at the receiver).
   */
  private async settleLost2xx(invocation: Invocation): Promise<void> {
    const attempts = new DynamoAttemptsRepository({
      client: this.envs[2].docs,
      tableName: this.lane.tables.attempts,
    });
    for (const answered of invocation.answered2xx) {
      const candidates = invocation.claimed.filter((key) => key.startsWith(`${answered}#`));
      let unrecorded = false;
      for (const key of candidates) {
        const [endpointId = '', eventId = '', replay = '0'] = key.split('#');
        const replayId = replay === '0' ? undefined : replay;
        const followUpPending = this.queue.messages.some((m) => {
          const message = JSON.parse(m.body) as DeliveryMessage;
          return message.recordOnly !== undefined && deliveryKey(message) === key;
        });
        if (!followUpPending && !(await attempts.hasSucceeded(endpointId, eventId, replayId)))
          unrecorded = true;
      }
      if (!unrecorded) continue;
      this.atRisk.set(answered, (this.atRisk.get(answered) ?? 0) + 1);
      this.count('2xx lost to a crash');
    }
  }

  private async replay(pick: number, point: number, twice: boolean): Promise<void> {
    const event = this.events[pick % this.events.length];
    const endpoint = this.endpoints[point % this.endpoints.length];
    if (!event || !endpoint) return;
    this.replaySequence += 1;
    const replayId = `rpl_${this.replaySequence}`;
    const since = Date.parse(event.createdAt);
    const sent: DeliveryMessage[] = [];
    const queue = {
      send: async (messages: readonly DeliveryMessage[]) => {
        sent.push(...messages);
        await this.queue.send(messages);
      },
    };
    const events = new DynamoEventsRepository({
      client: this.envs[2].docs,
      tableName: this.lane.tables.events,
    });
    const job = { storeId: this.storeId, endpointId: endpoint.id, replayId, since, until: since + 1 };
    // A redelivered replay job runs twice: the same replay id, so still one more delivery.
    for (let run = 0; run < (twice ? 2 : 1); run++) await runReplay(job, { events, queue });
    for (const message of sent) {
      if (!endpointWants({ ...endpoint, status: 'enabled' }, event.type)) continue;
      const key = `${message.endpointId}#${message.eventId}`;
      const replays = this.replays.get(key) ?? new Set<string>();
      replays.add(replayId);
      this.replays.set(key, replays);
    }
    if (sent.length > 0) this.count('replays');
    this.trace.push(
      `replay ${event.id.slice(-4)} to ${endpoint.id}: ${sent.length} messages${twice ? ' (job ran twice)' : ''}`,
    );
  }

  /** The SDK-level fault for this call, if any. */
  injectedFault(kind: CallKind, input: Record<string, unknown>, invocation: Invocation): Error | undefined {
    if (invocation.throttle === kind) {
      invocation.throttle = undefined;
      this.count('throttles');
      return throttled();
    }
    if (kind === 'claim') {
      const key = deliveryKey(input.Item as { endpointId: string; eventId: string; replayId?: string });
      const left = this.claimThrottles.get(key) ?? 0;
      if (left > 0) {
        this.claimThrottles.set(key, left - 1);
        this.count('throttles');
        return throttled();
      }
    }
    if (kind === 'record-success') {
      const item = input.Item as { endpointId: string; eventId: string; replayId?: string };
      const key = deliveryKey(item);
      const left = this.recordFailures.get(key) ?? 0;
      if (left > 0) {
        this.recordFailures.set(key, left - 1);
        this.count('success records throttled');
        return throttled();
      }
    }
    if (kind === 'event-put' && invocation.failEvent?.at === 'event-put') {
      if ((input.Item as { eventId?: string }).eventId === invocation.failEvent.eventId) return throttled();
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------------------

  async verify(): Promise<Verdict> {
    const problems: string[] = [];
    if (this.queue.messages.length > 0)
      problems.push(`${this.queue.messages.length} messages left in the queue`);
    const attempts = new DynamoAttemptsRepository({
      client: this.envs[2].docs,
      tableName: this.lane.tables.attempts,
    });
    const endpointsRepo = this.envs[2].endpoints();
    const requests = this.lane.receivers.requests;
    for (const endpoint of this.endpoints) {
      const stored = await endpointsRepo.get(this.storeId, endpoint.id);
      const disabled = stored?.status !== 'enabled';
      if (disabled) this.count(`disabled (${stored?.disabledReason})`);
      for (const event of this.events) {
        const key = `${endpoint.id}#${event.id}`;
        const mine = requests.filter((r) => r.endpointId === endpoint.id && r.webhookId === event.id);
        const wanted = endpointWants({ ...endpoint, status: 'enabled' }, event.type);
        if (!wanted) {
          if (mine.length > 0)
            problems.push(
              `${key}: sent ${mine.length} times to an endpoint that does not want ${event.type}`,
            );
          continue;
        }
        const deliveries = ['0', ...(this.replays.get(key) ?? [])];
        const successes = mine.filter((r) => typeof r.answered === 'number' && r.answered < 300).length;
        const late = mine.filter(
          (r) => this.gaveUp.has(r.requestId) && typeof r.answered === 'number' && r.answered < 300,
        ).length;
        if (late > 0) this.count('2xx after the client gave up', late);
        const risk = (this.atRisk.get(key) ?? 0) + late;
        let recorded = 0;
        let dead = 0;
        for (const replay of deliveries) {
          const replayId = replay === '0' ? undefined : replay;
          const succeeded = await attempts.hasSucceeded(endpoint.id, event.id, replayId);
          const deadLettered = this.queue.deadLetters.some(
            (d) =>
              d.message.endpointId === endpoint.id &&
              d.message.eventId === event.id &&
              d.message.replayId === replayId,
          );
          if (succeeded) recorded += 1;
          if (deadLettered) dead += 1;
          if (!succeeded && !deadLettered && !disabled) {
            problems.push(`${key}#${replay}: lost (not delivered, not in the DLQ, endpoint enabled)`);
          }
        }
        if (successes > deliveries.length + risk) {
          problems.push(
            `${key}: ${successes} 2xx for ${deliveries.length} deliveries (${risk} 2xx lost to a crash or answered late): sent more than once`,
          );
        }
        if (successes < recorded)
          problems.push(`${key}: ${recorded} successes recorded but ${successes} 2xx answered`);
        if (!disabled && successes < deliveries.length - dead) {
          problems.push(
            `${key}: ${successes} 2xx for ${deliveries.length} deliveries, ${dead} dead-lettered`,
          );
        }
        if (successes > deliveries.length)
          this.count('sent again after a crash between 2xx and record', successes - deliveries.length);
      }
    }
    this.count('dead letters', this.queue.deadLetters.length);
    return { problems };
  }
}
