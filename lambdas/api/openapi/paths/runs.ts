import { problems } from '../../http/problem';
import { requestBody as reconciliationBody } from '../../routes/reconciliations';
import { runHistoryQuery } from '../../routes/run-history';
import { triggerBody } from '../../routes/subscription-runs';
import { input, json, jsonBody, type OperationSpec, out, type ParamSpec } from '../builder';
import {
  adminKey,
  idempotencyProblems,
  jsonBodyProblems,
  notFound,
  problem,
  problemAnswer,
  queryProblems,
  storeKey,
} from '../problem';
import {
  datafeedRunsSchema,
  exampleCompletedRun,
  exampleReconciliation,
  exampleRun,
  exampleRunDetail,
  reconciliationListSchema,
  reconciliationRequestedSchema,
  reconciliationSchema,
  runDetailSchema,
  runListSchema,
  triggeredRunSchema,
} from '../responses';

const runIdParam = (name: string, description: string): ParamSpec => ({
  name,
  description,
  schema: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
  example: '2026-12-07',
});

const days = {
  schema: runHistoryQuery,
  descriptions: { days: "How many UTC dates back, today's included: 1 to 366; default 30." },
  examples: { days: '7' },
};

const DATAFEED_EXAMPLE = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<subscription_datafeed run_id="2026-12-07" store_id="acme" generated_at="2026-12-07T05:47:50.373Z" subscriptions="1">',
  '  <subscription id="sub_ana" status="active" customer_id="cus_ana" customer_email="ana@example.com" plan="coffee" amount="1999" currency="USD" next_charge_at="2027-01-07T05:40:00.000Z">',
  '    <charge period="2026-12-07" status="succeeded" amount="1999" currency="USD" attempt="0" payment_intent="pi_ed2b2d86e0d23cc854091587" at="2026-12-07T05:47:45.595Z"/>',
  '    <manage_url>https://api.example.com/manage/v1.…</manage_url>',
  '  </subscription>',
  '  <canceled_today from="2026-12-07T00:00:00.000Z" to="2026-12-08T00:00:00.000Z" count="0"/>',
  '  <ending_soon from="2026-12-08T00:00:00.000Z" to="2026-12-15T00:00:00.000Z" count="0"/>',
  '</subscription_datafeed>',
  '',
].join('\n');

const badRunId = () =>
  problemAnswer('Not a run id (`YYYY-MM-DD`)', [
    problems.badRequest('"yesterday" is not a run id: runs are named by their UTC date, YYYY-MM-DD.'),
  ]);

/** Subscription runs, their datafeeds and their reconciliations with the gateway. */
export function runOperations(): OperationSpec[] {
  const run = exampleRun();
  return [
    {
      method: 'post',
      path: '/v1/admin/subscription-runs',
      operationId: 'triggerSubscriptionRun',
      summary: 'Start (or join) the subscription run of a date',
      description:
        'Charges every subscription due at `asOf` (default now; not more than 5 minutes ahead), and every dunning retry due then. `runId` is the UTC date of `asOf`; a date whose run is live or done starts no second pass and answers with that run (`outcome`). The body may be empty.',
      tags: ['Subscription runs'],
      security: 'admin',
      idempotencyKey: 'Makes a retry safe (a trigger is safe to repeat anyway).',
      body: jsonBody(
        input('TriggerRunRequest', triggerBody),
        { asOf: '2026-12-07T00:05:00Z' },
        { required: false },
      ),
      answers: [
        json(
          202,
          'The run, started or joined',
          out('TriggeredRun', triggeredRunSchema),
          { ...run, outcome: 'joined' },
          ['Idempotent-Replayed'],
        ),
        ...adminKey(),
        ...jsonBodyProblems(triggerBody, { asOf: 'now' }),
        ...idempotencyProblems(),
      ],
    },
    {
      method: 'get',
      path: '/v1/admin/subscription-runs',
      operationId: 'listSubscriptionRuns',
      summary: 'The runs of the last days, newest first',
      tags: ['Subscription runs'],
      security: 'admin',
      query: days,
      answers: [
        json(200, 'The runs of those dates that exist', out('SubscriptionRunList', runListSchema), {
          data: [run, exampleCompletedRun()],
        }),
        ...adminKey(),
        queryProblems(runHistoryQuery, { days: '0' }),
      ],
    },
    {
      method: 'get',
      path: '/v1/admin/subscription-runs/{runId}',
      operationId: 'getSubscriptionRun',
      summary: "A run's progress",
      description:
        'A run completes when each of its charges has an answer (`processing` is an answer). `ratePerMinute` is the moving rate over about the last 5 minutes, `etaSeconds` null while nothing moves.',
      tags: ['Subscription runs'],
      security: 'admin',
      pathParams: [runIdParam('runId', 'The UTC date of the run, `YYYY-MM-DD`.')],
      answers: [
        json(
          200,
          'The run with its progress log',
          out('SubscriptionRunDetail', runDetailSchema),
          exampleRunDetail(),
        ),
        ...adminKey(),
        badRunId(),
        notFound('No subscription run for 2026-12-07.'),
      ],
    },
    {
      method: 'get',
      path: '/v1/datafeeds/subscriptions',
      operationId: 'listDatafeeds',
      summary: 'Which runs of the last days have (or will have) a datafeed',
      description: 'Newest first; a store sees nothing else of a run, whose counts are every store’s.',
      tags: ['Datafeeds'],
      security: 'store',
      query: days,
      answers: [
        json(200, 'The runs of those dates that exist', out('DatafeedRunList', datafeedRunsSchema), {
          data: [
            { runId: '2026-12-07', status: 'running' },
            { runId: '2026-12-06', status: 'completed', completedAt: '2026-12-06T00:41:12.000Z' },
          ],
        }),
        ...storeKey(),
        queryProblems(runHistoryQuery, { days: 'all' }),
      ],
    },
    {
      method: 'get',
      path: '/v1/datafeeds/subscriptions/{runId}',
      operationId: 'getDatafeed',
      summary: "The store's XML datafeed of a run",
      description:
        'Root element `subscription_datafeed`: each subscription charged or failed in the run, its charges, `<past_due>` while past due, its `<manage_url>`; then `<canceled_today>` and `<ending_soon>`. A store without charges in the run gets an empty feed. Format: docs/api.md, "Datafeed format".',
      tags: ['Datafeeds'],
      security: 'store',
      pathParams: [runIdParam('runId', 'The UTC date of the run, `YYYY-MM-DD`.')],
      answers: [
        {
          status: 200,
          description: 'The datafeed',
          content: {
            mediaType: 'application/xml',
            schema: { json: { type: 'string' } },
            examples: { feed: { value: DATAFEED_EXAMPLE } },
          },
        },
        ...storeKey(),
        badRunId(),
        notFound('No subscription run for 2026-12-07.'),
        problemAnswer('The run is not completed yet: its datafeed is produced when it completes', [
          problem(
            425,
            'Run not completed',
            'The subscription run 2026-12-07 is still running; its datafeed is produced when it completes.',
            'run-not-completed',
            { headers: { 'retry-after': '30' } },
          ),
        ]),
      ],
    },
    {
      method: 'post',
      path: '/v1/admin/reconciliations',
      operationId: 'requestReconciliation',
      summary: 'Reconcile a completed run with the gateway',
      description:
        'Also started by itself RECONCILE_AFTER each run’s completion. A repeat recomputes and replaces the report (while it runs the counts read 0).',
      tags: ['Reconciliations'],
      security: 'admin',
      idempotencyKey: 'Makes a retry safe.',
      body: jsonBody(input('ReconciliationRequest', reconciliationBody), { date: '2026-12-06' }),
      answers: [
        json(
          202,
          'The reconciliation is started',
          out('ReconciliationRequested', reconciliationRequestedSchema),
          { date: '2026-12-06', status: 'running', requestedAt: '2026-12-07T08:00:00.000Z' },
          ['Idempotent-Replayed'],
        ),
        ...adminKey(),
        ...jsonBodyProblems(reconciliationBody, { date: '2026-02-30' }),
        notFound('No subscription run for 2026-12-06: there is nothing to reconcile.'),
        problemAnswer('The run is not completed: its charges’ answers are still arriving', [
          problem(
            409,
            'Run not completed',
            'The subscription run 2026-12-07 is still running; it is reconciled once it completes.',
            'run-not-completed',
          ),
        ]),
        ...idempotencyProblems(),
      ],
    },
    {
      method: 'get',
      path: '/v1/admin/reconciliations',
      operationId: 'listReconciliations',
      summary: 'The reconciliations of the last days, newest first',
      tags: ['Reconciliations'],
      security: 'admin',
      query: days,
      answers: [
        json(
          200,
          'The reports of those dates that exist',
          out('ReconciliationList', reconciliationListSchema),
          {
            data: [exampleReconciliation],
          },
        ),
        ...adminKey(),
        queryProblems(runHistoryQuery, { days: '1000' }),
      ],
    },
    {
      method: 'get',
      path: '/v1/admin/reconciliations/{date}',
      operationId: 'getReconciliation',
      summary: 'A reconciliation report',
      description:
        '`duplicates` (two PaymentIntents that moved money for one charge) and `orphans` (money moved, nothing recorded) must be empty: a non-empty one raises an alarm. Each list holds at most 500 entries (`truncated`); `counts` are exact.',
      tags: ['Reconciliations'],
      security: 'admin',
      pathParams: [runIdParam('date', "The run's UTC date, `YYYY-MM-DD`.")],
      answers: [
        json(200, 'The report', out('Reconciliation', reconciliationSchema), exampleReconciliation),
        ...adminKey(),
        problemAnswer('Not a date (`YYYY-MM-DD`)', [
          problems.badRequest(
            '"yesterday" is not a run\'s date: runs are named by their UTC date, YYYY-MM-DD.',
          ),
        ]),
        notFound(
          "No reconciliation for 2026-12-06: one starts RECONCILE_AFTER the run's completion, or with POST /v1/admin/reconciliations.",
        ),
      ],
    },
  ];
}
