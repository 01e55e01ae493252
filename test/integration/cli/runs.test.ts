import { followRun, type Output } from '../../../cli/run-progress';
import type { SubscriptionRun } from '../../../cli/subscription-runs';
import { runCli } from '../support/cli';
import { type Answer, FakeAdminApi, problem, type Received } from '../support/fake-admin-api';

// Every test starts the CLI through tsx (about a second on two cores).
jest.setTimeout(30_000);

const ADMIN_KEY = 'sk_admin_runs_cli_test_0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * What the two subscription-run routes of the fake admin API answer: the POST `start`, a run's GETs walk through
 * `runs[runId]`, staying on the last.
 */
interface Script {
  start: (body: { asOf?: string }) => Answer;
  runs: Map<string, Answer[]>;
  reads: Map<string, number>;
}

function runRoutes(script: Script) {
  return (request: Received): Answer => {
    if (request.method === 'POST' && request.path === '/v1/admin/subscription-runs') {
      return script.start((request.body ?? {}) as { asOf?: string });
    }
    const runId = /^\/v1\/admin\/subscription-runs\/([^/]+)$/.exec(request.path)?.[1];
    const answers = runId === undefined ? undefined : script.runs.get(runId);
    if (request.method !== 'GET' || runId === undefined || !answers) {
      return problem(404, 'Not Found', `No subscription run ${runId ?? request.path}.`);
    }
    const read = script.reads.get(runId) ?? 0;
    script.reads.set(runId, read + 1);
    return answers[Math.min(read, answers.length - 1)] ?? problem(500, 'Empty script', runId);
  };
}

function run(overrides: Partial<SubscriptionRun> = {}): SubscriptionRun {
  return {
    runId: '2026-01-15',
    status: 'running',
    total: 100,
    succeeded: 0,
    failed: 0,
    pending: 100,
    startedAt: '2026-01-15T00:00:01.000Z',
    updatedAt: '2026-01-15T00:00:01.000Z',
    ratePerMinute: null,
    etaSeconds: null,
    ...overrides,
  };
}

const COMPLETED = run({
  status: 'completed',
  succeeded: 98,
  failed: 2,
  pending: 0,
  updatedAt: '2026-01-15T00:03:12.000Z',
  completedAt: '2026-01-15T00:03:12.000Z',
  ratePerMinute: 31.25,
  etaSeconds: 0,
});

describe('npx pipeline run / runs', () => {
  let api: FakeAdminApi;
  const against = (...args: string[]) => runCli(['--api-url', api.url, '--admin-key', ADMIN_KEY, ...args]);

  let script: Script;
  beforeEach(async () => {
    script = {
      start: (body) => ({
        status: 202,
        body: { runId: (body.asOf ?? new Date().toISOString()).slice(0, 10), status: 'running' },
      }),
      runs: new Map(),
      reads: new Map(),
    };
    api = await FakeAdminApi.start(ADMIN_KEY, runRoutes(script));
  });
  afterEach(() => api.stop());

  it('run --as-of starts the run of that UTC date with an Idempotency-Key and prints it', async () => {
    const result = await against('run', '--as-of', '2026-01-15T01:30:00+02:00');

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe('Run 2026-01-14: running\n');
    expect(api.received).toHaveLength(1);
    const [request] = api.received;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/v1/admin/subscription-runs',
      body: { asOf: '2026-01-14T23:30:00.000Z' },
    });
    expect(request?.headers.authorization).toBe(`Bearer ${ADMIN_KEY}`);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['idempotency-key']).toMatch(UUID);
  });

  it('run without --as-of sends an empty body (the API takes now), each time with a new key', async () => {
    const first = await against('run');
    const second = await against('run', '--json');

    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^Run \d{4}-\d{2}-\d{2}: running\n$/);
    expect(JSON.parse(second.stdout)).toEqual({ runId: expect.any(String), status: 'running' });
    expect(api.received.map((request) => request.body)).toEqual([{}, {}]);
    const keys = api.received.map((request) => request.headers['idempotency-key']);
    expect(new Set(keys).size).toBe(2);
  });

  it('run says when the API answered a run that already existed', async () => {
    script.start = () => ({ status: 202, body: { ...COMPLETED, outcome: 'completed' } });

    const result = await against('run', '--as-of', '2026-01-15T06:00:00Z');

    expect(result.code).toBe(0);
    expect(result.stdout).toBe('Run 2026-01-15: completed (already completed; no second pass)\n');
  });

  it('runs shows a finished run once, as a plain line when stdout is not a terminal', async () => {
    script.runs.set('2026-01-15', [{ status: 200, body: COMPLETED }]);

    const result = await against('runs', '2026-01-15');

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(
      '2026-01-15  completed  100/100 done (100%)  98 succeeded, 2 failed, 0 pending  ' +
        'completed at 2026-01-15T00:03:12.000Z\n',
    );
    expect(api.received).toHaveLength(1);
  });

  it('runs without --watch shows a running run once, with rate and ETA, and does not poll', async () => {
    script.runs.set('2026-01-15', [
      {
        status: 200,
        body: run({ succeeded: 40, failed: 2, pending: 58, ratePerMinute: 120, etaSeconds: 29 }),
      },
    ]);

    const result = await against('runs', '2026-01-15');

    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      '2026-01-15  running  42/100 done (42%)  40 succeeded, 2 failed, 58 pending  120/min  ETA 29s\n',
    );
    expect(api.received).toHaveLength(1);
  });

  it('runs --watch follows a run from running to completed, a line per change', async () => {
    const halfway = run({ succeeded: 49, failed: 1, pending: 50, ratePerMinute: 60, etaSeconds: 50 });
    script.runs.set('2026-01-15', [
      { status: 200, body: run() },
      { status: 200, body: halfway },
      // The same progress again: no new line.
      { status: 200, body: { ...halfway, updatedAt: '2026-01-15T00:01:00.000Z' } },
      { status: 200, body: COMPLETED },
    ]);

    const result = await against('runs', '2026-01-15', '--watch', '--interval', '0.05');

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.trimEnd().split('\n')).toEqual([
      '2026-01-15  running  0/100 done (0%)  0 succeeded, 0 failed, 100 pending  ?/min  ETA ?',
      '2026-01-15  running  50/100 done (50%)  49 succeeded, 1 failed, 50 pending  60/min  ETA 50s',
      '2026-01-15  completed  100/100 done (100%)  98 succeeded, 2 failed, 0 pending  completed at 2026-01-15T00:03:12.000Z',
    ]);
    expect(api.received.filter((request) => request.method === 'GET')).toHaveLength(4);
  });

  it('run --watch starts the run, then follows it to completed; --json prints each answer', async () => {
    script.runs.set('2026-01-15', [
      { status: 200, body: run() },
      { status: 200, body: COMPLETED },
    ]);

    const result = await against(
      'run',
      '--as-of',
      '2026-01-15T06:00:00Z',
      '--watch',
      '--interval',
      '0.05',
      '--json',
    );

    expect(result.code).toBe(0);
    expect(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([{ runId: '2026-01-15', status: 'running' }, run(), COMPLETED]);
  });

  it('keeps watching through one failed poll (503), reporting it on stderr', async () => {
    script.runs.set('2026-01-15', [
      { status: 200, body: run() },
      problem(503, 'Service Unavailable', 'The API is busy; try again.'),
      { status: 200, body: COMPLETED },
    ]);

    const result = await against('runs', '2026-01-15', '--watch', '--interval', '0.05');

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('Poll failed (503 Service Unavailable: The API is busy; try again.)');
    expect(result.stdout).toContain('2026-01-15  completed');
  });

  it.each([['2026-1-15'], ['2026-02-30'], ['today'], ['2026-01-15T00:00:00Z']])(
    'refuses the run id %s with exit code 2 before calling the API',
    async (runId) => {
      const result = await against('runs', runId);

      expect(result.code).toBe(2);
      expect(result.stderr).toContain('A run id is the UTC date of the run, YYYY-MM-DD');
      expect(result.stdout).toBe('');
      expect(api.received).toEqual([]);
    },
  );

  it.each([
    ['2026-01-15'],
    ['2026-01-15T06:00:00'],
    ['yesterday'],
    ['2026-01-15T25:00:00Z'],
    ['2026-02-30T06:00:00Z'],
  ])('refuses --as-of %s with exit code 2 before calling the API', async (asOf) => {
    const result = await against('run', '--as-of', asOf);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Expected an ISO 8601 date-time with a time zone');
    expect(api.received).toEqual([]);
  });

  it('refuses an --interval that is not a positive number of seconds with exit code 2', async () => {
    const result = await against('runs', '2026-01-15', '--watch', '--interval', '0');

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Expected a number of seconds');
    expect(api.received).toEqual([]);
  });

  it('says that a run that the API does not know (404) does not exist', async () => {
    const result = await against('runs', '2026-01-16');

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Run 2026-01-16 does not exist');
    expect(result.stderr).toContain('404 Not Found: No subscription run 2026-01-16.');
    expect(result.stdout).toBe('');
  });

  it('prints a refused admin key (401) with its problem and a hint', async () => {
    script.runs.set('2026-01-15', [{ status: 200, body: COMPLETED }]);

    const result = await runCli([
      '--api-url',
      api.url,
      '--admin-key',
      'sk_admin_wrong_key_0123456789',
      'runs',
      '2026-01-15',
    ]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('401 Unauthorized: A valid admin API key is required.');
    expect(result.stderr).toContain('check --admin-key or ADMIN_API_KEY');
    expect(result.stdout).toBe('');
  });

  it.each([
    ['runs', ['runs', '2026-01-15']],
    ['run', ['run']],
  ])('prints a 5xx problem of %s with its title and detail and exits non-zero', async (_name, args) => {
    script.runs.set('2026-01-15', [problem(500, 'Internal Server Error', 'The run table is unavailable.')]);
    script.start = () => problem(500, 'Internal Server Error', 'The run table is unavailable.');

    const result = await against(...args);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('500 Internal Server Error: The run table is unavailable.');
    expect(result.stdout).toBe('');
  });

  it('ends a watch that keeps failing after three polls in a row', async () => {
    script.runs.set('2026-01-15', [
      { status: 200, body: run() },
      problem(502, 'Bad Gateway', 'Upstream is down.'),
    ]);

    const result = await against('runs', '2026-01-15', '--watch', '--interval', '0.05');

    expect(result.code).toBe(1);
    expect(result.stderr.match(/Poll failed/g)).toHaveLength(2);
    expect(result.stderr).toContain('502 Bad Gateway: Upstream is down.');
    expect(api.received).toHaveLength(4);
  });

  it('reports an answer that is not a run instead of printing nonsense', async () => {
    script.runs.set('2026-01-15', [{ status: 200, body: { runId: '2026-01-15', status: 'running' } }]);

    const result = await against('runs', '2026-01-15');

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Unexpected answer to GET /v1/admin/subscription-runs/2026-01-15: total');
  });

  it('says when the API cannot be reached', async () => {
    const url = api.url;
    await api.stop();

    const result = await runCli(['--api-url', url, '--admin-key', ADMIN_KEY, 'runs', '2026-01-15']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('The pipeline API could not be reached (ECONNREFUSED)');
  });
});

describe('the progress bar of a run on a terminal', () => {
  it('draws the bar with done of total, counts, rate and ETA, redraws it, and ends with a summary', async () => {
    const chunks: string[] = [];
    const terminal: Output = { isTTY: true, columns: 160, write: (chunk) => chunks.push(chunk) };
    const answers = [
      run({ succeeded: 30, failed: 0, pending: 70, ratePerMinute: 90, etaSeconds: 47 }),
      run({ total: 120, succeeded: 88, failed: 2, pending: 30, ratePerMinute: 90, etaSeconds: 20 }),
      { ...COMPLETED, total: 120, succeeded: 118 },
    ];
    let reads = 0;

    const last = await followRun(
      async () => {
        const value = answers[Math.min(reads++, answers.length - 1)] as SubscriptionRun;
        return { value, raw: value };
      },
      { watch: true, intervalMs: 10, json: false, out: terminal, warn: () => undefined },
    );

    const screen = chunks.join('');
    expect(last.status).toBe('completed');
    expect(screen).toMatch(
      /2026-01-15 running \[=+-+\] 30\/100 \| 30 succeeded, 0 failed, 70 pending \| 90\/min \| ETA 47s/,
    );
    // The total grew while the run enumerated: the bar follows it.
    expect(screen).toContain('90/120 | 88 succeeded, 2 failed, 30 pending | 90/min | ETA 20s');
    expect(screen).toContain(`2026-01-15 completed [${'='.repeat(30)}] 120/120`);
    expect(screen).toContain('\x1B[1G'); // redrawn in place, not printed line after line
    expect(
      screen.endsWith('\nRun 2026-01-15 completed at 2026-01-15T00:03:12.000Z: 118 succeeded, 2 failed.\n'),
    ).toBe(true);
  });
});
