import type { Api } from './api';
import { segment } from './base-path';
import { drawRunChart, newSeries, observe, type RunSeries, runSummary } from './chart';
import { fill, h } from './dom';
import { formatCount, formatDateTime, formatDuration, formatRate } from './format';
import { answered, type Page, type QueueDepth, type Reconciliation, type RunView } from './types';
import { badge, busy, button, loading, type Notifier, section, table, type View } from './ui';

/** How often the chart asks for a running run's progress. */
export const RUN_POLL_MS = 2000;

/**
 * The operator's console: the subscription runs with a live chart of the current one, every queue with its dead
 * letters and a redrive, and the reconciliations with their duplicates and orphans.
 */
export function adminView(api: Api, notify: Notifier, initialRuns?: RunView[]): View {
  let disposed = false;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let series: RunSeries | undefined;

  // --- Runs and the chart ---------------------------------------------------------------------------------------

  const runsList = h('div', { id: 'runs' }, loading('runs'));
  const chartBox = h('div', { id: 'run-chart-box', class: 'chart-box' });
  const doneLabel = h('p', { id: 'run-done', class: 'big-number' });
  const summary = h('p', { id: 'run-summary', 'aria-live': 'polite' });
  const stats = h('dl', { id: 'run-stats', class: 'stats' });
  const chartTitle = h('h3', { id: 'run-chart-heading' }, 'Run progress');
  const chartCard = h(
    'section',
    { class: 'card run-card', 'aria-labelledby': 'run-chart-heading' },
    chartTitle,
    h(
      'div',
      { class: 'chart-layout' },
      chartBox,
      h('div', { class: 'chart-side' }, doneLabel, summary, stats),
    ),
  );
  chartCard.hidden = true;
  let runs: RunView[] = [];

  const stat = (term: string, value: string) => [h('dt', null, term), h('dd', null, value)];

  const renderRun = (run: RunView) => {
    const now = Date.now();
    if (!series || series.runId !== run.runId) series = newSeries(run);
    observe(series, run, now);
    chartCard.hidden = false;
    fill(chartTitle, `Run ${run.runId} `, badge(run.status, run.status === 'completed' ? 'ok' : 'live'));
    drawRunChart(chartBox, series, run, now);
    fill(doneLabel, `${formatCount(answered(run))} / ${formatCount(run.total)} answered`);
    fill(summary, runSummary(run, now));
    fill(
      stats,
      ...stat('Succeeded', formatCount(run.succeeded)),
      ...stat('Failed', formatCount(run.failed)),
      ...stat('Processing', formatCount(run.processing ?? 0)),
      ...stat('Pending', formatCount(run.pending)),
      ...stat('Rate', formatRate(run.ratePerMinute)),
      ...stat('ETA', run.status === 'completed' ? 'done' : formatDuration(run.etaSeconds)),
      ...stat('Started', formatDateTime(run.startedAt)),
      ...stat('Deadline', formatDateTime(run.deadlineAt)),
    );
  };

  const stopPolling = () => {
    if (pollTimer !== undefined) clearTimeout(pollTimer);
    pollTimer = undefined;
  };

  /** Reads the run with its progress log; follows it every RUN_POLL_MS while it runs (`once`: one read only). */
  const poll = async (runId: string, once = false) => {
    pollTimer = undefined;
    if (disposed || series?.runId !== runId) return;
    try {
      const run = await api.get<RunView>(`v1/admin/subscription-runs/${segment(runId)}`);
      if (disposed || series?.runId !== runId) return;
      renderRun(run);
      if (run.status === 'running') pollTimer = setTimeout(() => void poll(runId), RUN_POLL_MS);
      else if (!once) void loadRuns(false);
    } catch (error) {
      notify.error(error, `Following run ${runId}`);
      // A passing failure (a deploy, a throttle) must not end the live chart.
      if (!disposed) pollTimer = setTimeout(() => void poll(runId), RUN_POLL_MS * 2);
    }
  };

  const selectRun = (run: RunView) => {
    stopPolling();
    // The same run again keeps the points seen so far.
    if (series?.runId !== run.runId) series = newSeries(run);
    renderRun(run);
    renderRuns();
    // At once: the list has no progress log, the run's own answer has (a run opened mid-way shows its whole curve).
    pollTimer = setTimeout(() => void poll(run.runId, run.status !== 'running'), 0);
  };

  const renderRuns = () =>
    fill(
      runsList,
      table(
        'Subscription runs of the last 30 days',
        [
          { label: 'Run', cell: (run) => run.runId },
          { label: 'Status', cell: (run) => badge(run.status, run.status === 'completed' ? 'ok' : 'live') },
          { label: 'Answered', cell: (run) => `${formatCount(answered(run))} of ${formatCount(run.total)}` },
          { label: 'Succeeded', cell: (run) => formatCount(run.succeeded) },
          { label: 'Failed', cell: (run) => formatCount(run.failed) },
          { label: 'Pending', cell: (run) => formatCount(run.pending) },
          { label: 'Rate', cell: (run) => formatRate(run.ratePerMinute) },
          { label: 'Started', cell: (run) => formatDateTime(run.startedAt) },
          { label: 'Completed', cell: (run) => formatDateTime(run.completedAt) },
          {
            label: 'Chart',
            cell: (run) =>
              button('Show chart', () => selectRun(run), {
                'aria-label': `Show the chart of run ${run.runId}`,
                class: 'secondary',
              }),
          },
        ],
        runs,
        {
          id: 'runs-table',
          empty: 'No subscription runs in the last 30 days.',
          rowClass: (run) => (run.runId === series?.runId ? 'selected' : undefined),
        },
      ),
    );

  /** Loads the runs; `select` opens the current one (the running one, else the newest). */
  const loadRuns = async (select = true, given?: RunView[]) => {
    try {
      runs = given ?? (await api.get<Page<RunView>>('v1/admin/subscription-runs', { days: 30 })).data;
      if (disposed) return;
      const current = runs.find((run) => run.status === 'running') ?? runs[0];
      if (select && current && series?.runId !== current.runId) {
        selectRun(current);
      } else {
        renderRuns();
      }
    } catch (error) {
      notify.error(error, 'Loading the runs');
    }
  };

  const trigger = button(
    "Start today's run",
    (control) =>
      busy(control, async () => {
        try {
          const answer = await api.send<RunView & { outcome?: string }>(
            'POST',
            'v1/admin/subscription-runs',
            {},
          );
          notify.info(
            answer.outcome && answer.outcome !== 'started'
              ? `Run ${answer.runId} was already ${answer.status}; no second pass was started.`
              : `Run ${answer.runId} started.`,
          );
          await loadRuns(false);
          const run = runs.find((candidate) => candidate.runId === answer.runId) ?? answer;
          selectRun(run);
        } catch (error) {
          notify.error(error, 'Starting a run');
        }
      }),
    { id: 'trigger-run' },
  );

  const runsSection = section(
    'runs-section',
    'Subscription runs',
    [
      trigger,
      button('Refresh', (control) => busy(control, () => loadRuns()), {
        class: 'secondary',
        id: 'runs-refresh',
      }),
    ],
    chartCard,
    runsList,
  );

  // --- Queues ---------------------------------------------------------------------------------------------------

  const queuesList = h('div', { id: 'queues' }, loading('queues'));
  const loadQueues = async () => {
    try {
      const page = await api.get<Page<QueueDepth>>('v1/admin/queues');
      if (disposed) return;
      fill(
        queuesList,
        table(
          'Queues and their dead letters',
          [
            { label: 'Queue', cell: (queue) => h('code', null, queue.name) },
            { label: 'Visible', cell: (queue) => formatCount(queue.visible) },
            { label: 'In flight', cell: (queue) => formatCount(queue.inFlight) },
            { label: 'Delayed', cell: (queue) => formatCount(queue.delayed) },
            { label: 'Oldest', cell: (queue) => formatDuration(queue.oldestAgeSeconds) },
            {
              label: 'Dead letters',
              cell: (queue) =>
                queue.deadLetters > 0
                  ? h('strong', { class: 'warn' }, formatCount(queue.deadLetters))
                  : formatCount(queue.deadLetters),
            },
            {
              label: 'Oldest dead letter',
              cell: (queue) => formatDuration(queue.deadLetterOldestAgeSeconds),
            },
            {
              label: 'Action',
              cell: (queue) =>
                queue.deadLetters > 0
                  ? button(
                      'Redrive',
                      (control) =>
                        busy(control, async () => {
                          try {
                            const answer = await api.send<{ moved: number; remaining?: number }>(
                              'POST',
                              `v1/admin/queues/${segment(queue.name)}/redrive`,
                              {},
                            );
                            notify.info(
                              `Moved ${formatCount(answer.moved)} message(s) from the dead-letter queue back to ${queue.name}${
                                answer.remaining !== undefined
                                  ? `; ${formatCount(answer.remaining)} remaining`
                                  : ''
                              }.`,
                            );
                            await loadQueues();
                          } catch (error) {
                            notify.error(error, `Redriving ${queue.name}`);
                          }
                        }),
                      {
                        'aria-label': `Redrive the dead letters of ${queue.name}`,
                        id: `redrive-${queue.name}`,
                      },
                    )
                  : '—',
            },
          ],
          page.data,
          {
            id: 'queues-table',
            empty: 'No queues.',
            rowClass: (queue) => (queue.deadLetters > 0 ? 'problem' : undefined),
          },
        ),
      );
    } catch (error) {
      fill(queuesList);
      notify.error(error, 'Loading the queues');
    }
  };
  const queuesSection = section(
    'queues-section',
    'Queues',
    [button('Refresh', (control) => busy(control, loadQueues), { class: 'secondary', id: 'queues-refresh' })],
    queuesList,
  );

  // --- Reconciliations ------------------------------------------------------------------------------------------

  const reconciliationsList = h('div', { id: 'reconciliations' }, loading('reconciliations'));
  const count = (items: unknown[] | undefined) => items?.length ?? 0;
  const loadReconciliations = async () => {
    try {
      const page = await api.get<Page<Reconciliation>>('v1/admin/reconciliations', { days: 30 });
      if (disposed) return;
      const flagged = page.data.filter(
        (report) => count(report.duplicates) + count(report.orphans) + count(report.missing) > 0,
      );
      fill(
        reconciliationsList,
        table(
          'Reconciliations of the last 30 days',
          [
            { label: 'Date', cell: (report) => report.date },
            {
              label: 'Status',
              cell: (report) => badge(report.status, report.status === 'completed' ? 'ok' : 'live'),
            },
            { label: 'Gateway payments', cell: (report) => formatCount(report.gatewayPaymentIntents) },
            { label: 'Recorded charges', cell: (report) => formatCount(report.recordedCharges) },
            { label: 'Matched', cell: (report) => formatCount(report.matched) },
            {
              label: 'Duplicates',
              cell: (report) => flag(count(report.duplicates)),
            },
            { label: 'Orphans', cell: (report) => flag(count(report.orphans)) },
            { label: 'Missing', cell: (report) => flag(count(report.missing)) },
            { label: 'Completed', cell: (report) => formatDateTime(report.completedAt) },
          ],
          page.data,
          {
            id: 'reconciliations-table',
            empty: 'No reconciliations in the last 30 days.',
            rowClass: (report) =>
              count(report.duplicates) + count(report.orphans) > 0 ? 'problem' : undefined,
          },
        ),
        ...flagged.map((report) =>
          h(
            'div',
            { class: 'card problem-list' },
            h('h3', null, `Reconciliation ${report.date}`),
            h(
              'ul',
              null,
              ...(report.duplicates ?? []).map((item) =>
                h(
                  'li',
                  null,
                  h('strong', null, 'Duplicate: '),
                  `${item.subscriptionId} ${item.period} attempt ${item.attempt} moved money twice (${item.paymentIntentIds.join(', ')})`,
                ),
              ),
              ...(report.orphans ?? []).map((item) =>
                h(
                  'li',
                  null,
                  h('strong', null, 'Orphan: '),
                  `${item.paymentIntentId} moved money with nothing recorded${item.subscriptionId ? ` (${item.subscriptionId} ${item.period ?? ''})` : ''}`,
                ),
              ),
              ...(report.missing ?? []).map((item) =>
                h(
                  'li',
                  null,
                  h('strong', null, 'Missing: '),
                  `${item.subscriptionId} ${item.period} attempt ${item.attempt}: recorded as ${item.paymentIntentId}, not found at the gateway`,
                ),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      fill(reconciliationsList);
      notify.error(error, 'Loading the reconciliations');
    }
  };
  const reconciliationsSection = section(
    'reconciliations-section',
    'Reconciliations',
    [
      button('Refresh', (control) => busy(control, loadReconciliations), {
        class: 'secondary',
        id: 'reconciliations-refresh',
      }),
    ],
    h(
      'p',
      { class: 'muted' },
      "Each completed run's charges against the gateway's payments: duplicates (money moved twice for one charge) and orphans (money moved, nothing recorded) must be empty.",
    ),
    reconciliationsList,
  );

  const root = h(
    'div',
    { id: 'admin-view' },
    runsSection.element,
    queuesSection.element,
    reconciliationsSection.element,
  );
  void loadRuns(true, initialRuns);
  void loadQueues();
  void loadReconciliations();

  return {
    root,
    dispose: () => {
      disposed = true;
      stopPolling();
    },
  };
}

function flag(value: number) {
  return value > 0 ? h('strong', { class: 'warn' }, formatCount(value)) : formatCount(value);
}
