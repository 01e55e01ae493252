import * as z from 'zod';
import {
  DEFAULT_HISTORY_DAYS,
  lastRunIds,
  MAX_HISTORY_DAYS,
  newestRunFirst,
} from '../../billing/domain/runs/history';
import { runView } from '../../billing/domain/runs/view';
import type { Route } from '../http/router';
import { limitParam, validateQuery } from '../query';
import type { RouteContext } from '../route-context';
import { type ApiServices, billingOf, reconciliationsOf } from '../services';

/** The query of the lists of runs, reconciliations and datafeeds: the last `days` UTC dates, today's included. */
export const runHistoryQuery = z.object({ days: limitParam(MAX_HISTORY_DAYS) });

/**
 * The lists of the last days' runs (docs/api.md section 3), newest first: `GET /v1/admin/subscription-runs` and
 * `GET /v1/admin/reconciliations` (admin), `GET /v1/datafeeds/subscriptions` (a store: which runs have, or will
 * have, a datafeed; nothing else of a run, whose counts are every store's). Runs are named by their UTC date, so
 * each list is one read by key of the dates' items (BatchGetItem): no scan, no index.
 */
export function runHistoryRoutes(services: ApiServices): Route<RouteContext>[] {
  const runIds = (request: Parameters<typeof validateQuery>[1]) =>
    lastRunIds(services.now(), validateQuery(runHistoryQuery, request).days ?? DEFAULT_HISTORY_DAYS);
  const byRunId = newestRunFirst((run: { runId: string }) => run.runId);
  return [
    {
      method: 'GET',
      path: '/v1/admin/subscription-runs',
      handle: async (request, _params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        const runs = await billingOf(services).runs.getMany(runIds(request));
        const now = services.now();
        return { status: 200, body: { data: runs.sort(byRunId).map((run) => runView(run, now)) } };
      },
    },
    {
      method: 'GET',
      path: '/v1/admin/reconciliations',
      handle: async (request, _params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        const dates = runIds(request);
        const reports = await reconciliationsOf(services).reports.getMany(dates);
        return {
          status: 200,
          // Each as GET /v1/admin/reconciliations/{date} answers it.
          body: { data: reports.sort(newestRunFirst((report) => report.date)) },
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/datafeeds/subscriptions',
      handle: async (request) => {
        await services.auth.store(request);
        const runs = await billingOf(services).runs.getMany(runIds(request));
        return {
          status: 200,
          body: {
            data: runs.sort(byRunId).map((run) => ({
              runId: run.runId,
              status: run.status,
              ...(run.status === 'completed' && run.completedAt ? { completedAt: run.completedAt } : {}),
            })),
          },
        };
      },
    },
  ];
}
