import type { Api } from './api';
import { segment } from './base-path';
import { fill, h } from './dom';
import {
  formatAmount,
  formatCount,
  formatDateTime,
  formatInterval,
  formatMillis,
  localInputToIso,
} from './format';
import type { Attempt, DatafeedRun, Endpoint, Page, Subscription } from './types';
import { badge, busy, button, loading, type Notifier, section, table, type View } from './ui';

type Tab = 'webhooks' | 'subscriptions' | 'datafeeds';

const TABS: readonly { id: Tab; label: string }[] = [
  { id: 'webhooks', label: 'Webhooks' },
  { id: 'subscriptions', label: 'Subscriptions' },
  { id: 'datafeeds', label: 'Datafeeds' },
];

/** A store's console: its webhook endpoints and their attempts and actions, its subscriptions, its datafeeds. */
export function storeView(api: Api, notify: Notifier): View {
  const panel = h('div', { id: 'store-panel', class: 'panel' });
  const tabButtons = TABS.map((tab) =>
    button(tab.label, () => show(tab.id), { id: `tab-${tab.id}`, 'aria-controls': 'store-panel' }),
  );
  const root = h(
    'div',
    { id: 'store-view' },
    h('nav', { class: 'tabs', 'aria-label': 'Store console' }, ...tabButtons),
    panel,
  );
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let disposed = false;

  const show = (tab: Tab) => {
    TABS.forEach((candidate, index) => {
      const control = tabButtons[index];
      if (!control) return;
      if (candidate.id === tab) control.setAttribute('aria-current', 'page');
      else control.removeAttribute('aria-current');
    });
    notify.clear();
    const content =
      tab === 'webhooks' ? webhooksTab() : tab === 'subscriptions' ? subscriptionsTab() : datafeedsTab();
    fill(panel, content);
  };

  const later = (ms: number, action: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!disposed) action();
    }, ms);
    timers.add(timer);
  };

  // --- Webhooks -------------------------------------------------------------------------------------------------

  function webhooksTab(): HTMLElement {
    const list = h('div', { id: 'endpoints' }, loading('endpoints'));
    const detail = h('div', { id: 'endpoint-detail' });
    let selected: string | undefined;

    const load = async () => {
      try {
        const page = await api.get<Page<Endpoint>>('v1/webhooks');
        fill(list, endpointsTable(page.data));
        const current = page.data.find((endpoint) => endpoint.id === selected);
        if (current) renderDetail(current);
        else if (selected === undefined && page.data.length === 1 && page.data[0]) openEndpoint(page.data[0]);
      } catch (error) {
        fill(list);
        notify.error(error, 'Loading the endpoints');
      }
    };

    const openEndpoint = (endpoint: Endpoint) => {
      selected = endpoint.id;
      renderDetail(endpoint);
    };

    const endpointsTable = (endpoints: Endpoint[]) =>
      table(
        'Webhook endpoints',
        [
          {
            label: 'Endpoint',
            cell: (endpoint) => [
              h('span', { class: 'url' }, endpoint.url),
              endpoint.description ? h('span', { class: 'muted block' }, endpoint.description) : null,
              h('code', { class: 'muted block' }, endpoint.id),
              button('Attempts and actions', () => openEndpoint(endpoint), {
                'aria-label': `Attempts and actions of ${endpoint.url}`,
                class: 'secondary open-endpoint',
              }),
            ],
          },
          {
            label: 'Status',
            cell: (endpoint) =>
              endpoint.status === 'enabled'
                ? badge('enabled', 'ok')
                : badge(`disabled${endpoint.disabledReason ? ` (${endpoint.disabledReason})` : ''}`, 'bad'),
          },
          { label: 'Events', cell: (endpoint) => endpoint.events.join(', ') },
          {
            label: 'Last 24 h',
            cell: (endpoint) =>
              `${formatCount(endpoint.stats?.succeeded ?? 0)} succeeded, ${formatCount(endpoint.stats?.failed ?? 0)} failed`,
          },
          { label: 'Last success', cell: (endpoint) => formatDateTime(endpoint.stats?.lastSucceededAt) },
          {
            label: 'Failing since',
            cell: (endpoint) =>
              endpoint.stats?.failingSince
                ? h('span', { class: 'warn' }, formatDateTime(endpoint.stats.failingSince))
                : '—',
          },
        ],
        endpoints,
        {
          id: 'endpoints-table',
          empty: 'This store has no webhook endpoints yet. Register one with POST /v1/webhooks.',
          rowClass: (endpoint) =>
            [
              endpoint.id === selected ? 'selected' : '',
              endpoint.status === 'disabled' || endpoint.stats?.failingSince ? 'problem' : '',
            ]
              .join(' ')
              .trim() || undefined,
        },
      );

    const renderDetail = (endpoint: Endpoint) => {
      const secretSlot = h('div', { id: 'secret-slot' });
      const attempts = h('div', { id: 'attempts' }, loading('attempts'));
      const more = h('div', { class: 'more' });
      const filter = h(
        'select',
        { id: 'attempt-filter' },
        h('option', { value: '' }, 'All attempts'),
        h('option', { value: 'failed' }, 'Failed'),
        h('option', { value: 'succeeded' }, 'Succeeded'),
      );
      let shown: Attempt[] = [];
      const base = `v1/webhooks/${segment(endpoint.id)}`;

      const loadAttempts = async (cursor?: string) => {
        try {
          const page = await api.get<Page<Attempt>>(`${base}/attempts`, {
            limit: 20,
            status: filter.value || undefined,
            cursor,
          });
          shown = cursor ? [...shown, ...page.data] : page.data;
          fill(attempts, attemptsTable(shown));
          fill(
            more,
            page.next
              ? button('Load older attempts', (control) => busy(control, () => loadAttempts(page.next)), {
                  id: 'attempts-more',
                  class: 'secondary',
                })
              : null,
          );
        } catch (error) {
          notify.error(error, 'Loading the attempts');
        }
      };
      filter.addEventListener('change', () => void loadAttempts());

      const attemptsTable = (rows: Attempt[]) =>
        table(
          `Delivery attempts to ${endpoint.url}`,
          [
            { label: 'Time', cell: (attempt) => formatDateTime(attempt.at) },
            { label: 'Event', cell: (attempt) => h('code', null, attempt.eventId) },
            { label: 'Attempt', cell: (attempt) => String(attempt.attempt) },
            { label: 'Trigger', cell: (attempt) => attempt.trigger },
            {
              label: 'Outcome',
              cell: (attempt) => [
                badge(attempt.status, attempt.status === 'succeeded' ? 'ok' : 'bad'),
                attempt.responseStatus !== undefined ? ` HTTP ${attempt.responseStatus}` : '',
              ],
            },
            { label: 'Duration', cell: (attempt) => formatMillis(attempt.durationMs) },
            { label: 'Error', cell: (attempt) => attempt.error ?? '—' },
            {
              label: 'Response body',
              className: 'body-cell',
              // The receiver's answer is untrusted text: a text node in a <pre>, never markup.
              cell: (attempt) =>
                attempt.responseBody === undefined || attempt.responseBody === ''
                  ? h('span', { class: 'muted' }, '(empty)')
                  : h('pre', { class: 'response-body' }, attempt.responseBody),
            },
            {
              label: 'Action',
              cell: (attempt) =>
                button(
                  'Resend',
                  (control) =>
                    busy(control, async () => {
                      try {
                        await api.send('POST', `${base}/events/${segment(attempt.eventId)}/resend`, {});
                        notify.info(`Event ${attempt.eventId} is being delivered again to ${endpoint.url}.`);
                        later(2000, () => void loadAttempts());
                      } catch (error) {
                        notify.error(error, `Resending ${attempt.eventId}`);
                      }
                    }),
                  { 'aria-label': `Resend event ${attempt.eventId}`, class: 'secondary' },
                ),
            },
          ],
          rows,
          {
            id: 'attempts-table',
            empty: 'No delivery attempts yet.',
            rowClass: (attempt) => (attempt.status === 'failed' ? 'problem' : undefined),
          },
        );

      const since = h('input', { id: 'recover-since', type: 'datetime-local', required: true, step: 1 });
      const until = h('input', { id: 'recover-until', type: 'datetime-local', step: 1 });
      const recoverForm = h(
        'form',
        { id: 'recover-form', class: 'inline-form' },
        h(
          'fieldset',
          null,
          h('legend', null, 'Recover a window'),
          h(
            'p',
            { class: 'muted' },
            'Delivers again only the events of the window this endpoint has not received (failed, exhausted, or missed while disabled).',
          ),
          h('div', { class: 'field' }, h('label', { for: 'recover-since' }, 'Since'), since),
          h('div', { class: 'field' }, h('label', { for: 'recover-until' }, 'Until (optional)'), until),
          h('button', { type: 'submit', id: 'recover-submit' }, 'Recover'),
        ),
      );
      recoverForm.addEventListener('submit', (event) => {
        event.preventDefault();
        const submit = recoverForm.querySelector('button[type=submit]') as HTMLButtonElement;
        void busy(submit, async () => {
          const sinceIso = localInputToIso(since.value);
          const untilIso = localInputToIso(until.value);
          if (!sinceIso) {
            notify.error(new Error('Give the start of the window (Since).'), 'Recover');
            since.focus();
            return;
          }
          try {
            const answer = await api.send<{ recoveryId: string; count: number }>('POST', `${base}/recover`, {
              since: sinceIso,
              ...(untilIso ? { until: untilIso } : {}),
            });
            notify.info(
              `Recovery ${answer.recoveryId}: ${formatCount(answer.count)} event(s) in the window; those not yet delivered are sent again.`,
            );
          } catch (error) {
            notify.error(error, 'Recover');
          }
        });
      });

      const showSecret = (secret: string) => {
        const dismiss = button('Dismiss', () => {
          fill(secretSlot);
          rotate.focus();
        });
        fill(
          secretSlot,
          h(
            'div',
            { class: 'secret-box', id: 'new-secret-box', role: 'region', 'aria-label': 'New signing secret' },
            h(
              'p',
              null,
              h('strong', null, 'New signing secret, shown only this once. '),
              'Copy it to the receiver now; the old secret keeps signing beside it for 24 hours.',
            ),
            h('code', { id: 'new-secret' }, secret),
            h('div', { class: 'tools' }, dismiss),
          ),
        );
        dismiss.focus();
      };

      const test = button(
        'Send test event',
        (control) =>
          busy(control, async () => {
            try {
              const answer = await api.send<{ eventId: string }>('POST', `${base}/test`, {});
              notify.info(`Test event ${answer.eventId} sent to ${endpoint.url}; its attempt appears below.`);
              later(1500, () => void loadAttempts());
            } catch (error) {
              notify.error(error, 'Sending a test event');
            }
          }),
        { id: 'action-test' },
      );
      const rotate = button(
        'Rotate secret',
        (control) =>
          busy(control, async () => {
            try {
              const answer = await api.send<{ secret: string }>('POST', `${base}/rotate-secret`, {});
              showSecret(answer.secret);
            } catch (error) {
              notify.error(error, 'Rotating the secret');
            }
          }),
        { id: 'action-rotate' },
      );
      const nextStatus = endpoint.status === 'enabled' ? 'disabled' : 'enabled';
      const toggle = button(
        endpoint.status === 'enabled' ? 'Disable endpoint' : 'Enable endpoint',
        (control) =>
          busy(control, async () => {
            try {
              await api.send('PATCH', base, { status: nextStatus });
              notify.info(`${endpoint.url} is ${nextStatus}.`);
              await load();
            } catch (error) {
              notify.error(error, nextStatus === 'enabled' ? 'Enabling' : 'Disabling');
            }
          }),
        { id: 'action-toggle', class: endpoint.status === 'enabled' ? 'danger' : '' },
      );

      fill(
        detail,
        h(
          'section',
          { 'aria-labelledby': 'endpoint-title', class: 'card' },
          h('h3', { id: 'endpoint-title' }, 'Endpoint ', h('span', { class: 'url' }, endpoint.url)),
          h(
            'p',
            { class: 'muted' },
            `${endpoint.id} · ${endpoint.status}${endpoint.disabledReason ? ` (${endpoint.disabledReason})` : ''} · events: ${endpoint.events.join(', ')}`,
          ),
          h('div', { class: 'tools actions' }, test, rotate, toggle),
          secretSlot,
          recoverForm,
          h(
            'div',
            { class: 'section-head' },
            h('h4', null, 'Delivery attempts'),
            h(
              'div',
              { class: 'tools' },
              h('label', { for: 'attempt-filter' }, 'Show'),
              filter,
              button('Refresh attempts', (control) => busy(control, () => loadAttempts()), {
                class: 'secondary',
                id: 'attempts-refresh',
              }),
            ),
          ),
          attempts,
          more,
        ),
      );
      void loadAttempts();
    };

    const { element } = section(
      'webhooks',
      'Webhook endpoints',
      [button('Refresh', (control) => busy(control, load), { class: 'secondary', id: 'endpoints-refresh' })],
      h(
        'p',
        { class: 'muted' },
        'The last 24 hours are counted as deliveries finish and written about every 10 seconds; the attempts below are immediate.',
      ),
      list,
      detail,
    );
    void load();
    return element;
  }

  // --- Subscriptions --------------------------------------------------------------------------------------------

  function subscriptionsTab(): HTMLElement {
    const list = h('div', { id: 'subscriptions' }, loading('subscriptions'));
    const more = h('div', { class: 'more' });
    const status = h(
      'select',
      { id: 'subscription-status' },
      h('option', { value: '' }, 'Any status'),
      ...['active', 'paused', 'past_due', 'canceled', 'unpaid'].map((value) => h('option', { value }, value)),
    );
    let rows: Subscription[] = [];

    const load = async (cursor?: string) => {
      try {
        const page = await api.get<Page<Subscription>>('v1/subscriptions', {
          status: status.value || undefined,
          limit: 25,
          cursor,
        });
        rows = cursor ? [...rows, ...page.data] : page.data;
        fill(list, subscriptionsTable(rows));
        fill(
          more,
          page.next
            ? button('Load more', (control) => busy(control, () => load(page.next)), {
                class: 'secondary',
                id: 'subscriptions-more',
              })
            : null,
        );
      } catch (error) {
        fill(list);
        notify.error(error, 'Loading the subscriptions');
      }
    };
    status.addEventListener('change', () => void load());

    const subscriptionsTable = (subscriptions: Subscription[]) =>
      table(
        'Subscriptions',
        [
          { label: 'Subscription', cell: (sub) => h('code', null, sub.id) },
          {
            label: 'Customer',
            cell: (sub) => [
              sub.customer?.email ?? '—',
              sub.customer?.id ? h('code', { class: 'muted block' }, sub.customer.id) : null,
            ],
          },
          { label: 'Plan', cell: (sub) => sub.plan ?? '—' },
          {
            label: 'Amount',
            cell: (sub) =>
              `${formatAmount(sub.amount, sub.currency)} ${formatInterval(sub.interval, sub.intervalCount)}`.trim(),
          },
          {
            label: 'Status',
            cell: (sub) => [
              badge(sub.status, sub.status === 'active' ? 'ok' : sub.status === 'paused' ? 'neutral' : 'bad'),
              sub.cancelReason ? ` ${sub.cancelReason}` : '',
            ],
          },
          {
            label: 'Next charge',
            cell: (sub) => (sub.status === 'canceled' ? '—' : formatDateTime(sub.nextChargeAt)),
          },
          {
            label: 'Dunning',
            cell: (sub) =>
              sub.dunning
                ? `attempt ${sub.dunning.attempt ?? '?'}${sub.dunning.declineCode ? `, ${sub.dunning.declineCode}` : ''}${
                    sub.dunning.waitingForPaymentMethod
                      ? ', waiting for a new payment method'
                      : sub.dunning.nextRetryAt
                        ? `, retry ${formatDateTime(sub.dunning.nextRetryAt)}`
                        : ''
                  }`
                : '—',
          },
        ],
        subscriptions,
        {
          id: 'subscriptions-table',
          empty: 'No subscriptions.',
          rowClass: (sub) => (sub.status === 'past_due' || sub.status === 'unpaid' ? 'problem' : undefined),
        },
      );

    const { element } = section(
      'subscriptions-section',
      'Subscriptions',
      [
        h('label', { for: 'subscription-status' }, 'Status'),
        status,
        button('Refresh', (control) => busy(control, () => load()), { class: 'secondary' }),
      ],
      list,
      more,
    );
    void load();
    return element;
  }

  // --- Datafeeds ------------------------------------------------------------------------------------------------

  function datafeedsTab(): HTMLElement {
    const list = h('div', { id: 'datafeeds' }, loading('datafeeds'));
    const viewer = h('div', { id: 'datafeed-viewer' });

    const showFeed = async (run: DatafeedRun) => {
      try {
        const xml = await api.text(`v1/datafeeds/subscriptions/${segment(run.runId)}`);
        fill(
          viewer,
          h(
            'section',
            { class: 'card', 'aria-labelledby': 'datafeed-title' },
            h('h3', { id: 'datafeed-title' }, `Datafeed of run ${run.runId}`),
            h('pre', { id: 'datafeed-xml', class: 'xml', tabindex: 0 }, xml),
          ),
        );
      } catch (error) {
        notify.error(error, `The datafeed of ${run.runId}`);
      }
    };

    const load = async () => {
      try {
        const page = await api.get<Page<DatafeedRun>>('v1/datafeeds/subscriptions', { days: 30 });
        fill(
          list,
          table(
            'Datafeeds of the last 30 days',
            [
              { label: 'Run', cell: (run) => run.runId },
              {
                label: 'Status',
                cell: (run) => badge(run.status, run.status === 'completed' ? 'ok' : 'neutral'),
              },
              { label: 'Completed', cell: (run) => formatDateTime(run.completedAt) },
              {
                label: 'Datafeed',
                cell: (run) =>
                  button('Show XML', (control) => busy(control, () => showFeed(run)), {
                    'aria-label': `Show the datafeed of ${run.runId}`,
                    class: 'secondary',
                    disabled: run.status !== 'completed',
                  }),
              },
            ],
            page.data,
            { id: 'datafeeds-table', empty: 'No subscription runs in the last 30 days.' },
          ),
        );
      } catch (error) {
        fill(list);
        notify.error(error, 'Loading the datafeeds');
      }
    };

    const { element } = section(
      'datafeeds-section',
      'Datafeeds',
      [button('Refresh', (control) => busy(control, load), { class: 'secondary' })],
      h(
        'p',
        { class: 'muted' },
        'Each completed subscription run leaves an XML datafeed of this store: charges, past-due subscriptions, cancellations and subscriptions ending soon.',
      ),
      list,
      viewer,
    );
    void load();
    return element;
  }

  show('webhooks');
  return {
    root,
    dispose: () => {
      disposed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
