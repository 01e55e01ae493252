import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { runProgress } from '../../billing/domain/runs/progress-log';
import { MAX_AS_OF_AHEAD_MS, triggerRun } from '../../billing/domain/runs/trigger';
import { runView } from '../../billing/domain/runs/view';
import { isRunId } from '../../billing/domain/schedule';
import { HttpProblem, problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import { type ApiServices, billingOf } from '../services';

const PATH = '/v1/admin/subscription-runs';

export const triggerBody = z.strictObject({
  asOf: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
});

/** The admin's run trigger and progress: the same code path as the schedules (billing/domain/runs/). */
export function subscriptionRunRoutes(services: ApiServices): Route<RouteContext>[] {
  const billing = () => billingOf(services);
  return [
    {
      method: 'POST',
      path: PATH,
      handle: async (request, _params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        // An empty body is a run as of now.
        const body = validateBody(triggerBody, request.rawBody.trim() === '' ? {} : readJsonBody(request));
        const now = services.now();
        if (body.asOf !== undefined && Date.parse(body.asOf) > now + MAX_AS_OF_AHEAD_MS) {
          throw problems.validation([
            {
              field: 'asOf',
              message: 'must not be in the future: a run charges what is due, never ahead of time',
            },
          ]);
        }
        const execute = async () => {
          const { run, outcome } = await triggerRun(
            { runs: billing().runs, queue: billing().runQueue, now: services.now, newOwner: randomUUID },
            { asOf: body.asOf, source: 'api' },
          );
          return { status: 202, body: { ...runView(run, services.now()), outcome } };
        };
        if (request.headers['idempotency-key'] === undefined) return execute();
        return services.idempotent(request, 'admin', body, execute);
      },
    },
    {
      method: 'GET',
      path: `${PATH}/{runId}`,
      handle: async (request, params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        const runId = validRunId(params.runId);
        const run = await billing().runs.get(runId);
        if (!run) throw problems.notFound(`No subscription run for ${runId}.`);
        const progress = runProgress(run, await billing().runs.progressLog(runId));
        return { status: 200, body: { ...runView(run, services.now()), progress } };
      },
    },
    {
      method: 'GET',
      path: '/v1/datafeeds/subscriptions/{runId}',
      handle: async (request, params) => {
        const storeId = await services.auth.store(request);
        const runId = validRunId(params.runId);
        const run = await billing().runs.get(runId);
        if (!run) throw problems.notFound(`No subscription run for ${runId}.`);
        if (run.status !== 'completed') {
          throw new HttpProblem(
            425,
            'Run not completed',
            `The subscription run ${runId} is still running; its datafeed is produced when it completes.`,
            { slug: 'run-not-completed', headers: { 'retry-after': '30' } },
          );
        }
        const xml =
          (await billing().datafeeds.get(runId, storeId, run.datafeedVersion)) ??
          `<?xml version="1.0" encoding="UTF-8"?>\n<subscription_datafeed run_id="${runId}" store_id="${storeId}" subscriptions="0"/>\n`;
        return { status: 200, body: xml, headers: { 'content-type': 'application/xml; charset=utf-8' } };
      },
    },
  ];
}

function validRunId(runId: string | undefined): string {
  if (runId === undefined || !isRunId(runId)) {
    throw problems.badRequest(
      `"${runId ?? ''}" is not a run id: runs are named by their UTC date, YYYY-MM-DD.`,
    );
  }
  return runId;
}
