import { runCli } from '../support/cli';
import { type Answer, FakeAdminApi, problem, type Received } from '../support/fake-admin-api';

// Every test starts the CLI through tsx (about a second on two cores).
jest.setTimeout(30_000);

const ADMIN_KEY = 'sk_admin_reconcile_cli_test_0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * What the two reconciliation routes of the fake admin API answer: the POST `start`, the GETs walk through
 * `reports`, staying on the last.
 */
interface Script {
  start: (body: { date: string }) => Answer;
  reports: Answer[];
  reads: number;
}

function reconciliationRoutes(script: Script) {
  return (request: Received): Answer => {
    if (request.method === 'POST' && request.path === '/v1/admin/reconciliations') {
      return script.start(request.body as { date: string });
    }
    if (request.method === 'GET' && request.path === '/v1/admin/reconciliations/2026-01-15') {
      const answer = script.reports[Math.min(script.reads, script.reports.length - 1)];
      script.reads += 1;
      return answer ?? problem(404, 'Not found', 'No reconciliation for 2026-01-15.');
    }
    return problem(404, 'Not found', `No route ${request.path}.`);
  };
}

const RUNNING = {
  date: '2026-01-15',
  status: 'running',
  requestedAt: '2026-01-15T03:00:00.000Z',
  gatewayPaymentIntents: 0,
  recordedCharges: 0,
  matched: 0,
  duplicates: [],
  orphans: [],
  missing: [],
};

const CLEAN = {
  ...RUNNING,
  status: 'completed',
  gatewayPaymentIntents: 120,
  recordedCharges: 120,
  matched: 120,
  counts: { duplicates: 0, orphans: 0, missing: 0 },
  completedAt: '2026-01-15T03:00:04.000Z',
};

const MISMATCHED = {
  ...CLEAN,
  gatewayPaymentIntents: 122,
  matched: 118,
  duplicates: [
    {
      storeId: 'acme',
      subscriptionId: 'sub_1',
      period: '2026-01-15',
      attempt: 0,
      paymentIntentIds: ['pi_a', 'pi_b'],
      recordedPaymentIntentId: 'pi_a',
    },
  ],
  orphans: [
    {
      paymentIntentId: 'pi_x',
      storeId: 'acme',
      subscriptionId: 'sub_9',
      period: '2026-01-15',
      attempt: 1,
      amount: 1999,
      currency: 'USD',
      status: 'succeeded',
      reason: 'no-record',
    },
  ],
  missing: [
    {
      storeId: 'acme',
      subscriptionId: 'sub_2',
      period: '2026-01-15',
      attempt: 0,
      paymentIntentId: 'pi_gone',
      recordedStatus: 'succeeded',
    },
  ],
  counts: { duplicates: 1, orphans: 1, missing: 1 },
};

describe('npx pipeline reconcile <date>', () => {
  let api: FakeAdminApi;
  const against = (...args: string[]) => runCli(['--api-url', api.url, '--admin-key', ADMIN_KEY, ...args]);

  let script: Script;
  beforeEach(async () => {
    script = {
      start: (body) => ({
        status: 202,
        body: { date: body.date, status: 'running', requestedAt: '2026-01-15T03:00:00.000Z' },
      }),
      reports: [],
      reads: 0,
    };
    api = await FakeAdminApi.start(ADMIN_KEY, reconciliationRoutes(script));
  });
  afterEach(() => api.stop());

  it('starts the reconciliation with an Idempotency-Key, waits for it, and prints a clean report (exit 0)', async () => {
    script.reports = [
      { status: 200, body: RUNNING },
      { status: 200, body: CLEAN },
    ];

    const result = await against('reconcile', '2026-01-15', '--interval', '0.05');

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(
      [
        'Reconciliation of run 2026-01-15: completed at 2026-01-15T03:00:04.000Z',
        '  gateway PaymentIntents  120',
        '  recorded charges        120',
        '  matched                 120',
        '  duplicates              0',
        '  orphans                 0',
        '  missing                 0',
        '',
        'Clean: every PaymentIntent that moved money is the recorded payment of its charge.',
        '',
      ].join('\n'),
    );
    const [post, ...gets] = api.received;
    expect(post).toMatchObject({ method: 'POST', body: { date: '2026-01-15' } });
    expect(post?.headers['idempotency-key']).toMatch(UUID);
    expect(gets.map((request) => request.method)).toEqual(['GET', 'GET']);
  });

  it('lists each duplicate, orphan and missing payment, and exits 1 for the duplicates and orphans', async () => {
    script.reports = [{ status: 200, body: MISMATCHED }];

    const result = await against('reconcile', '2026-01-15');

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      '  duplicates              1\n  orphans                 1\n  missing                 1\n',
    );
    expect(result.stdout).toContain(
      'Duplicates: money moved more than once for one charge\n' +
        '  acme/sub_1 period 2026-01-15 attempt 0: pi_a, pi_b (recorded: pi_a)\n',
    );
    expect(result.stdout).toContain(
      'Orphans: money moved, nothing recorded\n' +
        '  pi_x  acme/sub_9 period 2026-01-15 attempt 1  1999 USD  (no-record)\n',
    );
    expect(result.stdout).toContain(
      'Missing: recorded as paid, not at the gateway\n' +
        '  acme/sub_2 period 2026-01-15 attempt 0: pi_gone (recorded succeeded; gateway: not found)\n',
    );
    expect(result.stdout).toContain('Not clean: 1 duplicate(s), 1 orphan(s).');
  });

  it('--json prints the report as the API answered it, with the same exit code', async () => {
    script.reports = [{ status: 200, body: MISMATCHED }];

    const result = await against('reconcile', '2026-01-15', '--json');

    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual(MISMATCHED);
  });

  it('--no-wait starts it and exits at once', async () => {
    const result = await against('reconcile', '2026-01-15', '--no-wait');

    expect(result).toMatchObject({ code: 0, stdout: 'Reconciliation of run 2026-01-15: running\n' });
    expect(api.received.map((request) => request.method)).toEqual(['POST']);
  });

  it('keeps waiting through one failed poll (503), reporting it on stderr', async () => {
    script.reports = [problem(503, 'Service Unavailable', 'Busy.'), { status: 200, body: CLEAN }];

    const result = await against('reconcile', '2026-01-15', '--interval', '0.05');

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('Poll failed (503 Service Unavailable: Busy.)');
  });

  it.each([['2026-1-15'], ['2026-02-30'], ['today']])(
    'refuses the date %s with exit code 2 before calling the API',
    async (date) => {
      const result = await against('reconcile', date);

      expect(result.code).toBe(2);
      expect(result.stderr).toContain('YYYY-MM-DD');
      expect(api.received).toEqual([]);
    },
  );

  it.each([
    [
      404,
      'No subscription run for 2026-01-15.',
      'Run 2026-01-15 does not exist: there is nothing to reconcile',
    ],
    [409, 'The run is still running.', 'Run 2026-01-15 is still running'],
  ])('says why the API refused (%i) and exits 1', async (status, detail, said) => {
    script.start = () => problem(status, status === 404 ? 'Not found' : 'Run not completed', detail);

    const result = await against('reconcile', '2026-01-15');

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(said);
    expect(result.stderr).toContain(detail);
    expect(result.stdout).toBe('');
  });
});
