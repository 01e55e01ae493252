import { randomBytes } from 'node:crypto';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { fetchApi } from '../support/openapi-validator';
import type { ApiAnswer } from '../support/pipeline-client';
import { pipelineClient } from '../support/pipeline-client';
import { waitFor } from '../support/wait-for';
import {
  type BillingTestStack,
  clearOfMidnight,
  daysAgo,
  newStore,
  startBillingTestStack,
  subscriptionBody,
  type TestStore,
  waitForRun,
} from './support';

/**
 * The lists the console reads, on the real pipeline: a store's subscriptions newest first (through the created
 * index and the gate), the last days' runs and reconciliations (admin), and which runs have a datafeed (a store).
 */
jest.setTimeout(90_000);

const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
let billing: BillingTestStack;
let acme: TestStore;
let other: TestStore;
/** acme's subscriptions as created, newest first by (createdAt, id). */
let newestFirst: { id: string; createdAt: string }[] = [];

const FUTURE = new Date(Date.now() + 30 * 86_400_000).toISOString();
const idsOf = (answer: ApiAnswer) => answer.body.data.map((item: { id: string }) => item.id);

beforeAll(async () => {
  billing = await startBillingTestStack(adminKey);
  acme = await newStore(billing, 'list-acme');
  other = await newStore(billing, 'list-other');
  // Client-chosen ids whose key order is the reverse of their creation order; not charged (they start later).
  const created: { id: string; createdAt: string }[] = [];
  for (let index = 0; index < 25; index += 1) {
    const id = `sub_${String(99 - index).padStart(2, '0')}`;
    const answer = await acme.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id, startAt: FUTURE }),
    );
    expect(answer.status).toBe(201);
    created.push({ id, createdAt: answer.body.createdAt });
  }
  await other.client.call(
    'POST',
    '/v1/subscriptions',
    subscriptionBody({ id: 'sub_other', startAt: FUTURE }),
  );
  newestFirst = created.sort((a, b) =>
    a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : b.createdAt.localeCompare(a.createdAt),
  );
}, 120_000);

afterAll(async () => {
  await billing?.stop();
});

/** Every page of acme's list with `query`, following `next`. */
async function allPages(client: TestStore['client'], query: string) {
  const pages: ApiAnswer[] = [];
  let cursor: string | undefined;
  do {
    const separator = query ? '&' : '';
    const answer = await client.call(
      'GET',
      `/v1/subscriptions?${query}${cursor ? `${separator}cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(answer.status).toBe(200);
    pages.push(answer);
    cursor = answer.body.next;
  } while (cursor && pages.length < 50);
  return pages;
}

describe('GET /v1/subscriptions', () => {
  it("lists the store's subscriptions newest first, 20 a page, each as GET /{id} shows it without charges", async () => {
    const pages = await allPages(acme.client, '');
    expect(pages.map((page) => page.body.data.length)).toEqual([20, 5]);
    expect(pages.flatMap(idsOf)).toEqual(newestFirst.map(({ id }) => id));
    const first = pages[0]?.body.data[0];
    const one = await acme.client.call('GET', `/v1/subscriptions/${first.id}`);
    const { charges, ...withoutCharges } = one.body;
    expect(charges).toEqual([]);
    expect(first).toEqual(withoutCharges);
  });

  it('pages with any limit from 1 to 100, each subscription once', async () => {
    for (const limit of [1, 7, 100]) {
      const pages = await allPages(acme.client, `limit=${limit}`);
      expect(pages.flatMap(idsOf)).toEqual(newestFirst.map(({ id }) => id));
      expect(Math.max(...pages.map((page) => page.body.data.length))).toBeLessThanOrEqual(limit);
    }
  });

  it('filters by status, through every page', async () => {
    const canceled = newestFirst.filter((_, index) => index % 4 === 1).map(({ id }) => id);
    for (const id of canceled)
      expect((await acme.client.call('DELETE', `/v1/subscriptions/${id}`)).status).toBe(200);

    const pages = await allPages(acme.client, 'status=canceled&limit=2');
    expect(pages.flatMap(idsOf)).toEqual(canceled);
    for (const page of pages) {
      expect(page.body.data.every((item: { status: string }) => item.status === 'canceled')).toBe(true);
    }
    const active = (await allPages(acme.client, 'status=active&limit=100')).flatMap(idsOf);
    expect(active).toEqual(newestFirst.map(({ id }) => id).filter((id) => !canceled.includes(id)));
    expect((await allPages(acme.client, 'status=paused')).flatMap(idsOf)).toEqual([]);
  });

  it('orders subscriptions created in the same millisecond by id, across pages', async () => {
    const store = await newStore(billing, 'list-ties');
    const created = await store.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id: 'tie_b', startAt: FUTURE }),
    );
    // Two more items with the same createdAt, written as the API writes them.
    const table = billing.stack.ref('SubscriptionsTable');
    const { Item } = await billing.stack.clients.dynamodb.send(
      new GetItemCommand({ TableName: table, Key: marshall({ storeId: store.id, subscriptionId: 'tie_b' }) }),
    );
    const item = unmarshall(Item ?? {});
    for (const subscriptionId of ['tie_a', 'tie_c']) {
      await billing.stack.clients.dynamodb.send(
        new PutItemCommand({ TableName: table, Item: marshall({ ...item, subscriptionId }) }),
      );
    }
    expect(created.body.createdAt).toBe(item.createdAt);
    const pages = await allPages(store.client, 'limit=1');
    expect(pages.flatMap(idsOf)).toEqual(['tie_a', 'tie_b', 'tie_c']);
  });

  it("never shows another store's subscriptions, even with that store's cursor", async () => {
    const theirs = await other.client.call('GET', '/v1/subscriptions');
    expect(idsOf(theirs)).toEqual(['sub_other']);
    const acmePage = await acme.client.call('GET', '/v1/subscriptions?limit=1');
    const across = await other.client.call(
      'GET',
      `/v1/subscriptions?cursor=${encodeURIComponent(acmePage.body.next)}`,
    );
    expect(across.status).toBe(200);
    expect(idsOf(across).every((id: string) => id === 'sub_other')).toBe(true);
  });

  it.each([
    ['status=expired', 'status'],
    ['status=Active', 'status'],
    ['status=', 'status'],
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=-5', 'limit'],
    ['limit=2.5', 'limit'],
    ['limit=twenty', 'limit'],
    ['cursor=%25%25', 'cursor'],
    ['cursor=not-a-cursor', 'cursor'],
    [
      `cursor=${Buffer.from('{"v":1,"c":"2024-01-01T00:00:00.000Z","i":"sub 1"}').toString('base64url')}`,
      'cursor',
    ],
    [
      `cursor=${Buffer.from('{"v":9,"c":"2024-01-01T00:00:00.000Z","i":"sub_1"}').toString('base64url')}`,
      'cursor',
    ],
  ])('answers %s with 400 naming the parameter', async (query, field) => {
    const answer = await acme.client.call('GET', `/v1/subscriptions?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(answer.body.errors.map((error: { field: string }) => error.field)).toEqual([field]);
  });

  it('answers a tampered cursor with 400', async () => {
    const page = await acme.client.call('GET', '/v1/subscriptions?limit=3');
    const tampered = `X${String(page.body.next).slice(1)}`;
    const answer = await acme.client.call('GET', `/v1/subscriptions?cursor=${tampered}`);
    expect(answer.status).toBe(400);
    expect(answer.body.errors.map((error: { field: string }) => error.field)).toEqual(['cursor']);
  });

  it('refuses the admin key and a wrong key with 401', async () => {
    expect((await billing.admin.call('GET', '/v1/subscriptions')).status).toBe(401);
    expect(
      (await pipelineClient(billing.stack.apiUrl, 'sk_store_nope').call('GET', '/v1/subscriptions')).status,
    ).toBe(401);
  });
});

describe('the last days: runs, reconciliations, datafeeds', () => {
  const runIds = { today: '', twoDaysAgo: '', fortyDaysAgo: '' };

  beforeAll(async () => {
    await clearOfMidnight();
    for (const [key, asOf] of [
      ['fortyDaysAgo', daysAgo(40)],
      ['twoDaysAgo', daysAgo(2)],
      ['today', new Date().toISOString()],
    ] as const) {
      const trigger = await billing.admin.call('POST', '/v1/admin/subscription-runs', { asOf });
      expect(trigger.status).toBe(202);
      runIds[key] = trigger.body.runId;
      await waitForRun(billing, trigger.body.runId);
    }
  }, 90_000);

  it('GET /v1/admin/subscription-runs: the runs of the last 30 days by default, newest first, as GET /{runId}', async () => {
    const answer = await billing.admin.call('GET', '/v1/admin/subscription-runs');
    expect(answer.status).toBe(200);
    expect(answer.body.data.map((run: { runId: string }) => run.runId)).toEqual([
      runIds.today,
      runIds.twoDaysAgo,
    ]);
    const one = await billing.admin.call('GET', `/v1/admin/subscription-runs/${runIds.twoDaysAgo}`);
    // As GET /{runId} shows it, less the progress log that only the one run's answer carries.
    const { progress: _progress, ...withoutProgress } = one.body;
    expect(answer.body.data[1]).toEqual(withoutProgress);
    const longer = await billing.admin.call('GET', '/v1/admin/subscription-runs?days=41');
    expect(longer.body.data.map((run: { runId: string }) => run.runId)).toEqual([
      runIds.today,
      runIds.twoDaysAgo,
      runIds.fortyDaysAgo,
    ]);
    const todayOnly = await billing.admin.call('GET', '/v1/admin/subscription-runs?days=1');
    expect(todayOnly.body.data.map((run: { runId: string }) => run.runId)).toEqual([runIds.today]);
  });

  it('GET /v1/datafeeds/subscriptions: which runs have a datafeed, and nothing else of them', async () => {
    const answer = await acme.client.call('GET', '/v1/datafeeds/subscriptions?days=366');
    expect(answer.status).toBe(200);
    expect(answer.body.data.map((run: { runId: string }) => run.runId)).toEqual([
      runIds.today,
      runIds.twoDaysAgo,
      runIds.fortyDaysAgo,
    ]);
    for (const run of answer.body.data) {
      expect(Object.keys(run).sort()).toEqual(['completedAt', 'runId', 'status']);
      expect(run.status).toBe('completed');
    }
    // Each one's datafeed is there.
    const feed = await fetchApi(
      new URL(`/v1/datafeeds/subscriptions/${runIds.twoDaysAgo}`, billing.stack.apiUrl),
      {
        headers: { authorization: `Bearer ${acme.apiKey}` },
      },
    );
    expect(feed.status).toBe(200);
  });

  it("GET /v1/admin/reconciliations: the last days' reports newest first, as GET /{date}", async () => {
    for (const date of [runIds.twoDaysAgo, runIds.today]) {
      const started = await billing.admin.call('POST', '/v1/admin/reconciliations', { date });
      expect(started.status).toBe(202);
    }
    const answer = await waitFor(
      () => billing.admin.call('GET', '/v1/admin/reconciliations'),
      (list) =>
        list.status === 200 &&
        list.body.data.length === 2 &&
        list.body.data.every((report: { status: string }) => report.status === 'completed'),
      { timeoutMs: 30_000, intervalMs: 250, what: 'both reconciliations to complete' },
    );
    expect(answer.body.data.map((report: { date: string }) => report.date)).toEqual([
      runIds.today,
      runIds.twoDaysAgo,
    ]);
    const one = await billing.admin.call('GET', `/v1/admin/reconciliations/${runIds.today}`);
    expect(answer.body.data[0]).toEqual(one.body);
    expect((await billing.admin.call('GET', '/v1/admin/reconciliations?days=1')).body.data).toHaveLength(1);
  });

  describe.each([
    ['/v1/admin/subscription-runs', 'admin'],
    ['/v1/admin/reconciliations', 'admin'],
    ['/v1/datafeeds/subscriptions', 'store'],
  ] as const)('%s', (path, auth) => {
    const client = () => (auth === 'admin' ? billing.admin : acme.client);

    it.each(['days=0', 'days=367', 'days=-1', 'days=1.5', 'days=week', 'days='])(
      'answers %s with 400 naming `days`',
      async (query) => {
        const answer = await client().call('GET', `${path}?${query}`);
        expect(answer.status).toBe(400);
        expect(answer.headers.get('content-type')).toBe('application/problem+json');
        expect(answer.body.errors.map((error: { field: string }) => error.field)).toEqual(['days']);
      },
    );

    it('refuses the wrong kind of key with 401, showing nothing', async () => {
      const wrong = auth === 'admin' ? acme.client : billing.admin;
      const answer = await wrong.call('GET', path);
      expect(answer.status).toBe(401);
      expect(answer.body).not.toHaveProperty('data');
      expect((await pipelineClient(billing.stack.apiUrl, '').call('GET', path)).status).toBe(401);
    });
  });
});
