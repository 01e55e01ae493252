import { randomBytes } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Browser, Page } from 'puppeteer-core';
import {
  type BillingTestStack,
  newStore,
  slowGateway,
  startBillingTestStack,
  subscriptionBody,
  type TestStore,
  waitForRun,
} from '../subscriptions/support';
import {
  foreignRequests,
  LAPTOP,
  launchBrowser,
  PHONE,
  type WatchedPage,
  watchedPage,
} from '../support/browser';
import { sleep, waitFor } from '../support/wait-for';
import { screenshot, signIn, textOf, waitForText } from './support';

/**
 * The operator's side of the web console (docs/api.md section 3, `GET /console`) in a real headless Chromium on
 * the local stack: a run started from the console on a slow gateway, whose chart advances while it runs; the
 * queues with a dead letter and its redrive; the reconciliations; and a store's datafeed of the run.
 */
const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
/** Enough charges on a gateway two at a time, ~0.3 s each, for several of the chart's 2 s polls. */
const DUE = 40;

let billing: BillingTestStack;
let browser: Browser;
let store: TestStore;
let consoleUrl: string;
let runId: string;
/** The page that watched the run, kept for the next test: its chart holds the whole run. */
let adminPage: Page;
const pages: WatchedPage[] = [];

async function openPage(): Promise<Page> {
  const watched = await watchedPage(browser);
  pages.push(watched);
  return watched.page;
}

beforeAll(async () => {
  [billing, browser] = await Promise.all([
    // The slow gateway queues requests: the client waits for its turn rather than timing out.
    startBillingTestStack(adminKey, { PAYMENT_GATEWAY_TIMEOUT_MS: '30000' }),
    launchBrowser(),
  ]);
  consoleUrl = `${billing.stack.apiUrl}/console`;
  store = await newStore(billing, 'console');
  for (let batch = 0; batch < DUE; batch += 10) {
    await Promise.all(
      Array.from({ length: 10 }, async (_, index) => {
        const n = batch + index;
        const created = await store.client.call(
          'POST',
          '/v1/subscriptions',
          subscriptionBody({
            id: `sub_console_${n}`,
            customer: { id: `cus_${n}`, email: `c${n}@example.com` },
          }),
        );
        expect(created.status).toBe(201);
      }),
    );
  }
  billing.gateway.faults = slowGateway({ slots: 2, minMs: 250, maxMs: 350 });
  // A delivery that failed for good, waiting in the deliveries' dead-letter queue.
  await billing.stack.clients.sqs.send(
    new SendMessageCommand({
      QueueUrl: billing.stack.ref('DeliveriesDeadLetterQueue'),
      MessageBody: JSON.stringify({ note: 'a dead letter for the console test' }),
    }),
  );
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await billing?.stop();
});

interface ChartReading {
  readonly points: number;
  readonly done: number;
  readonly running: boolean;
}

const readChart = (page: Page) =>
  page.evaluate(`(() => {
    const chart = document.querySelector('#run-chart');
    return {
      points: Number(chart?.getAttribute('data-points') ?? 0),
      done: Number(chart?.getAttribute('data-done') ?? 0),
      running: (document.querySelector('#run-summary')?.textContent ?? '').includes('is running'),
    };
  })()`) as Promise<ChartReading>;

describe('the console with the admin key', () => {
  it('starts a run and shows its chart advancing while it runs, until it completes', async () => {
    const page = await openPage();
    await signIn(page, consoleUrl, adminKey);
    await page.waitForSelector('#admin-view');
    expect(await textOf(page, '#signed-in-as')).toBe('Admin');

    await page.click('#trigger-run');
    await page.waitForSelector('#run-chart');
    const readings: ChartReading[] = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const reading = await readChart(page);
      readings.push(reading);
      if (!reading.running && reading.done > 0) break;
      if (Date.now() > deadline)
        throw new Error(`The run did not complete: ${JSON.stringify(readings.at(-1))}`);
      await sleep(400);
    }

    const running = readings.filter((reading) => reading.running);
    const doneWhileRunning = [...new Set(running.map((reading) => reading.done))];
    expect(doneWhileRunning.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...running.map((reading) => reading.points))).toBeGreaterThan(running[0]?.points ?? 0);
    const last = readings.at(-1);
    expect(last?.done).toBe(DUE);
    runId = new Date().toISOString().slice(0, 10);
    await waitForRun(billing, runId);
    expect(await textOf(page, '#run-summary')).toContain(
      `Run ${runId} is completed: ${DUE} of ${DUE} charges answered`,
    );
    expect(await textOf(page, '#runs-table')).toContain(runId);
    expect(
      await page.$$eval('#run-chart .deadline, #run-chart .deadline-note', (marks) => marks.length),
    ).toBe(1);
    adminPage = page;
  }, 90_000);

  it('draws a run opened after it ended from its logged progress, not a straight line', async () => {
    const page = await openPage();
    await signIn(page, consoleUrl, adminKey);
    await page.waitForSelector('#run-chart');
    await waitFor(
      () => readChart(page),
      (reading) => reading.done === DUE && reading.points >= 3,
      { timeoutMs: 10_000, intervalMs: 200, what: 'the chart drawn from the run’s progress log' },
    );
    const answer = await billing.admin.call('GET', `/v1/admin/subscription-runs/${runId}`);
    expect(answer.body.progress[0]).toEqual({ at: answer.body.startedAt, answered: 0 });
    expect(answer.body.progress.at(-1)).toEqual({ at: answer.body.completedAt, answered: DUE });
    await page.close();
  }, 30_000);

  it('lists the queues and the reconciliations, and a redrive moves the dead letter back', async () => {
    const reconciliation = await billing.admin.call('POST', '/v1/admin/reconciliations', { date: runId });
    expect(reconciliation.status).toBe(202);
    await waitFor(
      () => billing.admin.call('GET', `/v1/admin/reconciliations/${runId}`),
      (answer) => answer.status === 200 && answer.body.status === 'completed',
      { timeoutMs: 30_000, intervalMs: 250, what: 'the reconciliation' },
    );
    const page = adminPage;
    await page.click('#queues-refresh');
    await page.click('#reconciliations-refresh');
    await page.waitForSelector('#queues-table');
    await waitForText(page, '#reconciliations-table', runId);

    const queues = await page.$$eval('#queues-table tbody tr', (rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent)),
    );
    expect(queues.map((row) => row[0])).toEqual(
      expect.arrayContaining(['deliveries', 'replays', 'charges', 'runs', 'notifications']),
    );
    expect(queues.find((row) => row[0] === 'deliveries')?.[5]).toBe('1');
    const reports = await textOf(page, '#reconciliations-table');
    expect(reports).toContain(runId);
    expect(reports).toContain('completed');
    expect(await page.$('#reconciliations-table tr.problem')).toBeNull();
    await screenshot(page, 'console-admin.png', { fullPage: true });
    await page.setViewport(PHONE);
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await page.setViewport(LAPTOP);

    await page.click('#redrive-deliveries');
    await waitForText(page, '#status', 'Moved 1 message(s) from the dead-letter queue back to deliveries');
    await page.close();
  }, 60_000);

  it('shows a store its datafeed of the run, as text', async () => {
    const page = await openPage();
    await signIn(page, consoleUrl, store.apiKey);
    await page.click('#tab-datafeeds');
    await page.waitForSelector('#datafeeds-table');
    await page.click(`button[aria-label="Show the datafeed of ${runId}"]`);
    await page.waitForSelector('#datafeed-xml');

    const xml = (await textOf(page, '#datafeed-xml')) ?? '';
    expect(xml).toContain('<subscription_datafeed');
    expect(xml).toContain('sub_console_0');
    expect(await page.$$eval('#datafeed-xml *', (children) => children.length)).toBe(0);
    await page.close();
  }, 30_000);

  it('made no request to any other origin', () => {
    const origin = new URL(billing.stack.apiUrl).origin;
    const requests = pages.flatMap((watched) => watched.requests);
    expect(requests.length).toBeGreaterThan(10);
    expect(foreignRequests(requests, origin)).toEqual([]);
    expect(pages.flatMap((watched) => watched.errors)).toEqual([]);
  });
});
