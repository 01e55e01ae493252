import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { LocalStackFile } from '../../../cli/local-stack-file';
import { queueNameOf } from '../../../cli/status/sources/sqs';
import { runCli } from '../support/cli';
import { pipelineClient } from '../support/pipeline-client';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';

/**
 * `npx pipeline status` as an operator runs it (bin/pipeline.js in a child process, stdout a pipe), against the
 * real pipeline on the emulators, found through a `.local/stack.json`-style file in a temp dir (--stack-file).
 */
jest.setTimeout(60_000);

const ADMIN_KEY = 'sk_admin_status_cli_test_0123456789';
const QUEUES = ['deliveries', 'replays', 'charges', 'runs', 'notifications'];

/** The cells of a table row that starts with `first` (two spaces or more between cells). */
function row(stdout: string, first: string): string[] | undefined {
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s{2,}/))
    .find((cells) => cells[0] === first);
}

describe('npx pipeline status on a local stack', () => {
  let stack: TestStack;
  let dir: string;
  let stackFile: string;
  const status = (...args: string[]) => runCli(['--stack-file', stackFile, 'status', ...args]);

  beforeAll(async () => {
    stack = await startWebhookTestStack(ADMIN_KEY, {
      RUN_POLL_SECONDS: '1',
      RUN_LEASE_SECONDS: '10',
      RUN_STEP_MARGIN_MS: '2000',
      RUN_SWEEP_INTERVAL_SECONDS: '1',
    });
    dir = mkdtempSync(path.join(tmpdir(), 'pipeline-status-'));
    stackFile = path.join(dir, 'stack.json');
    // What `npm start` writes; this process is the stack's "pid", so the file is not stale.
    const file: LocalStackFile = {
      apiUrl: stack.apiUrl,
      adminApiKey: stack.adminApiKey,
      pid: process.pid,
      endpoints: stack.endpoints,
      resources: Object.fromEntries(
        stack.resources.all().map((resource) => [resource.logicalId, resource.ref]),
      ),
    };
    writeFileSync(stackFile, JSON.stringify(file));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('on a quiet stack: every queue empty, no run, no failing endpoint, exit code 0', async () => {
    const result = await status();

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(`Pipeline status: local stack (${stack.apiUrl})`);
    expect(row(result.stdout, 'QUEUE')).toEqual([
      'QUEUE',
      'VISIBLE',
      'IN FLIGHT',
      'DELAYED',
      'OLDEST',
      'DLQ',
      'DLQ OLDEST',
    ]);
    for (const name of QUEUES) expect(row(result.stdout, name)).toEqual([name, '0', '0', '0', '-', '0', '-']);
    expect(result.stdout).toMatch(
      /Subscription run\n {2}no run today \(\d{4}-\d{2}-\d{2}, \d{4}-\d{2}-\d{2}: none\)/,
    );
    expect(result.stdout).toContain('Failing endpoints\n  none\n');
    expect(result.stdout).toContain('OK: no dead letters, no run past its deadline.');
  });

  it('shows queue depths and ages, dead letters with the redrive hint, the run and failing endpoints; exit 1', async () => {
    // Prepare: a run of today, through the admin API (one subscription charged, one declined); it goes on
    // while the rest is prepared.
    const admin = pipelineClient(stack.apiUrl, ADMIN_KEY);
    const storeId = `status-${Date.now().toString(36)}`;
    const store = await admin.call('POST', '/v1/admin/stores', { id: storeId, name: storeId });
    expect(store.status).toBe(201);
    const client = pipelineClient(stack.apiUrl, store.body.apiKey);
    for (const [id, paymentMethod] of [
      ['sub_ok', 'pm_card_visa'],
      ['sub_declined', 'pm_card_chargeDeclined'],
    ]) {
      const created = await client.call('POST', '/v1/subscriptions', {
        id,
        customer: { id: 'cus_1', email: 'customer@example.com' },
        plan: 'coffee-monthly',
        amount: 1999,
        currency: 'USD',
        interval: 'month',
        paymentMethod,
        startAt: new Date(Date.now() - 60_000).toISOString(),
      });
      expect(created.status).toBe(201);
    }
    const trigger = await admin.call('POST', '/v1/admin/subscription-runs', {});
    expect(trigger.status).toBe(202);
    const runId = trigger.body.runId as string;

    // 3 delayed deliveries (no consumer takes them for 15 min), 2 dead deliveries and 1 dead charge.
    const sqs = stack.clients.sqs;
    const send = (constructId: string, count: number, delaySeconds = 0) =>
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: stack.ref(constructId),
          Entries: Array.from({ length: count }, (_, index) => ({
            Id: String(index),
            MessageBody: JSON.stringify({ test: 'status', index }),
            DelaySeconds: delaySeconds,
          })),
        }),
      );
    const sentAt = Date.now();
    await send('DeliveriesDeadLetterQueue', 2);
    await send('ChargesDeadLetterQueue', 1);
    await send('DeliveriesQueue', 3, 900);

    // Endpoints, as the delivery side leaves them; only the first three are failing.
    const now = Date.now();
    const endpoints = [
      {
        storeId: 'store-a',
        id: 'ep_dead',
        url: 'https://hooks.a.example/in',
        status: 'disabled',
        disabledReason: 'failing',
        failingSince: new Date(now - 6 * 86_400_000).toISOString(),
      },
      {
        storeId: 'store-b',
        id: 'ep_gone',
        url: 'https://gone.b.example/x',
        status: 'disabled',
        disabledReason: 'gone',
      },
      {
        storeId: 'store-a',
        id: 'ep_flaky',
        url: 'http://127.0.0.1:9/hook',
        status: 'enabled',
        failingSince: new Date(now - 2 * 3_600_000).toISOString(),
      },
      { storeId: 'store-a', id: 'ep_fine', url: 'https://fine.a.example/in', status: 'enabled' },
      {
        storeId: 'store-c',
        id: 'ep_paused',
        url: 'https://paused.c.example/in',
        status: 'disabled',
        disabledReason: 'manual',
        failingSince: new Date(now - 3_600_000).toISOString(),
      },
    ];
    for (const endpoint of endpoints) {
      await stack.clients.dynamodb.send(
        new PutItemCommand({
          TableName: stack.ref('WebhooksTable'),
          Item: marshall({
            ...endpoint,
            endpointId: endpoint.id,
            events: ['*'],
            secrets: [{ secret: 'whsec_dGVzdA==' }],
            createdAt: new Date(now - 7 * 86_400_000).toISOString(),
            updatedAt: new Date(now - 60_000).toISOString(),
          }),
        }),
      );
    }

    const done = await waitFor(
      () => admin.call('GET', `/v1/admin/subscription-runs/${runId}`),
      (answer) => answer.body?.status === 'completed',
      { timeoutMs: 30_000, intervalMs: 250, what: `run ${runId} to complete` },
    );

    // Act
    const startedAt = Date.now();
    const [text, json] = await Promise.all([status(), status('--json')]);
    const endedAt = Date.now();

    // Assess: the text
    expect(text.stderr).toBe('');
    expect(text.code).toBe(1);
    const deliveries = row(text.stdout, 'deliveries');
    expect(deliveries?.slice(0, 4)).toEqual(['deliveries', '0', '0', '3']);
    expect(deliveries?.[4]).toMatch(/^\d+s$/);
    expect(deliveries?.[5]).toBe('! 2');
    expect(deliveries?.[6]).toMatch(/^\d+s$/);
    expect(row(text.stdout, 'charges')?.[5]).toBe('! 1');
    expect(row(text.stdout, 'replays')).toEqual(['replays', '0', '0', '0', '-', '0', '-']);
    const redrive = `npx pipeline --stack-file ${stackFile} redrive`;
    expect(text.stdout).toContain(
      `! 2 dead letter(s) on deliveries: \`${redrive} deliveries\` moves them back.`,
    );
    expect(text.stdout).toContain(`! 1 dead letter(s) on charges: \`${redrive} charges\` moves them back.`);
    expect(text.stdout).toContain(
      `${runId}  completed  2/2 done (100%)  1 succeeded, 1 failed, 0 pending  completed at ${done.body.completedAt}`,
    );
    expect(text.stdout).toContain(`[====================] ${runId}  completed`);
    expect(text.stdout).toContain(`deadline ${done.body.deadlineAt}`);
    expect(text.stdout).not.toContain('PAST DEADLINE');
    expect(row(text.stdout, 'store-a')).toEqual([
      'store-a',
      'ep_dead',
      'hooks.a.example',
      'disabled (failing)',
      `${endpoints[0]?.failingSince} (6d 00h)`,
    ]);
    expect(row(text.stdout, 'store-b')).toEqual([
      'store-b',
      'ep_gone',
      'gone.b.example',
      'disabled (gone)',
      '-',
    ]);
    const failing = text.stdout.split('Failing endpoints\n')[1]?.split('\n\n')[0]?.split('\n') ?? [];
    expect(
      failing.map((line) =>
        line
          .trim()
          .split(/\s{2,}/)
          .slice(0, 4),
      ),
    ).toEqual([
      ['STORE', 'ENDPOINT', 'HOST', 'STATUS'],
      ['store-a', 'ep_dead', 'hooks.a.example', 'disabled (failing)'],
      ['store-a', 'ep_flaky', '127.0.0.1:9', 'failing'],
      ['store-b', 'ep_gone', 'gone.b.example', 'disabled (gone)'],
    ]);
    expect(text.stdout).toContain('Needs attention:\n  - 2 message(s) on the deliveries dead-letter queue');

    // Assess: the JSON, with the ages within the time the messages waited
    expect(json.code).toBe(1);
    const body = JSON.parse(json.stdout);
    const byName = Object.fromEntries(body.queues.map((queue: { name: string }) => [queue.name, queue]));
    expect(Object.keys(byName)).toEqual(QUEUES);
    expect(byName.deliveries.queue).toMatchObject({ visible: 0, inFlight: 0, delayed: 3, total: 3 });
    expect(byName.deliveries.deadLetterQueue).toMatchObject({
      visible: 2,
      inFlight: 0,
      delayed: 0,
      total: 2,
    });
    expect(byName.charges.deadLetterQueue).toMatchObject({ total: 1 });
    for (const age of [
      byName.deliveries.deadLetterQueue.oldestAgeSeconds,
      byName.charges.deadLetterQueue.oldestAgeSeconds,
    ]) {
      expect(age).toBeGreaterThanOrEqual(Math.floor((startedAt - sentAt) / 1000) - 1);
      expect(age).toBeLessThanOrEqual(Math.ceil((endedAt - sentAt) / 1000));
    }
    expect(body.run).toMatchObject({
      run: { runId, status: 'completed', total: 2, succeeded: 1, failed: 1, pending: 0 },
      pastDeadline: false,
    });
    expect(body.failingEndpoints.map((endpoint: { endpointId: string }) => endpoint.endpointId)).toEqual([
      'ep_dead',
      'ep_flaky',
      'ep_gone',
    ]);
    expect(body.attention).toHaveLength(2);

    // Looking did not receive: the dead letters' receive counts are still 0 (a peek would count towards the DLQ).
    const response = await fetch(
      `${stack.endpoints.sqs}/_fauxqs/queues/${queueNameOf(stack.ref('DeliveriesDeadLetterQueue'))}`,
    );
    const inspection = (await response.json()) as {
      messages: { ready: { approximateReceiveCount: number }[] };
    };
    expect(inspection.messages.ready.map((message) => message.approximateReceiveCount)).toEqual([0, 0]);
  });
});

describe('npx pipeline status with --api-url only', () => {
  let server: Server;
  let url = '';
  let answer: (runId: string) => { status: number; body: unknown } = () => ({ status: 404, body: {} });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const runId = /\/v1\/admin\/subscription-runs\/([^/]+)$/.exec(req.url ?? '')?.[1] ?? '';
      const reply =
        req.headers.authorization === `Bearer ${ADMIN_KEY}`
          ? answer(runId)
          : { status: 401, body: { title: 'Unauthorized', status: 401, detail: 'Bad key.' } };
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // No stack file: the queues and endpoints are not known, the run is.
  const status = (...args: string[]) =>
    runCli([
      '--api-url',
      url,
      '--admin-key',
      ADMIN_KEY,
      '--stack-file',
      path.join(tmpdir(), 'none.json'),
      'status',
      ...args,
    ]);

  it('exits with 1 when the current run is past its deadline and not completed', async () => {
    answer = (runId) => ({
      status: 200,
      body: {
        runId,
        status: 'running',
        asOf: `${runId}T00:05:00.000Z`,
        total: 10,
        succeeded: 4,
        failed: 1,
        pending: 5,
        startedAt: `${runId}T00:05:01.000Z`,
        updatedAt: `${runId}T00:09:00.000Z`,
        deadlineAt: new Date(Date.now() - 90_000).toISOString(),
        ratePerMinute: 0,
        etaSeconds: null,
      },
    });

    const result = await status();

    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Queues\n  not available: only the API is known (--api-url)');
    expect(result.stdout).toMatch(
      /\[={10}-{10}\] \d{4}-\d{2}-\d{2} {2}running {2}5\/10 done \(50%\) {2}4 succeeded, 1 failed, 5 pending {2}0\.0\/min {2}ETA \?/,
    );
    expect(result.stdout).toMatch(/deadline \S+ \(1m \d\ds ago\) {2}! PAST DEADLINE, not completed/);
    expect(result.stdout).toMatch(/Needs attention:\n {2}- run \S+ is running past its deadline/);
  });

  it('falls back to yesterday when today has no run, and says when the admin key is refused', async () => {
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    answer = (runId) =>
      runId === yesterday
        ? {
            status: 200,
            body: {
              runId,
              status: 'completed',
              total: 0,
              succeeded: 0,
              failed: 0,
              pending: 0,
              startedAt: `${runId}T00:05:01.000Z`,
              updatedAt: `${runId}T00:05:02.000Z`,
              completedAt: `${runId}T00:05:02.000Z`,
              deadlineAt: `${runId}T06:05:00.000Z`,
              ratePerMinute: 0,
              etaSeconds: 0,
            },
          }
        : { status: 404, body: { title: 'Not Found', status: 404, detail: 'No run.' } };

    const [found, refused] = await Promise.all([
      status(),
      runCli([
        '--api-url',
        url,
        '--admin-key',
        'sk_admin_wrong_key_000000',
        '--stack-file',
        path.join(tmpdir(), 'none.json'),
        'status',
      ]),
    ]);

    expect(found.code).toBe(0);
    expect(found.stdout).toContain(`[====================] ${yesterday}  completed  0/0 done (100%)`);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(
      'Subscription run\n  ! could not be read: 401 Unauthorized: Bad key. (check --admin-key or ADMIN_API_KEY)',
    );
  });

  it('refuses an unknown option with exit code 2', async () => {
    const result = await status('--bogus');

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--bogus'");
  });
});
