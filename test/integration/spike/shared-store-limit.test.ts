import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import {
  DynamoStoreWindowCounters,
  rateLimitKey,
} from '../../../lambdas/stores/adapters/dynamo-store-window-counters';
import {
  SharedStoreThrottle,
  type SharedStoreThrottleOptions,
} from '../../../lambdas/stores/domain/shared-store-throttle';
import { localClientConfig } from '../../../local/aws-clients';
import { sharedEmulators, uniquePrefix } from '../support/emulators';

/**
 * The per-store limit across execution environments, on DynamoDB Local: independent SharedStoreThrottle instances,
 * each with its own SDK client (as separate API execution environments have), share the counts of a table keyed
 * like the idempotency table they use in AWS (`pk`). The clock is fixed inside one window so that what is admitted
 * does not depend on how fast this machine answers; every sync is a real UpdateItem on the emulator.
 */
const LIMITS = { rateLimit: 5, burstLimit: 20 };
// At 5/s and a sync every 250 ms, an environment may have 2 requests unacknowledged (maxUnsynced).
const MAX_UNSYNCED = 2;
const ENVIRONMENTS = 3;
const T0 = 1_900_000_000_500; // half a second into a window

const tableName = `${uniquePrefix()}-rate-limits`;
let admin: DynamoDBClient;
const clients: DynamoDBClient[] = [];

beforeAll(async () => {
  admin = new DynamoDBClient(localClientConfig(sharedEmulators().dynamodbEndpoint));
  await admin.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await admin?.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
  admin?.destroy();
});

/** One API execution environment's limiter: its own client (one attempt, as in AWS) and the shared table. */
function environment(clock: { now: number }, options: SharedStoreThrottleOptions = {}) {
  const client = new DynamoDBClient({
    ...localClientConfig(sharedEmulators().dynamodbEndpoint),
    maxAttempts: 1,
  });
  clients.push(client);
  const counters = new DynamoStoreWindowCounters({ client: createDocumentClient(client), tableName });
  const syncs = { settled: 0 };
  const throttle = new SharedStoreThrottle(
    LIMITS,
    { add: (storeId, update) => counters.add(storeId, update).finally(() => (syncs.settled += 1)) },
    { now: () => clock.now, maxSyncWaitMs: 10_000, ...options },
  );
  return { client, throttle, syncs };
}

/** Sends `count` requests of `storeId`, one at a time, to the environments in turn; answers how many were admitted. */
async function offer(
  environments: ReadonlyArray<{ throttle: SharedStoreThrottle }>,
  storeId: string,
  count: number,
) {
  let admitted = 0;
  for (let i = 0; i < count; i += 1) {
    const decision = await environments[i % environments.length]?.throttle.take(storeId);
    if (decision?.allowed) admitted += 1;
    else expect(decision?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  }
  return admitted;
}

it("admits, across independent environments together, no more than the store's limit, and leaves other stores alone", async () => {
  const clock = { now: T0 };
  const environments = Array.from({ length: ENVIRONMENTS }, () => environment(clock));

  // The hot store sends 90 requests at once, spread over 3 environments. Alone, each environment's bucket would
  // admit its burst of 20: 60 in all. Its limit allows 20 + 5/s x 0.5 s into the window = 22.5.
  const hot = await offer(environments, 'hot', 90);
  expect(hot).toBeGreaterThanOrEqual(22);
  // At most (environments - 1) x maxUnsynced admitted on a view not yet updated by the others' syncs.
  expect(hot).toBeLessThanOrEqual(22 + (ENVIRONMENTS - 1) * MAX_UNSYNCED);

  // Another store, through the same environments at the same moment: its own limit, untouched by the hot one's.
  expect(await offer(environments, 'quiet', 15)).toBe(15);

  // A second later the hot store has 5 more tokens: the shared limit lets about that many through, not 3 x 5.
  clock.now += 1000;
  const nextSecond = await offer(environments, 'hot', 30);
  expect(nextSecond).toBeLessThanOrEqual(5 + (ENVIRONMENTS - 1) * MAX_UNSYNCED);

  // The shared record: one small item per store, its windows' counts and an expiry for DynamoDB's TTL.
  const { Item } = await createDocumentClient(admin).send(
    new GetCommand({ TableName: tableName, Key: { pk: rateLimitKey('hot') } }),
  );
  const window = Math.floor(T0 / 1000);
  expect(Item?.[`w${window}`]).toBeGreaterThanOrEqual(hot - ENVIRONMENTS * MAX_UNSYNCED);
  expect(Item?.[`w${window}`]).toBeLessThanOrEqual(hot);
  expect(Item?.expiresAt).toBeGreaterThan(T0 / 1000);
});

it('fails open to each environment its own bucket while DynamoDB throttles the syncs, and limits together again after', async () => {
  // DynamoDB Local never throttles: the fault is injected into each environment's SDK client (a middleware that
  // throws the exception DynamoDB's throttling raises, in place of sending the UpdateItem) while `throttling` holds.
  let throttling = true;
  const clock = { now: T0 + 60_000 };
  const failures: unknown[] = [];
  const environments = Array.from({ length: ENVIRONMENTS }, () =>
    environment(clock, { onSyncFailure: (_storeId, error) => failures.push(error) }),
  );
  for (const { client } of environments) {
    client.middlewareStack.add(
      (next) => async (args) => {
        if (throttling) {
          throw new ProvisionedThroughputExceededException({
            message: 'The level of configured provisioned throughput for the table was exceeded.',
            $metadata: { httpStatusCode: 400 },
          });
        }
        return next(args);
      },
      { step: 'finalizeRequest', name: 'injectedThrottling' },
    );
  }

  // No error, no wait, no 429 beyond what each environment's own bucket says: 3 x 20, as before the shared limit.
  const started = Date.now();
  expect(await offer(environments, 'outage', 90)).toBe(ENVIRONMENTS * LIMITS.burstLimit);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(failures.length).toBeGreaterThanOrEqual(ENVIRONMENTS);
  expect(failures.every((error) => error instanceof ProvisionedThroughputExceededException)).toBe(true);

  // DynamoDB answers again: after the back-off the syncs resume and the store is limited as a whole once more.
  throttling = false;
  clock.now += 11_000; // past the horizon: the outage's counts no longer matter, every bucket is full again
  // Each environment's next admitted request sends a sync in the background (it is not made to wait for it).
  const before = environments.map(({ syncs }) => syncs.settled);
  let after = await offer(environments, 'outage', ENVIRONMENTS);
  const deadline = Date.now() + 10_000;
  while (environments.some(({ syncs }, i) => syncs.settled === before[i]) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  after += await offer(environments, 'outage', 90);
  // Half a second into a window again: 22 within the limit, as in the first test.
  expect(after).toBeGreaterThanOrEqual(22);
  expect(after).toBeLessThanOrEqual(22 + (ENVIRONMENTS - 1) * MAX_UNSYNCED);
});
