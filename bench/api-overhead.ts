/**
 * The API's own overhead, apart from the machine's (issue 16, section 3): the API function's real handler called
 * in-process with API Gateway (payload v2) events, against the raw conditional PutItem of the same item, on the
 * same DynamoDB Local, with the same SDK client settings, at the same concurrency.
 *
 * How it runs:
 *   - This process starts a DynamoDB Local of its own (local/emulators/dynamodb-local.ts) and the local Secrets
 *     Manager (local/emulators/secrets-manager.ts), creates the pipeline template's tables on it as the local stack
 *     does (local/provision.ts), puts the admin key's secret in, and resolves the API function's environment from
 *     the template exactly as the local stack gives it to the function (local/runtime/function-definitions.ts),
 *     with the per-store limit raised out of the way (100,000/s: the shared limiter and its syncs stay on the path,
 *     no request is answered 429), as the whole-stack bench does.
 *   - A child Node process (tsx) gets that environment, requires `lambdas/api/handlers/api.ts` (middy, Powertools
 *     logger, the secrets middleware reading the local Secrets Manager, the shared store throttle, EMF metrics) and
 *     calls its `handler(event, context)` directly: no HTTP gateway, no worker thread, nothing else in that
 *     process, so `process.cpuUsage()` of the child is the handler's CPU plus the raw side's. The child's stdout
 *     (the function's EMF lines) goes to /dev/null, as a Lambda's goes to its log pipe.
 *   - The raw side is `PutCommand` of the item the handler writes (same attributes and sizes, same condition and
 *     ReturnValuesOnConditionCheckFailure) into the same transactions table, through the client the handler's
 *     write uses (`requestPathDocumentClient()` of lambdas/api/dependencies.ts: same retries, timeouts, document
 *     client marshalling, SDK logger middleware removed).
 *   - Warm: both sides are warmed up first; then handler and raw rounds alternate, so noise weighs on both; events
 *     and items are built before each round, outside the measured time (API Gateway builds the event, not the
 *     function).
 *
 * CPU per accepted transaction beyond the write (the target, about 300 µs): `process.cpuUsage()` of the child
 * (user + system, every thread: V8's GC and compiler threads included) over a handler round per accepted
 * transaction, minus the same over the raw round beside it per put; the figure is the median over the pairs of
 * adjacent rounds (one round's burst of other work on the machine moves one pair, not the figure), with the pooled
 * difference beside it. The raw put is the one write the handler must make, so the difference is what the handler
 * adds around it: auth, parse, validation, fingerprint, event id, limiter, logging, metrics, middy, routing,
 * response, the extra garbage, and its limiter's syncs. DynamoDB Local runs in its own process and is not counted
 * on either side. What differs from Lambda: the handler is transpiled by tsx rather than bundled by esbuild (the
 * same code; NODE_OPTIONS=--enable-source-maps as deployed), stdout is /dev/null rather than the runtime's pipe,
 * and the Lambda runtime's own work (parsing the event, serializing the result) is not there on either side.
 *
 * The per-stage breakdown comes from V8's sampling profiler (node:inspector, 100 µs interval) over one more handler
 * round and one more raw round, in the child only: every sample is put in the stage of the innermost frame that
 * names one (by file or package, see STAGES); SDK and Node HTTP frames are "the write". The profiler's own cost
 * inflates every stage somewhat (and is its own "bench and profiler" line): read the stages against each other and
 * against the raw round's, not as absolute figures. Nothing is added to the production code: no timers, no
 * wrappers. With API_OVERHEAD_PROFILE_DIR set, the two profiles are written there (`handler.cpuprofile`,
 * `raw.cpuprofile`) for Chrome DevTools or speedscope.
 *
 * Run alone:
 *   npx tsx -e "require('./bench/api-overhead').runApiOverheadBench({log: console.error}).then(f => console.log(require('./bench/api-overhead').apiOverheadRows(f).join('\n')))"
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ulid } from 'ulid';
import { createLocalClients, localSdkEnvironment, QUIET_SDK_ENVIRONMENT } from '../local/aws-clients';
import { startDynamoDbLocal } from '../local/emulators/dynamodb-local';
import { LocalSecretsManager } from '../local/emulators/secrets-manager';
import { provisionResources, provisionSecrets } from '../local/provision';
import { ResourceMap } from '../local/resource-map';
import { functionDefinitions } from '../local/runtime/function-definitions';
import { type CfnTemplate, synthesizePipelineTemplate } from '../local/template';
import { forEachLimit, percentile, round, storefrontTransaction } from './support';

export const API_OVERHEAD_CONFIG = {
  /** Requests in flight at once, on each side. */
  concurrency: 8,
  /** Not measured: the handler's cold start and first requests, the SDK's connections, V8's optimization. */
  warmupRequests: 400,
  /** Measured per side, in alternating rounds. */
  requestsPerSide: 4_000,
  rounds: 20,
  /** One more round per side under the sampling profiler, for the per-stage breakdown. */
  profiledRequests: 1_500,
  profileSamplingIntervalUs: 100,
} as const;

/** What the child measures and the parent returns. */
export interface ApiOverheadFigures {
  readonly concurrency: number;
  readonly requestsPerSide: number;
  readonly rounds: number;
  readonly itemBytes: number;
  readonly handler: SideFigures;
  readonly rawPutItem: SideFigures;
  /**
   * Handler throughput over raw throughput: the median over pairs of adjacent rounds (the same count each, so the
   * raw round's time over the handler round's). Target >= 0.85.
   */
  readonly ratio: number;
  /** The same over all rounds pooled, and the lowest and highest pair. */
  readonly pooledRatio: number;
  readonly ratioRange: readonly [number, number];
  /**
   * The child's CPU per accepted transaction minus its CPU per raw put: the median over pairs of adjacent rounds
   * (robust to a burst of other work on the machine during one round). Target <= 300.
   */
  readonly handlerCpuUsOverWrite: number;
  /** The same over all rounds pooled, and the lowest and highest pair. */
  readonly pooledCpuUsOverWrite: number;
  readonly cpuUsOverWriteRange: readonly [number, number];
  /** Per stage, µs of sampled CPU per request (handler round) or per put (raw round). */
  readonly stages: { readonly handler: StageFigure[]; readonly raw: StageFigure[] };
  readonly node: string;
}

export interface SideFigures {
  readonly count: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU of the child (user + system) per request, µs. */
  readonly cpuUsPerRequest: number;
}

export interface StageFigure {
  readonly stage: string;
  readonly usPerRequest: number;
  readonly share: number;
}

/** Sets up DynamoDB Local, tables, the secret and the function's environment; measures in a child process. */
export async function runApiOverheadBench(options: {
  log: (line: string) => void;
  /** The pipeline's template. @default synthesized from the CDK app */
  template?: CfnTemplate;
}): Promise<ApiOverheadFigures> {
  const { log } = options;
  Object.assign(process.env, QUIET_SDK_ENVIRONMENT);
  const started = Date.now();
  const dynamodb = await startDynamoDbLocal();
  const secretsManager = await LocalSecretsManager.start({ host: '127.0.0.1' });
  const clients = createLocalClients({
    dynamodb: dynamodb.endpoint,
    // Nothing here makes queues or buckets (the template is filtered to its tables); the handler never calls SQS
    // or S3 on the measured path.
    sqs: 'http://127.0.0.1:9',
    s3: 'http://127.0.0.1:9',
  });
  try {
    const template = options.template ?? synthesizePipelineTemplate();
    const prefix = `ovh${randomBytes(3).toString('hex')}`;
    const tablesOnly: CfnTemplate = {
      Resources: Object.fromEntries(
        Object.entries(template.Resources).filter(([, resource]) =>
          resource.Type.startsWith('AWS::DynamoDB::'),
        ),
      ),
    };
    const tables = await provisionResources(tablesOnly, { prefix, clients });
    const resources = new ResourceMap(template, prefix);
    for (const table of tables.all()) if (table.type.startsWith('AWS::DynamoDB::')) resources.set(table);
    const adminApiKey = `sk_admin_bench_${randomBytes(24).toString('base64url')}`;
    provisionSecrets(template, resources, secretsManager, {
      ADMIN_API_KEY: adminApiKey,
      PAYMENT_GATEWAY_API_KEY: 'sk_test_bench',
    });
    const endpoints = {
      dynamodb: dynamodb.endpoint,
      sqs: 'http://127.0.0.1:9',
      s3: 'http://127.0.0.1:9',
      secretsManager: secretsManager.url,
    };
    const apiFunction = functionDefinitions(template, resources, {
      ...localSdkEnvironment(endpoints),
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
      STORE_RATE_LIMIT: '100000',
      STORE_BURST_LIMIT: '100000',
    }).find((definition) => definition.entry === 'lambdas/api/handlers/api.ts');
    if (!apiFunction) throw new Error('the template has no API function');
    log(`api-overhead: DynamoDB Local and tables ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return await measureInChild(
      { ...apiFunction.environment, ...QUIET_SDK_ENVIRONMENT },
      {
        adminApiKey,
        transactionsTable: apiFunction.environment.TRANSACTIONS_TABLE_NAME ?? '',
        functionName: apiFunction.name,
        functionArn: apiFunction.arn,
        memorySize: apiFunction.memorySize,
      },
      log,
    );
  } finally {
    clients.destroy();
    await secretsManager.stop();
    await dynamodb.stop();
  }
}

interface ChildInput {
  readonly adminApiKey: string;
  readonly transactionsTable: string;
  readonly functionName: string;
  readonly functionArn: string;
  readonly memorySize: number;
}

const CHILD_FLAG = 'API_OVERHEAD_BENCH_CHILD_INPUT';

function measureInChild(
  environment: Record<string, string>,
  input: ChildInput,
  log: (line: string) => void,
): Promise<ApiOverheadFigures> {
  const devNull = openSync('/dev/null', 'w');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, ['--import', 'tsx', __filename], {
      cwd: process.cwd(),
      // The function's environment only (plus PATH/HOME for Node itself), as Lambda gives it.
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        ...environment,
        ...(process.env.API_OVERHEAD_PROFILE_DIR
          ? { API_OVERHEAD_PROFILE_DIR: process.env.API_OVERHEAD_PROFILE_DIR }
          : {}),
        [CHILD_FLAG]: JSON.stringify(input),
      },
      stdio: ['ignore', devNull, 'pipe', 'ipc'],
    });
  } finally {
    closeSync(devNull);
  }
  return new Promise((resolve, reject) => {
    let result: ApiOverheadFigures | undefined;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      const lines = stderr.split('\n');
      stderr = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') log(line);
    });
    child.on('message', (message) => {
      result = message as ApiOverheadFigures;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (stderr.trim() !== '') log(stderr);
      if (result) resolve(result);
      else reject(new Error(`the api-overhead child exited with ${code} and no figures`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The child: the handler in-process

type Handler = (event: unknown, context: unknown) => Promise<{ statusCode?: number; body?: string }>;

interface TimedRound {
  readonly latencies: number[];
  readonly seconds: number;
  readonly cpuUs: number;
}

async function childMain(input: ChildInput): Promise<ApiOverheadFigures> {
  const log = (line: string) => process.stderr.write(`api-overhead: ${line}\n`);
  const config = API_OVERHEAD_CONFIG;
  // Required here, after the environment is in place, as Lambda loads the handler module at init.
  const { handler } = require('../lambdas/api/handlers/api') as { handler: Handler };
  const { requestPathDocumentClient } = require('../lambdas/api/dependencies') as {
    requestPathDocumentClient: () => import('@aws-sdk/lib-dynamodb').DynamoDBDocumentClient;
  };
  const { PutCommand } = require('@aws-sdk/lib-dynamodb') as typeof import('@aws-sdk/lib-dynamodb');

  let invocation = 0;
  const invoke = (event: unknown) => {
    invocation += 1;
    const requestId = `bench-${invocation}`;
    return handler(event, {
      awsRequestId: requestId,
      functionName: input.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: input.functionArn,
      memoryLimitInMB: String(input.memorySize),
      logGroupName: `/aws/lambda/${input.functionName}`,
      logStreamName: `local/${input.functionName}`,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => 30_000,
    });
  };

  // The store, through the handler's admin route.
  const storeId = `bench-api-${ulid().toLowerCase().slice(-8)}`;
  const created = await invoke(
    apiEvent('POST', '/v1/admin/stores', input.adminApiKey, JSON.stringify({ id: storeId, name: storeId })),
  );
  if (created.statusCode !== 201)
    throw new Error(`creating the bench store: ${created.statusCode} ${created.body}`);
  const storeKey = String((JSON.parse(created.body ?? '{}') as { apiKey?: string }).apiKey);

  const transactionEvents = (count: number) =>
    Array.from({ length: count }, () =>
      apiEvent('POST', '/v1/transactions', storeKey, JSON.stringify(storefrontTransaction(`txn_${ulid()}`))),
    );
  const postAll = (events: unknown[]) => async (index: number) => {
    const result = await invoke(events[index]);
    if (result.statusCode !== 202)
      throw new Error(`POST /v1/transactions: ${result.statusCode} ${result.body}`);
  };

  const client = requestPathDocumentClient();
  const rawStoreId = `bench-raw-${ulid().toLowerCase().slice(-8)}`;
  const rawItems = (count: number) => Array.from({ length: count }, () => handlersItem(rawStoreId));
  const putAll = (items: Record<string, unknown>[]) => async (index: number) => {
    await client.send(
      new PutCommand({
        TableName: input.transactionsTable,
        Item: items[index],
        ConditionExpression: 'attribute_not_exists(txnId)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  };

  const { concurrency } = config;
  log(`warming up (${config.warmupRequests} requests per side)`);
  await timedRound(config.warmupRequests, concurrency, postAll(transactionEvents(config.warmupRequests)));
  await timedRound(config.warmupRequests, concurrency, putAll(rawItems(config.warmupRequests)));

  const perRound = Math.floor(config.requestsPerSide / config.rounds);
  const handlerRounds: TimedRound[] = [];
  const rawRounds: TimedRound[] = [];
  for (let r = 0; r < config.rounds; r += 1) {
    const events = transactionEvents(perRound);
    const items = rawItems(perRound);
    // The raw side first every other round, so neither always runs after the other.
    if (r % 2 === 0) {
      handlerRounds.push(await timedRound(perRound, concurrency, postAll(events)));
      rawRounds.push(await timedRound(perRound, concurrency, putAll(items)));
    } else {
      rawRounds.push(await timedRound(perRound, concurrency, putAll(items)));
      handlerRounds.push(await timedRound(perRound, concurrency, postAll(events)));
    }
    if ((r + 1) % 5 === 0) log(`round ${r + 1}/${config.rounds}`);
  }

  log(`profiling (${config.profiledRequests} requests per side)`);
  const profiledEvents = transactionEvents(config.profiledRequests);
  const handlerProfile = await profiled('handler', () =>
    timedRound(config.profiledRequests, concurrency, postAll(profiledEvents)),
  );
  const profiledItems = rawItems(config.profiledRequests);
  const rawProfile = await profiled('raw', () =>
    timedRound(config.profiledRequests, concurrency, putAll(profiledItems)),
  );
  client.destroy();

  const handlerSide = summarize(handlerRounds);
  const rawSide = summarize(rawRounds);
  const pairs = handlerRounds.map((handlerRound, index) => {
    const rawRound = rawRounds[index] ?? handlerRound;
    return {
      ratio: handlerRound.seconds > 0 ? rawRound.seconds / handlerRound.seconds : Number.NaN,
      cpuUsOverWrite: (handlerRound.cpuUs - rawRound.cpuUs) / perRound,
    };
  });
  const overWrite = pairs.map((pair) => pair.cpuUsOverWrite);
  const ratios = pairs.map((pair) => pair.ratio);
  return {
    concurrency,
    requestsPerSide: perRound * config.rounds,
    rounds: config.rounds,
    itemBytes: Buffer.byteLength(JSON.stringify(handlersItem(rawStoreId))),
    handler: handlerSide,
    rawPutItem: rawSide,
    ratio: round(percentile(ratios, 50), 3),
    pooledRatio: round(handlerSide.perSecond / rawSide.perSecond, 3),
    ratioRange: [round(Math.min(...ratios), 3), round(Math.max(...ratios), 3)],
    handlerCpuUsOverWrite: round(percentile(overWrite, 50), 0),
    pooledCpuUsOverWrite: round(handlerSide.cpuUsPerRequest - rawSide.cpuUsPerRequest, 0),
    cpuUsOverWriteRange: [round(Math.min(...overWrite), 0), round(Math.max(...overWrite), 0)],
    stages: {
      handler: stageFigures(handlerProfile, config.profiledRequests),
      raw: stageFigures(rawProfile, config.profiledRequests),
    },
    node: process.version,
  };
}

/** An API Gateway HTTP API (payload 2.0) event as API Gateway sends it: lower-case headers, its request context. */
function apiEvent(method: string, path: string, key: string, body: string) {
  const now = new Date();
  const requestId = randomBytes(8).toString('hex');
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {
      accept: '*/*',
      authorization: `Bearer ${key}`,
      'content-length': String(Buffer.byteLength(body)),
      'content-type': 'application/json',
      host: 'abcdef1234.execute-api.us-east-1.amazonaws.com',
      'user-agent': 'storefront/1.0',
      'x-amzn-trace-id': `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
      'x-forwarded-for': '203.0.113.10',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: '000000000000',
      apiId: 'abcdef1234',
      domainName: 'abcdef1234.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abcdef1234',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.10', userAgent: 'storefront/1.0' },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body,
    isBase64Encoded: false,
  };
}

/** The item the handler writes for a storefront transaction: the same attributes, the same sizes. */
function handlersItem(storeId: string): Record<string, unknown> {
  const transaction = storefrontTransaction(`txn_${ulid()}`);
  const acceptedAt = new Date().toISOString();
  return {
    storeId,
    txnId: transaction.id,
    eventId: `evt_${ulid()}`,
    fingerprint: createHash('sha256').update(JSON.stringify(transaction)).digest('hex'),
    acceptedAt,
    transaction: { ...transaction, createdAt: acceptedAt },
  };
}

async function timedRound(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<TimedRound> {
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await forEachLimit(count, concurrency, async (index) => {
    const t0 = performance.now();
    await task(index);
    latencies.push(performance.now() - t0);
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { latencies, seconds, cpuUs: cpu.user + cpu.system };
}

function summarize(rounds: readonly TimedRound[]): SideFigures {
  const latencies = rounds.flatMap((r) => r.latencies);
  const seconds = rounds.reduce((sum, r) => sum + r.seconds, 0);
  const cpuUs = rounds.reduce((sum, r) => sum + r.cpuUs, 0);
  return {
    count: latencies.length,
    perSecond: round(latencies.length / seconds, 1),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    cpuUsPerRequest: round(cpuUs / latencies.length, 0),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The per-stage breakdown, from V8's sampling profiler

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const WRITE_STAGE = 'the write (SDK, HTTP)';
/** Node's own HTTP and socket code: only the SDK makes requests in the child, so a chain with nothing else is the write. */
const NODE_HTTP = /^node:(_http|http|net|internal\/(http|net|dns|stream_base_commons))/;

/**
 * Stages by the innermost frame that names one. Order matters only between matchers of the same frame. SDK and
 * Node HTTP frames are the write (the limiter's sync, a few per second, is a write too: see limiterSync below).
 */
const STAGES: readonly (readonly [string, (url: string, name: string) => boolean])[] = [
  ['GC', (url, name) => url === '' && name === '(garbage collector)'],
  ['V8 and event loop (unattributed)', (url, name) => url === '' && name === '(program)'],
  ['validation (zod)', (url) => url.includes('/node_modules/zod/')],
  ['logging (Powertools logger)', (url) => url.includes('@aws-lambda-powertools/logger')],
  [
    'metrics (EMF)',
    (url) => url.includes('@aws-lambda-powertools/metrics') || url.endsWith('platform/metrics.ts'),
  ],
  ['middy and secrets middleware', (url) => url.includes('/@middy/') || url.endsWith('platform/secrets.ts')],
  [
    WRITE_STAGE,
    (url) =>
      url.includes('/@aws-sdk/') ||
      url.includes('/@smithy/') ||
      url.includes('/@aws-crypto/') ||
      url.includes('dynamo-transactions-repository'),
  ],
  [
    'limiter (store throttle)',
    (url) => /stores\/(domain\/(shared-)?store-throttle|adapters\/dynamo-store-window)/.test(url),
  ],
  [
    'idempotency fingerprint',
    (url, name) => url.includes('domain/idempotency') || name === 'requestFingerprint',
  ],
  [
    'auth (key digest, cache)',
    (url) => url.includes('api/authenticator') || url.includes('stores/domain/api-keys'),
  ],
  ['body parse (JSON)', (url) => url.includes('api/http/request-body')],
  ['event id (ULID)', (url) => url.includes('events/domain/events') || url.includes('/node_modules/ulid/')],
  ['accept (domain)', (url) => url.includes('events/domain/transactions')],
  [
    'routing, request and response mapping',
    (url) =>
      /lambdas\/api\/(create-api|http\/router|responses|services|routes\/transactions|handlers\/api)/.test(
        url,
      ),
  ],
  ['bench and profiler', (url) => url.includes('bench/')],
];

/** `chain` runs from the sampled frame to the root. Undefined for idle samples. */
function stageOf(chain: readonly ProfileNode[]): string | undefined {
  let found: string | undefined;
  for (const node of chain) {
    const { url, functionName } = node.callFrame;
    if (url === '' && functionName === '(idle)') return undefined;
    const match = STAGES.find(([, test]) => test(url, functionName));
    if (match) {
      found = match[0];
      break;
    }
  }
  // The limiter's own sync runs through the SDK: count it as the limiter's when limiter code started it.
  if (found === WRITE_STAGE && chain.some((node) => /store-throttle|store-window/.test(node.callFrame.url))) {
    return 'limiter (store throttle)';
  }
  if (!found && chain.some((node) => NODE_HTTP.test(node.callFrame.url))) return WRITE_STAGE;
  return found ?? 'other';
}

function stageFigures(profile: CpuProfile, requests: number): StageFigure[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stageOfNode = new Map<number, string | undefined>();
  const totals = new Map<string, number>();
  let sampled = 0;
  profile.samples.forEach((id, index) => {
    if (!stageOfNode.has(id)) {
      const chain: ProfileNode[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const node = byId.get(at);
        if (node) chain.push(node);
      }
      stageOfNode.set(id, stageOf(chain));
    }
    const stage = stageOfNode.get(id);
    if (stage === undefined) return;
    const us = profile.timeDeltas[index] ?? 0;
    sampled += us;
    totals.set(stage, (totals.get(stage) ?? 0) + us);
  });
  return [...totals]
    .sort(([, a], [, b]) => b - a)
    .map(([stage, us]) => ({ stage, usPerRequest: round(us / requests, 1), share: round(us / sampled, 3) }));
}

/**
 * The CPU profile of `run`. With API_OVERHEAD_PROFILE_DIR set, also written there as `<name>.cpuprofile` (open it in
 * Chrome DevTools or speedscope), as `node --cpu-prof` would write it.
 */
async function profiled(name: string, run: () => Promise<unknown>): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: API_OVERHEAD_CONFIG.profileSamplingIntervalUs });
  await post('Profiler.start');
  const outcome = await run().then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  const { profile } = (await post('Profiler.stop')) as { profile: CpuProfile };
  session.disconnect();
  if (outcome) throw outcome.error;
  const dir = process.env.API_OVERHEAD_PROFILE_DIR;
  if (dir) writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  return profile;
}

// ---------------------------------------------------------------------------------------------------------------
// The table

const ok = (met: boolean) => (met ? 'yes' : 'no');

/** Markdown rows `| measure | value | target | met |`. */
export function apiOverheadRows(figures: ApiOverheadFigures): string[] {
  const f = figures;
  const top = (stages: readonly StageFigure[], n: number) =>
    stages
      .slice(0, n)
      .map((s) => `${s.stage} ${s.usPerRequest} µs`)
      .join(', ');
  const writeUs = (stages: readonly StageFigure[]) =>
    stages.find((s) => s.stage === WRITE_STAGE)?.usPerRequest ?? 0;
  const handlerSampled = f.stages.handler.reduce((sum, s) => sum + s.usPerRequest, 0);
  const rawSampled = f.stages.raw.reduce((sum, s) => sum + s.usPerRequest, 0);
  return [
    `| in-process handler vs raw conditional PutItem (${f.concurrency} concurrent, ${f.requestsPerSide} each, ${f.rounds} alternating rounds, same DynamoDB Local and SDK client settings) | ${f.handler.perSecond} vs ${f.rawPutItem.perSecond} per s (p50 ${f.handler.p50Ms} vs ${f.rawPutItem.p50Ms} ms, p99 ${f.handler.p99Ms} vs ${f.rawPutItem.p99Ms} ms): **${f.ratio}** (median of adjacent round pairs, ${f.ratioRange[0]} to ${f.ratioRange[1]}; pooled ${f.pooledRatio}) | >= 0.85 | ${ok(f.ratio >= 0.85)} |`,
    `| handler CPU per accepted transaction beyond its write (child's CPU per request minus per raw put, median of adjacent round pairs) | **${f.handlerCpuUsOverWrite} µs** (pairs ${f.cpuUsOverWriteRange[0]} to ${f.cpuUsOverWriteRange[1]}; pooled ${f.handler.cpuUsPerRequest} - ${f.rawPutItem.cpuUsPerRequest} = ${f.pooledCpuUsOverWrite} µs) | <= 300 µs | ${ok(f.handlerCpuUsOverWrite <= 300)} |`,
    `| handler, sampled CPU per request by stage (V8 profiler, ${round(handlerSampled, 0)} µs sampled) | ${f.stages.handler.map((s) => `${s.stage} ${s.usPerRequest}`).join('; ')} | | |`,
    `| raw put, sampled CPU per put by stage (${round(rawSampled, 0)} µs sampled) | ${top(f.stages.raw, 4)}; the write in the handler ${writeUs(f.stages.handler)} µs vs ${writeUs(f.stages.raw)} µs raw | | |`,
  ];
}

// ---------------------------------------------------------------------------------------------------------------

if (require.main === module && process.env[CHILD_FLAG]) {
  const input = JSON.parse(process.env[CHILD_FLAG] ?? '{}') as ChildInput;
  delete process.env[CHILD_FLAG];
  childMain(input).then(
    (figures) => {
      process.send?.(figures, () => process.exit(0));
    },
    (error) => {
      process.stderr.write(`api-overhead: ${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
}
