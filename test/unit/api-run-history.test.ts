import { createApi } from '../../lambdas/api/create-api';
import type { ReconciliationReports } from '../../lambdas/billing/domain/reconciliation';
import { type ReconciliationReport, runningReport } from '../../lambdas/billing/domain/reconciliation-report';
import { lastRunIds } from '../../lambdas/billing/domain/runs/history';
import type { Run } from '../../lambdas/billing/domain/runs/run';
import { runView } from '../../lambdas/billing/domain/runs/view';
import { hashApiKey } from '../../lambdas/stores/domain/api-keys';
import { callerFor } from './support/api-events';
import { ADMIN_KEY, acme, OTHER_STORE_KEY, STORE_KEY, webhookDependencies } from './support/in-memory-api';
import type { InMemoryRuns } from './support/in-memory-billing';
import { silentLogger } from './support/logger';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const NOW = '2024-06-30T12:00:00.000Z';

class Reports implements ReconciliationReports {
  readonly items = new Map<string, ReconciliationReport>();
  readonly batches: string[][] = [];
  async put(report: ReconciliationReport) {
    this.items.set(report.date, structuredClone(report));
  }
  async get(date: string) {
    return this.items.get(date);
  }
  async getMany(dates: readonly string[]) {
    this.batches.push([...dates]);
    return dates.flatMap((date) => this.items.get(date) ?? []);
  }
}

function run(runId: string, status: Run['status']): Run {
  return {
    runId,
    asOf: `${runId}T00:05:00.000Z`,
    status,
    startedAt: `${runId}T00:05:00.000Z`,
    updatedAt: `${runId}T00:30:00.000Z`,
    ...(status === 'completed' ? { completedAt: `${runId}T00:30:00.000Z` } : {}),
    deadlineAt: `${runId}T06:05:00.000Z`,
    cursor: { shard: 0 },
    enumerated: status === 'completed',
    total: 10,
    succeeded: status === 'completed' ? 9 : 4,
    failed: 1,
    samples: [],
    claimed: 10,
    triggers: 1,
    stores: ['acme', 'other'],
  } as Run;
}

/** Runs on 2024-06-30 (running), -29, -01 and 2024-05-31 (completed); reports of -29 and -01; two stores. */
async function historyApi() {
  const base = webhookDependencies();
  await base.stores.create({ id: 'acme', name: 'Acme', createdAt: '' }, hashApiKey(STORE_KEY));
  await base.stores.create({ id: 'other', name: 'Other', createdAt: '' }, hashApiKey(OTHER_STORE_KEY));
  const runs = base.billing.runs as InMemoryRuns;
  for (const [runId, status] of [
    ['2024-06-30', 'running'],
    ['2024-06-29', 'completed'],
    ['2024-06-01', 'completed'],
    ['2024-05-31', 'completed'],
    ['2023-07-01', 'completed'],
  ] as const) {
    runs.runs.set(runId, run(runId, status));
  }
  const reports = new Reports();
  await reports.put({
    ...runningReport('2024-06-29', NOW),
    status: 'completed',
    completedAt: NOW,
    matched: 9,
  });
  await reports.put(runningReport('2024-06-01', NOW));
  await reports.put(runningReport('2023-06-01', NOW));
  const getMany = jest.spyOn(runs, 'getMany');
  const deps = {
    ...base,
    billing: { ...base.billing, reconciliations: { reports, queue: { send: async () => undefined } } },
    now: () => Date.parse(NOW),
  };
  return { call: callerFor(createApi(deps, silentLogger), ADMIN_KEY), runs, reports, getMany };
}

describe('lastRunIds', () => {
  it("names the last days' UTC dates, today's first, across months and leap days", () => {
    expect(lastRunIds(Date.parse('2024-03-01T00:00:00.000Z'), 3)).toEqual([
      '2024-03-01',
      '2024-02-29',
      '2024-02-28',
    ]);
    expect(lastRunIds(Date.parse('2024-06-30T23:59:59.999Z'), 1)).toEqual(['2024-06-30']);
    expect(lastRunIds(Date.parse(NOW), 366)).toHaveLength(366);
    expect(lastRunIds(Date.parse(NOW), 366).at(-1)).toBe('2023-07-01');
  });
});

describe('GET /v1/admin/subscription-runs', () => {
  it('lists the runs of the last 30 days by default, newest first, each as GET /{runId} shows it', async () => {
    const { call, getMany } = await historyApi();
    const answer = await call('GET', '/v1/admin/subscription-runs', { headers: admin });
    expect(answer.status).toBe(200);
    expect(answer.body.data.map((view: { runId: string }) => view.runId)).toEqual([
      '2024-06-30',
      '2024-06-29',
      '2024-06-01',
    ]);
    const one = await call('GET', '/v1/admin/subscription-runs/2024-06-29', { headers: admin });
    // As GET /{runId} shows it, less the progress log that only the one run's answer carries.
    const { progress: _progress, ...withoutProgress } = one.body;
    expect(answer.body.data[1]).toEqual(withoutProgress);
    expect(answer.body.data[0]).toEqual(runView(run('2024-06-30', 'running'), Date.parse(NOW)));
    // One read by key of the 30 dates: no scan.
    expect(getMany).toHaveBeenCalledTimes(1);
    expect(getMany.mock.calls[0]?.[0]).toEqual(lastRunIds(Date.parse(NOW), 30));
  });

  it.each([
    [1, ['2024-06-30']],
    [31, ['2024-06-30', '2024-06-29', '2024-06-01', '2024-05-31']],
    [366, ['2024-06-30', '2024-06-29', '2024-06-01', '2024-05-31', '2023-07-01']],
  ])('takes days=%i', async (days, expected) => {
    const { call } = await historyApi();
    const answer = await call('GET', '/v1/admin/subscription-runs', {
      headers: admin,
      query: `days=${days}`,
    });
    expect(answer.body.data.map((view: { runId: string }) => view.runId)).toEqual(expected);
  });
});

describe('GET /v1/admin/reconciliations', () => {
  it("lists the last days' reports newest first, each as GET /{date} shows it", async () => {
    const { call, reports } = await historyApi();
    const answer = await call('GET', '/v1/admin/reconciliations', { headers: admin });
    expect(answer.status).toBe(200);
    expect(answer.body.data.map((report: { date: string }) => report.date)).toEqual([
      '2024-06-29',
      '2024-06-01',
    ]);
    const one = await call('GET', '/v1/admin/reconciliations/2024-06-29', { headers: admin });
    expect(answer.body.data[0]).toEqual(one.body);
    expect(reports.batches).toEqual([lastRunIds(Date.parse(NOW), 30)]);
  });

  it('answers an empty list when there is none', async () => {
    const { call } = await historyApi();
    const answer = await call('GET', '/v1/admin/reconciliations', { headers: admin, query: 'days=1' });
    expect(answer.body).toEqual({ data: [] });
  });
});

describe('GET /v1/datafeeds/subscriptions', () => {
  it('tells a store which runs have (or will have) a datafeed, and nothing else of them', async () => {
    const { call } = await historyApi();
    const answer = await call('GET', '/v1/datafeeds/subscriptions', { headers: acme, query: 'days=31' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      data: [
        { runId: '2024-06-30', status: 'running' },
        { runId: '2024-06-29', status: 'completed', completedAt: '2024-06-29T00:30:00.000Z' },
        { runId: '2024-06-01', status: 'completed', completedAt: '2024-06-01T00:30:00.000Z' },
        { runId: '2024-05-31', status: 'completed', completedAt: '2024-05-31T00:30:00.000Z' },
      ],
    });
  });

  it('refuses the admin key: it is a store route', async () => {
    const { call } = await historyApi();
    expect((await call('GET', '/v1/datafeeds/subscriptions', { headers: admin })).status).toBe(401);
  });
});

describe.each([
  ['/v1/admin/subscription-runs', admin],
  ['/v1/admin/reconciliations', admin],
  ['/v1/datafeeds/subscriptions', acme],
])('GET %s', (path, headers) => {
  it.each([
    ['days=0', 'days'],
    ['days=367', 'days'],
    ['days=-1', 'days'],
    ['days=1.5', 'days'],
    ['days=thirty', 'days'],
    ['days=', 'days'],
    ['days=1e2', 'days'],
    ['days=9999999', 'days'],
  ])('answers 400 naming the parameter for %s', async (query, field) => {
    const { call, getMany, reports } = await historyApi();
    const answer = await call('GET', path, { headers, query });
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body.errors.map((error: { field: string }) => error.field)).toEqual([field]);
    expect(getMany).not.toHaveBeenCalled();
    expect(reports.batches).toEqual([]);
  });

  it.each([
    ['no key', {}],
    ['a wrong key', { authorization: 'Bearer nope' }],
    ...(path.startsWith('/v1/admin') ? [['a store key', acme] as [string, Record<string, string>]] : []),
  ])('refuses %s with 401', async (_what, wrong) => {
    const { call } = await historyApi();
    const answer = await call('GET', path, { headers: wrong });
    expect(answer.status).toBe(401);
    expect(answer.body).not.toHaveProperty('data');
  });
});
