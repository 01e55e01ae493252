import * as z from 'zod';
import { requestReconciliation } from '../../billing/domain/reconciliation';
import { isRunId } from '../../billing/domain/schedule';
import { HttpProblem, problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import { type ApiServices, reconciliationsOf } from '../services';

const PATH = '/v1/admin/reconciliations';

const DATE_MESSAGE = "must be a run's UTC date, YYYY-MM-DD (a real calendar day)";

export const requestBody = z.strictObject({
  date: z.string({ message: DATE_MESSAGE }).refine(isRunId, DATE_MESSAGE),
});

/**
 * The admin's reconciliations of runs with the gateway (billing/domain/reconciliation.ts): started here or
 * by the run's completion, worked by RunFunction, read here.
 */
export function reconciliationRoutes(services: ApiServices): Route<RouteContext>[] {
  const reconciliations = () => reconciliationsOf(services);
  return [
    {
      method: 'POST',
      path: PATH,
      handle: async (request, _params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        const body = validateBody(requestBody, readJsonBody(request));
        return services.idempotent(request, 'admin', body, async () => {
          const { runs, reports, queue } = reconciliations();
          const outcome = await requestReconciliation({ runs, reports, queue, now: services.now }, body.date);
          if (outcome.kind === 'no-run') {
            throw problems.notFound(`No subscription run for ${body.date}: there is nothing to reconcile.`);
          }
          if (outcome.kind === 'run-not-completed') {
            // Its charges' answers are still arriving: each one would be reported as an orphan.
            throw new HttpProblem(
              409,
              'Run not completed',
              `The subscription run ${body.date} is still running; it is reconciled once it completes.`,
              { slug: 'run-not-completed' },
            );
          }
          const { date, status, requestedAt } = outcome.report;
          return { status: 202, body: { date, status, requestedAt } };
        });
      },
    },
    {
      method: 'GET',
      path: `${PATH}/{date}`,
      handle: async (request, params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        const date = params.date ?? '';
        if (!isRunId(date)) {
          throw problems.badRequest(
            `"${date}" is not a run's date: runs are named by their UTC date, YYYY-MM-DD.`,
          );
        }
        const report = await reconciliations().reports.get(date);
        if (!report) {
          throw problems.notFound(
            `No reconciliation for ${date}: one starts RECONCILE_AFTER the run's completion, or with POST ${PATH}.`,
          );
        }
        return { status: 200, body: report };
      },
    },
  ];
}
