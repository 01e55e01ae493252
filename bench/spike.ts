/**
 * The 2019 traffic spike (seeds/incident-2019-10-10-traffic-spike.txt) on the local stack: a steady rate, then a
 * burst of ten times that rate for 30 seconds, three stores with three webhook endpoints each, one store far over
 * its per-store limit. Driven by autocannon, one instance per store and phase, every request recorded with its
 * transaction id, status, Retry-After and latency.
 *
 * Two callers: test/integration/spike/incident-2019.test.ts (the scenario with its assertions) and `npm run bench`
 * through `runSpikeBench` (the scenario on a stack of its own, measured against raw conditional PutItem on the same
 * DynamoDB Local: the accepted rate during the burst, the p50/p99 of its 202s, the drain time after it).
 */
import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import autocannon from 'autocannon';
import { ulid } from 'ulid';
import { localClientConfig, QUIET_SDK_ENVIRONMENT } from '../local/aws-clients';
import { type LocalStack, startLocalStack } from '../local/stack';
import { WebhookReceiver } from '../test/integration/support/webhook-receiver';
import {
  apiAt,
  percentile,
  RawConditionalPut,
  round,
  type Samples,
  sleep,
  storefrontTransaction,
  summarizeSamples,
  timedSamples,
} from './support';

export interface SpikeScenarioOptions {
  /** A normal store's rate in the steady phases, transactions per second. */
  readonly steadyRate: number;
  /** The burst's rate over the steady rate (the incident: ten times). */
  readonly burstFactor: number;
  /** The hot store's rate over a normal store's, in every phase. */
  readonly hotFactor: number;
  readonly normalStores: number;
  readonly endpointsPerStore: number;
  /** Before the steady phase, at the steady rate: warms the function environments; not measured. */
  readonly warmupSeconds: number;
  readonly steadySeconds: number;
  readonly burstSeconds: number;
  /** The steady rate again after the burst. */
  readonly recoverySeconds: number;
  /** autocannon connections (one request in flight each) of a normal store and of the hot store. */
  readonly normalConnections: number;
  readonly hotConnections: number;
  /** The per-store limit, shared by the API's execution environments (STORE_RATE_LIMIT, STORE_BURST_LIMIT). */
  readonly storeRateLimit: number;
  readonly storeBurstLimit: number;
  /** A request unanswered for this long counts as a timeout. */
  readonly requestTimeoutSeconds: number;
  /** How long after the load every delivery must have arrived and every queue be empty. */
  readonly drainTimeoutMs: number;
  /** After the drain, how long duplicates get to show up before they are counted. */
  readonly settleMs: number;
}

/**
 * The scenario scaled to a 2-core machine; the ratios are the incident's (burst = 10 x steady) and the hot store's
 * (10 x a normal store). Why these numbers make the limit bite for the hot store only: see the integration test.
 */
export const SPIKE_SCENARIO: SpikeScenarioOptions = {
  steadyRate: 1,
  burstFactor: 10,
  hotFactor: 10,
  normalStores: 2,
  endpointsPerStore: 3,
  warmupSeconds: 5,
  steadySeconds: 10,
  burstSeconds: 30,
  recoverySeconds: 5,
  normalConnections: 1,
  hotConnections: 1,
  storeRateLimit: 10,
  storeBurstLimit: 20,
  requestTimeoutSeconds: 10,
  drainTimeoutMs: 90_000,
  settleMs: 2_000,
};

/**
 * The settings a stack needs for the scenario: the per-store limit, local receivers, and the contract's 15 s
 * delivery timeout (a shorter one can time out a delivery that a receiver on a busy machine did get, and its retry
 * is then a legitimate second copy: at-least-once, not the duplicate this scenario looks for).
 */
export function spikeStackSettings(options: SpikeScenarioOptions = SPIKE_SCENARIO): Record<string, string> {
  return {
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    WEBHOOK_TIMEOUT_MS: '15000',
    STORE_RATE_LIMIT: String(options.storeRateLimit),
    STORE_BURST_LIMIT: String(options.storeBurstLimit),
  };
}

export type SpikePhase = 'warmup' | 'steady' | 'burst' | 'recovery';

/** One answered POST /v1/transactions. */
export interface SpikeRequest {
  readonly txnId: string;
  readonly phase: SpikePhase;
  readonly status: number;
  /** Of a 202: the event every endpoint must receive once (its `webhook-id`). */
  readonly eventId?: string;
  readonly retryAfter?: string;
  readonly latencyMs: number;
  /** Epoch ms. */
  readonly answeredAt: number;
}

/** One autocannon run: one store, one phase. */
export interface SpikeLoadRun {
  readonly phase: SpikePhase;
  /** Offered rate, requests per second. */
  readonly rate: number;
  readonly connections: number;
  /** Requests sent (the phase's seconds ended it first if fewer than rate × seconds). */
  readonly sent: number;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Transaction ids sent and never answered (timed out or cut): they may or may not have been accepted. */
  readonly unanswered: readonly string[];
}

export interface SpikeStoreRun {
  readonly id: string;
  readonly hot: boolean;
  /** Its endpoints, each subscribed to `transaction.created` (they are stopped when the scenario ends). */
  readonly receivers: readonly WebhookReceiver[];
  /** Their URLs, as registered. */
  readonly endpointUrls: readonly string[];
  readonly requests: readonly SpikeRequest[];
  readonly runs: readonly SpikeLoadRun[];
}

export interface SpikeScenarioResult {
  readonly options: SpikeScenarioOptions;
  readonly stores: readonly SpikeStoreRun[];
  /** Each phase from the start of its first run to the end of its last (epoch ms). */
  readonly phases: Readonly<Record<SpikePhase, { readonly startedAt: number; readonly endedAt: number }>>;
  /** Messages on the deliveries queue when the burst ended (visible, in flight and delayed). */
  readonly deliveriesBacklogAtBurstEnd: number;
  /** When the last transaction accepted up to the burst's end had reached every endpoint of its store. */
  readonly burstDeliveredAt?: number;
  /** When every accepted transaction had reached every endpoint and every queue of the stack was empty. */
  readonly drainedAt?: number;
  /** Each queue's depth (visible + in flight + delayed) by construct path, read after the settle time. */
  readonly queueDepths: Readonly<Record<string, number>>;
  /** (event, endpoint) pairs of 202 answers that had not arrived when the scenario ended. */
  readonly missingDeliveries: number;
  /** (event, endpoint) pairs delivered successfully more than once. */
  readonly duplicateDeliveries: number;
  /** Webhooks that failed Standard Webhooks verification, or reached another store's endpoint. */
  readonly unverifiedDeliveries: number;
  readonly misdirectedDeliveries: number;
}

/**
 * Runs the scenario against a running stack: creates the stores (the last one hot) and their endpoints, drives the
 * phases (warmup, steady, burst, recovery; every store at once within a phase), then waits for every delivery and
 * for the queues to drain. The stack must run with `spikeStackSettings(options)`.
 */
export async function runSpikeScenario(
  stack: Pick<LocalStack, 'apiUrl' | 'endpoints' | 'resources' | 'eventSources'>,
  adminApiKey: string,
  options: SpikeScenarioOptions = SPIKE_SCENARIO,
): Promise<SpikeScenarioResult> {
  const run = randomBytes(3).toString('hex');
  const stores: MutableStoreRun[] = [];
  const sqs = new SQSClient(localClientConfig(stack.endpoints.sqs));
  const queues = queueUrls(stack.resources);
  const deliveriesQueue = queues.get('Deliveries/Queue');
  if (!deliveriesQueue) throw new Error('the stack has no Deliveries/Queue');
  try {
    // One at a time: concurrent set-up calls would warm more API environments than the load itself keeps busy.
    for (let index = 0; index <= options.normalStores; index += 1) {
      const hot = index === options.normalStores;
      const id = hot ? `spike-${run}-hot` : `spike-${run}-normal-${index + 1}`;
      const store = await apiAt(stack.apiUrl, adminApiKey, 'POST', '/v1/admin/stores', { id, name: id });
      const apiKey = String(store.apiKey);
      const receivers: WebhookReceiver[] = [];
      const endpointUrls: string[] = [];
      stores.push({ id, hot, apiKey, receivers, endpointUrls, requests: [], runs: [] });
      for (let endpoint = 0; endpoint < options.endpointsPerStore; endpoint += 1) {
        const receiver = await WebhookReceiver.start();
        receivers.push(receiver);
        endpointUrls.push(receiver.url);
        const registered = await apiAt(stack.apiUrl, apiKey, 'POST', '/v1/webhooks', {
          url: receiver.url,
          events: ['transaction.created'],
        });
        receiver.secrets = [String(registered.secret)];
      }
    }

    // As many API environments as the load keeps requests in flight, started before anything is measured.
    const inFlight = options.normalStores * options.normalConnections + options.hotConnections;
    await Promise.all(
      Array.from({ length: inFlight }, async () => (await fetch(new URL('/health', stack.apiUrl))).text()),
    );

    const phases = {} as Record<SpikePhase, { startedAt: number; endedAt: number }>;
    let deliveriesBacklogAtBurstEnd = 0;
    for (const [phase, seconds, factor] of [
      ['warmup', options.warmupSeconds, 1],
      ['steady', options.steadySeconds, 1],
      ['burst', options.burstSeconds, options.burstFactor],
      ['recovery', options.recoverySeconds, 1],
    ] as const) {
      const startedAt = Date.now();
      await Promise.all(
        stores.map((store) =>
          drive(stack.apiUrl, store, phase, {
            rate: options.steadyRate * factor * (store.hot ? options.hotFactor : 1),
            seconds,
            connections: store.hot ? options.hotConnections : options.normalConnections,
            timeoutSeconds: options.requestTimeoutSeconds,
          }),
        ),
      );
      phases[phase] = { startedAt, endedAt: Date.now() };
      if (phase === 'burst') {
        const depths = await queueDepths(sqs, new Map([['deliveries', deliveriesQueue]]));
        deliveriesBacklogAtBurstEnd = depths.deliveries ?? 0;
      }
    }

    const deadline = Date.now() + options.drainTimeoutMs;
    let drainedAt: number | undefined;
    while (Date.now() < deadline) {
      if (missingDeliveries(stores) === 0) {
        const depths = await queueDepths(sqs, queues);
        if (Object.values(depths).every((depth) => depth === 0)) {
          drainedAt = Date.now();
          break;
        }
      }
      await sleep(250);
    }
    // Give any second copy a chance to arrive before counting.
    await sleep(options.settleMs);
    const queueDepthsAfter = await queueDepths(sqs, queues);
    return {
      options,
      stores: stores.map(({ apiKey: _apiKey, ...store }) => store),
      phases,
      deliveriesBacklogAtBurstEnd,
      burstDeliveredAt: lastDeliveryAt(stores, (request) => request.answeredAt <= phases.burst.endedAt),
      drainedAt,
      queueDepths: queueDepthsAfter,
      missingDeliveries: missingDeliveries(stores),
      ...deliveryFaults(stores),
    };
  } finally {
    sqs.destroy();
    await Promise.all(stores.flatMap((store) => store.receivers.map((receiver) => receiver.stop())));
  }
}

interface MutableStoreRun {
  readonly id: string;
  readonly hot: boolean;
  readonly apiKey: string;
  readonly receivers: WebhookReceiver[];
  readonly endpointUrls: string[];
  readonly requests: SpikeRequest[];
  readonly runs: SpikeLoadRun[];
}

/**
 * One store's phase: up to `rate × seconds` transactions at `rate` per second (autocannon sends each connection's
 * share at the start of every second), each with a new id, for `seconds` at most: a store the machine cannot serve
 * at its rate sends fewer rather than stretching the phase. When the time is up each connection closes once its
 * request in flight is answered, so every request sent is answered or counted as a timeout: none is cut off.
 */
function drive(
  apiUrl: string,
  store: MutableStoreRun,
  phase: SpikePhase,
  load: { rate: number; seconds: number; connections: number; timeoutSeconds: number },
): Promise<void> {
  const rate = Math.max(1, Math.round(load.rate));
  const amount = Math.max(1, Math.round(load.rate * load.seconds));
  const connections = Math.max(1, Math.min(load.connections, rate, amount));
  const sent = new Set<string>();
  let sentCount = 0;
  let answered: Omit<SpikeRequest, 'latencyMs' | 'answeredAt'> | undefined;
  let sequence = 0;
  const startedAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: apiUrl,
        connections,
        amount,
        overallRate: rate,
        timeout: load.timeoutSeconds,
        // The run ends at the first sample after the last answer: sample often, so phases follow closely.
        sampleInt: 100,
        requests: [
          {
            method: 'POST',
            path: '/v1/transactions',
            headers: { authorization: `Bearer ${store.apiKey}`, 'content-type': 'application/json' },
            setupRequest: (request, context) => {
              sequence += 1;
              const body = storefrontTransaction(`txn_${phase}_${sequence}_${ulid()}`);
              context.txnId = body.id;
              sent.add(body.id);
              sentCount += 1;
              return { ...request, body: JSON.stringify(body) };
            },
            onResponse: (status, body, context, headers) => {
              const txnId = String(context.txnId);
              sent.delete(txnId);
              const retryAfter = headerValue(headers, 'retry-after');
              answered = {
                txnId,
                phase,
                status,
                ...(status === 202 ? { eventId: String(parseJson(body)?.eventId) } : {}),
                ...(retryAfter === undefined ? {} : { retryAfter }),
              };
            },
          },
        ],
      },
      (error, result) => {
        clearTimeout(timer);
        if (error) return reject(error);
        store.runs.push({
          phase,
          rate,
          connections,
          sent: sentCount,
          startedAt,
          endedAt: Date.now(),
          errors: result.errors,
          timeouts: result.timeouts,
          unanswered: [...sent],
        });
        resolve();
      },
    );
    // Past the phase's end, a connection sends nothing more: it closes after the answer it waits for, if any.
    const clients = new Set<autocannon.Client>();
    let over = false;
    const finish = (client: autocannon.Client) => {
      client.responseMax = Math.min(client.responseMax || Number.POSITIVE_INFINITY, client.reqsMade);
    };
    timer = setTimeout(() => {
      over = true;
      for (const client of clients) finish(client);
    }, load.seconds * 1000);
    // autocannon emits this right after the request's onResponse: the pair is one answer, with its latency.
    instance.on(
      'response',
      (client: autocannon.Client, _status: number, _bytes: number, responseTimeMs: number) => {
        clients.add(client);
        if (over) finish(client);
        if (!answered) return;
        store.requests.push({ ...answered, latencyMs: responseTimeMs, answeredAt: Date.now() });
        answered = undefined;
      },
    );
  });
}

/** Every (202 event, endpoint of its store) pair without a successful delivery yet. */
function missingDeliveries(stores: readonly MutableStoreRun[]): number {
  let missing = 0;
  for (const store of stores) {
    const accepted = store.requests.flatMap((request) => (request.eventId ? [request.eventId] : []));
    for (const receiver of store.receivers) {
      const successes = receiver.successes();
      for (const eventId of accepted) if (!successes.has(eventId)) missing += 1;
    }
  }
  return missing;
}

/** When the last first-successful delivery of the selected 202s arrived; undefined if one never did. */
function lastDeliveryAt(
  stores: readonly MutableStoreRun[],
  select: (request: SpikeRequest) => boolean,
): number | undefined {
  let last = 0;
  for (const store of stores) {
    for (const receiver of store.receivers) {
      const firstSuccess = new Map<string, number>();
      for (const webhook of receiver.received) {
        if (typeof webhook.answered !== 'number' || webhook.answered >= 300) continue;
        if (!firstSuccess.has(webhook.webhookId)) firstSuccess.set(webhook.webhookId, webhook.receivedAt);
      }
      for (const request of store.requests) {
        if (!request.eventId || !select(request)) continue;
        const at = firstSuccess.get(request.eventId);
        if (at === undefined) return undefined;
        last = Math.max(last, at);
      }
    }
  }
  return last;
}

function deliveryFaults(stores: readonly MutableStoreRun[]) {
  let duplicateDeliveries = 0;
  let unverifiedDeliveries = 0;
  let misdirectedDeliveries = 0;
  for (const store of stores) {
    for (const receiver of store.receivers) {
      for (const count of receiver.successes().values()) if (count > 1) duplicateDeliveries += 1;
      for (const webhook of receiver.received) {
        if (!webhook.verified) unverifiedDeliveries += 1;
        if (webhook.body.storeId !== store.id) misdirectedDeliveries += 1;
      }
    }
  }
  return { duplicateDeliveries, unverifiedDeliveries, misdirectedDeliveries };
}

/** Every queue of the stack (DLQs included) by construct path (`Deliveries/Queue`), with its URL. */
function queueUrls(resources: LocalStack['resources']): Map<string, string> {
  const queues = new Map<string, string>();
  for (const resource of resources.all()) {
    if (resource.type !== 'AWS::SQS::Queue') continue;
    const name = resource.logicalId.replace(/[0-9A-F]{8}$/, '').replace(/(DeadLetterQueue|Queue)$/, '/$1');
    queues.set(name, resource.ref);
  }
  return queues;
}

/** Messages visible, in flight and delayed, by queue: what must all be 0 once the pipeline has drained. */
async function queueDepths(
  sqs: SQSClient,
  queues: ReadonlyMap<string, string>,
): Promise<Record<string, number>> {
  const entries = await Promise.all(
    [...queues].map(async ([name, url]) => {
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'ApproximateNumberOfMessagesDelayed',
          ],
        }),
      );
      const depth =
        Number(Attributes.ApproximateNumberOfMessages ?? 0) +
        Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
        Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0);
      return [name, depth] as const;
    }),
  );
  return Object.fromEntries(entries);
}

// ---------------------------------------------------------------------------------------------------------------
// Summaries, shared by the test and the bench

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export function latencyOf(requests: readonly SpikeRequest[]): LatencySummary {
  const latencies = requests.map((request) => request.latencyMs);
  return {
    count: latencies.length,
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(latencies.length > 0 ? Math.max(...latencies) : Number.NaN, 1),
  };
}

/** How many answers of each status. */
export function statusesOf(requests: readonly SpikeRequest[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const request of requests) counts[request.status] = (counts[request.status] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------------------------------------------------------
// The benchmark

export interface SpikeBenchOptions {
  /** Over `SPIKE_SCENARIO`. */
  readonly scenario?: Partial<SpikeScenarioOptions>;
  /**
   * Emulators to share, e.g. those of the stack `npm run bench` already runs (`stack.endpoints.dynamodb`, `.sqs`).
   * The spike always runs its own stack, with its own per-store limit. @default - new ones, stopped afterwards
   */
  readonly dynamodbEndpoint?: string;
  readonly sqsEndpoint?: string;
  /** Raw conditional PutItems measured before the scenario and again after it (half each). @default 2000 */
  readonly rawPutItems?: number;
  /** Progress lines. @default - none */
  readonly log?: (line: string) => void;
}

export interface SpikeBenchResult {
  readonly scenario: SpikeScenarioOptions;
  /** Conditional PutItem of the API's item, at the load's concurrency, on the stack's DynamoDB Local. */
  readonly rawPutItem: {
    readonly concurrency: number;
    readonly count: number;
    readonly perSecond: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
  };
  readonly burst: {
    readonly seconds: number;
    /** Answers per second over every store (202 and 429 alike). */
    readonly offeredPerSecond: number;
    /** 202s per second over the whole burst: the accepted rate it sustained. */
    readonly acceptedPerSecond: number;
    /** The most 202s in any one second of the burst. */
    readonly peakAcceptedPerSecond: number;
    /** acceptedPerSecond / rawPutItem.perSecond. */
    readonly acceptedToRawPutItem: number;
    /** 202 latency during the burst, every store. */
    readonly accept: LatencySummary;
    /** Normal stores' latency, steady phase against burst. */
    readonly normalSteady: LatencySummary;
    readonly normalBurst: LatencySummary;
    readonly hot: { readonly requests: number; readonly accepted: number; readonly throttled: number };
  };
  readonly drain: {
    /** Messages on the deliveries queue at the burst's end: what the deliveries had not caught up with. */
    readonly backlogAtBurstEnd: number;
    /** From the burst's end until every transaction accepted up to then had reached every endpoint. */
    readonly burstDeliveredSeconds?: number;
    /** From the burst's end until every delivery was done and every queue empty (the recovery phase included). */
    readonly drainedSeconds?: number;
    /** From the last request until the same. */
    readonly drainedAfterLoadSeconds?: number;
    readonly deliveries: number;
    readonly missing: number;
    readonly duplicates: number;
  };
  /** Answers that are neither 202 nor 429, timeouts and connection errors: 0 each when all is well. */
  readonly failures: { readonly otherStatuses: number; readonly timeouts: number; readonly errors: number };
  readonly localStackLogLines: number;
}

/**
 * The spike as a benchmark: starts a local stack with the scenario's settings, measures raw conditional PutItem on
 * its DynamoDB Local (before and after the scenario, at the load's concurrency), runs the scenario and stops the
 * stack. About 2 minutes on 2 cores.
 */
export async function runSpikeBench(options: SpikeBenchOptions = {}): Promise<SpikeBenchResult> {
  Object.assign(process.env, QUIET_SDK_ENVIRONMENT);
  const scenario = { ...SPIKE_SCENARIO, ...options.scenario };
  const log = options.log ?? (() => undefined);
  const adminApiKey = `sk_admin_spike_${randomBytes(16).toString('hex')}`;
  const logs: string[] = [];
  const stack = await startLocalStack({
    port: 0,
    ...(options.dynamodbEndpoint ? { dynamodbEndpoint: options.dynamodbEndpoint } : {}),
    ...(options.sqsEndpoint ? { sqsEndpoint: options.sqsEndpoint } : {}),
    config: { adminApiKey, settings: spikeStackSettings(scenario) },
    log: (message) => logs.push(message),
    functionOutput: () => undefined,
  });
  try {
    const concurrency = scenario.hotConnections + scenario.normalStores * scenario.normalConnections;
    const rawCount = options.rawPutItems ?? 2_000;
    const raw = await RawConditionalPut.create(stack.endpoints.dynamodb, 'bench-spike-raw');
    try {
      log('spike: raw PutItem (before)');
      await timedSamples(100, concurrency, raw.put);
      const before = await timedSamples(Math.ceil(rawCount / 2), concurrency, raw.put);
      log('spike: scenario');
      const result = await runSpikeScenario(stack, adminApiKey, scenario);
      log('spike: raw PutItem (after)');
      const after = await timedSamples(Math.floor(rawCount / 2), concurrency, raw.put);
      return summarize(result, [before, after], concurrency, logs.length);
    } finally {
      await raw.destroy();
    }
  } finally {
    await stack.stop();
  }
}

function summarize(
  result: SpikeScenarioResult,
  rawRounds: readonly Samples[],
  concurrency: number,
  localStackLogLines: number,
): SpikeBenchResult {
  const { phases, stores } = result;
  const all = stores.flatMap((store) => store.requests);
  const inBurst = all.filter((request) => request.phase === 'burst');
  const burstSeconds = (phases.burst.endedAt - phases.burst.startedAt) / 1000;
  const acceptedInBurst = inBurst.filter((request) => request.status === 202);
  const perSecond = new Map<number, number>();
  for (const request of acceptedInBurst) {
    const second = Math.floor((request.answeredAt - phases.burst.startedAt) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  const rawPutItem = summarizeSamples(rawRounds);
  const normal = stores.filter((store) => !store.hot).flatMap((store) => store.requests);
  const hot = stores.filter((store) => store.hot).flatMap((store) => store.requests);
  const hotBurst = hot.filter((request) => request.phase === 'burst');
  const runs = stores.flatMap((store) => store.runs);
  const seconds = (at: number | undefined, from: number) =>
    at === undefined ? undefined : round(Math.max(0, at - from) / 1000, 1);
  const acceptedPerSecond = acceptedInBurst.length / burstSeconds;
  return {
    scenario: result.options,
    rawPutItem: { concurrency, ...rawPutItem },
    burst: {
      seconds: round(burstSeconds, 1),
      offeredPerSecond: round(inBurst.length / burstSeconds, 1),
      acceptedPerSecond: round(acceptedPerSecond, 1),
      peakAcceptedPerSecond: Math.max(0, ...perSecond.values()),
      acceptedToRawPutItem: round(acceptedPerSecond / rawPutItem.perSecond, 3),
      accept: latencyOf(acceptedInBurst),
      normalSteady: latencyOf(normal.filter((request) => request.phase === 'steady')),
      normalBurst: latencyOf(normal.filter((request) => request.phase === 'burst')),
      hot: {
        requests: hotBurst.length,
        accepted: hotBurst.filter((request) => request.status === 202).length,
        throttled: hotBurst.filter((request) => request.status === 429).length,
      },
    },
    drain: {
      backlogAtBurstEnd: result.deliveriesBacklogAtBurstEnd,
      burstDeliveredSeconds: seconds(result.burstDeliveredAt, phases.burst.endedAt),
      drainedSeconds: seconds(result.drainedAt, phases.burst.endedAt),
      drainedAfterLoadSeconds: seconds(result.drainedAt, phases.recovery.endedAt),
      deliveries: stores.reduce(
        (sum, store) =>
          sum + store.receivers.reduce((count, receiver) => count + receiver.received.length, 0),
        0,
      ),
      missing: result.missingDeliveries,
      duplicates: result.duplicateDeliveries,
    },
    failures: {
      otherStatuses: all.filter((request) => request.status !== 202 && request.status !== 429).length,
      timeouts: runs.reduce((sum, run) => sum + run.timeouts, 0),
      errors: runs.reduce((sum, run) => sum + run.errors, 0),
    },
    localStackLogLines,
  };
}

/** Markdown rows in the `| measure | value | target | met |` table of `npm run bench`. */
export function spikeRows(result: SpikeBenchResult): string[] {
  const { scenario: s, rawPutItem: raw, burst: b, drain: d, failures: f } = result;
  const normalRate = s.steadyRate * s.burstFactor;
  const hotRate = normalRate * s.hotFactor;
  const ok = (pass: boolean) => (pass ? 'yes' : 'no');
  const secondsOr = (value: number | undefined) => (value === undefined ? 'not drained' : `${value} s`);
  const p99Bound = Math.max(10 * b.normalSteady.p99Ms, 250);
  return [
    `| spike: steady ${s.steadyRate} tx/s per store, then ${s.burstFactor}x for ${s.burstSeconds} s (${s.normalStores} stores at ${normalRate} tx/s, 1 hot store offered ${hotRate} tx/s against a limit of ${s.storeRateLimit}/s per store), ${s.endpointsPerStore} endpoints per store | offered ${b.offeredPerSecond}/s: ${b.acceptedPerSecond} accepted/s (peak ${b.peakAcceptedPerSecond} in 1 s); hot store ${b.hot.throttled} of ${b.hot.requests} answered 429 | | |`,
    `| spike: accepted rate sustained in the burst (all the scenario offers within the per-store limits; the API's capacity is the throughput row) vs raw conditional PutItem (${raw.concurrency} concurrent, ${raw.count} puts: ${raw.perSecond}/s, p50 ${raw.p50Ms} ms) | ${b.acceptedToRawPutItem} | | |`,
    `| spike: 202 latency during the burst (${b.accept.count} accepted) | p50 ${b.accept.p50Ms} ms, p99 ${b.accept.p99Ms} ms | | |`,
    `| spike: normal stores' p99, steady vs burst | ${b.normalSteady.p99Ms} ms vs ${b.normalBurst.p99Ms} ms | <= max(10x steady, 250 ms) and < 2 s | ${ok(b.normalBurst.p99Ms <= p99Bound && b.normalBurst.p99Ms < 2_000)} |`,
    `| spike: drain after the burst (${d.backlogAtBurstEnd} deliveries queued at its end; ${d.deliveries} webhooks delivered in all) | burst's transactions all delivered ${secondsOr(d.burstDeliveredSeconds)} after it; queues empty ${secondsOr(d.drainedSeconds)} after it (${secondsOr(d.drainedAfterLoadSeconds)} after the last request) | | |`,
    `| spike: missing or duplicate deliveries; timeouts, errors and other statuses | ${d.missing} missing, ${d.duplicates} duplicate; ${f.timeouts} timeouts, ${f.errors} errors, ${f.otherStatuses} other | 0 each | ${ok(d.missing + d.duplicates + f.timeouts + f.errors + f.otherStatuses === 0)} |`,
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Raw conditional PutItem on the same DynamoDB Local

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** A small cart, as a storefront posts it. */
function headerValue(headers: Record<string, string | string[]>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(',') : value;
  }
  return undefined;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
