import { createApi } from '../../lambdas/api/create-api';
import type { ApiDependencies } from '../../lambdas/api/services';
import type { ReconcileMessage } from '../../lambdas/billing/domain/messages';
import type { ReconciliationReports } from '../../lambdas/billing/domain/reconciliation';
import {
  buildReconciliation,
  type ReconciliationReport,
} from '../../lambdas/billing/domain/reconciliation-report';
import type { Run } from '../../lambdas/billing/domain/runs/run';
import { hashApiKey } from '../../lambdas/stores/domain/api-keys';
import { callerFor } from './support/api-events';
import { ADMIN_KEY, acme, json, STORE_KEY, webhookDependencies } from './support/in-memory-api';
import type { InMemoryRuns } from './support/in-memory-billing';
import { silentLogger } from './support/logger';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const NOW = '2024-06-02T12:00:00.000Z';

class Reports implements ReconciliationReports {
  readonly items = new Map<string, ReconciliationReport>();
  async put(report: ReconciliationReport) {
    this.items.set(report.date, structuredClone(report));
  }
  async get(date: string) {
    return this.items.get(date);
  }
  async getMany(dates: readonly string[]) {
    return dates.flatMap((date) => this.items.get(date) ?? []);
  }
}

class Queue {
  readonly sent: { message: ReconcileMessage; delaySeconds: number }[] = [];
  async send(message: ReconcileMessage, delaySeconds: number) {
    this.sent.push({ message, delaySeconds });
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
    total: 0,
    succeeded: 0,
    failed: 0,
    samples: [],
    claimed: 0,
    triggers: 1,
  };
}

/** The API over in-memory ports, with the runs of 2024-06-01 (completed) and 2024-06-02 (running). */
async function reconciliationApi() {
  const base = webhookDependencies();
  await base.stores.create({ id: 'acme', name: 'Acme', createdAt: '' }, hashApiKey(STORE_KEY));
  const runs = base.billing.runs as InMemoryRuns;
  runs.runs.set('2024-06-01', run('2024-06-01', 'completed'));
  runs.runs.set('2024-06-02', run('2024-06-02', 'running'));
  const reports = new Reports();
  const queue = new Queue();
  const deps = {
    ...base,
    billing: { ...base.billing, reconciliations: { reports, queue } },
    now: () => Date.parse(NOW),
  } satisfies ApiDependencies;
  const call = callerFor(createApi(deps, silentLogger), ADMIN_KEY);
  return { call, reports, queue };
}

describe('POST /v1/admin/reconciliations', () => {
  it("starts the reconciliation of a completed run: 202 {date, status}, its report running, RunFunction's message sent", async () => {
    const { call, reports, queue } = await reconciliationApi();

    const answer = await call('POST', '/v1/admin/reconciliations', json({ date: '2024-06-01' }, admin));

    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ date: '2024-06-01', status: 'running', requestedAt: NOW });
    expect(reports.items.get('2024-06-01')).toMatchObject({ status: 'running' });
    expect(queue.sent).toEqual([{ message: { kind: 'reconcile', date: '2024-06-01' }, delaySeconds: 0 }]);
  });

  it.each([
    ['not a date', { date: 'yesterday' }],
    ['not a calendar day', { date: '2024-02-30' }],
    ['a date-time', { date: '2024-06-01T00:00:00Z' }],
    ['not a string', { date: 20240601 }],
    ['missing', {}],
  ])('refuses a date that is %s with 400 naming `date`', async (_what, body) => {
    const { call, queue } = await reconciliationApi();

    const answer = await call('POST', '/v1/admin/reconciliations', json(body, admin));

    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body.errors.map((error: { field: string }) => error.field)).toEqual(['date']);
    expect(queue.sent).toEqual([]);
  });

  it('answers 404 for a date without a run, and 409 for a run still charging', async () => {
    const { call, queue } = await reconciliationApi();

    const none = await call('POST', '/v1/admin/reconciliations', json({ date: '2024-05-20' }, admin));
    const running = await call('POST', '/v1/admin/reconciliations', json({ date: '2024-06-02' }, admin));

    expect(none.status).toBe(404);
    expect(none.body).toMatchObject({ type: 'urn:commerce-pipeline:problem:not-found', status: 404 });
    expect(running.status).toBe(409);
    expect(running.body).toMatchObject({ type: 'urn:commerce-pipeline:problem:run-not-completed' });
    expect(queue.sent).toEqual([]);
  });

  it('replays the first answer for the same Idempotency-Key, and refuses the key with another body', async () => {
    const { call, queue } = await reconciliationApi();
    const headers = { ...admin, 'idempotency-key': 'reconcile-0601' };

    const first = await call('POST', '/v1/admin/reconciliations', json({ date: '2024-06-01' }, headers));
    const again = await call('POST', '/v1/admin/reconciliations', json({ date: '2024-06-01' }, headers));
    const other = await call('POST', '/v1/admin/reconciliations', json({ date: '2024-05-31' }, headers));

    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(other.status).toBe(422);
    expect(queue.sent).toHaveLength(1);
  });

  it('takes the admin key only', async () => {
    const { call } = await reconciliationApi();
    expect((await call('POST', '/v1/admin/reconciliations', json({ date: '2024-06-01' }, acme))).status).toBe(
      401,
    );
    expect((await call('GET', '/v1/admin/reconciliations/2024-06-01', { headers: acme })).status).toBe(401);
  });
});

describe('GET /v1/admin/reconciliations/{date}', () => {
  it('answers the report', async () => {
    const { call, reports } = await reconciliationApi();
    const report = buildReconciliation({
      date: '2024-06-01',
      requestedAt: NOW,
      completedAt: NOW,
      runCharges: [],
      intents: [
        {
          id: 'pi_1',
          status: 'succeeded',
          amount: 500,
          currency: 'usd',
          metadata: { store_id: 'acme', subscription_id: 'sub_1', period: '2024-06-01', attempt: '0' },
        },
      ],
      records: [],
    });
    await reports.put(report);

    const answer = await call('GET', '/v1/admin/reconciliations/2024-06-01', { headers: admin });

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(report);
    expect(answer.body).toMatchObject({
      date: '2024-06-01',
      status: 'completed',
      gatewayPaymentIntents: 1,
      recordedCharges: 0,
      matched: 0,
      duplicates: [],
      orphans: [{ paymentIntentId: 'pi_1', subscriptionId: 'sub_1', period: '2024-06-01', attempt: 0 }],
      missing: [],
      completedAt: NOW,
    });
  });

  it('answers 404 for a date never reconciled and 400 for one that is not a date', async () => {
    const { call } = await reconciliationApi();

    const unknown = await call('GET', '/v1/admin/reconciliations/2024-06-01', { headers: admin });
    const bad = await call('GET', '/v1/admin/reconciliations/June', { headers: admin });

    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toBe('application/problem+json');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: 400, title: 'Bad request' });
  });
});
