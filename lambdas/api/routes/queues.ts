import * as z from 'zod';
import { type QueueOperations, queueOverview, redriveQueue } from '../../operations/domain/queue-operations';
import { isQueueName, QUEUE_NAMES } from '../../operations/domain/queues';
import { problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import type { ApiServices } from '../services';

const PATH = '/v1/admin/queues';

/** The `{name}` of `POST /v1/admin/queues/{name}/redrive`: a work queue's name (another is 404). */
export const queueNameSchema = z.enum(QUEUE_NAMES);

/** The body of a redrive: `{}`, or none at all. */
export const redriveBody = z.strictObject({});

/**
 * The admin's view of the work queues (what `npx pipeline status` shows) and the redrive of their dead letters
 * (what `npx pipeline redrive` does), through the same code (lambdas/operations/).
 */
export function queueRoutes(services: ApiServices): Route<RouteContext>[] {
  return [
    {
      method: 'GET',
      path: PATH,
      handle: async (request, _params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        return { status: 200, body: { data: await queueOverview(operationsOf(services), services.now()) } };
      },
    },
    {
      method: 'POST',
      path: `${PATH}/{name}/redrive`,
      handle: async (request, params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        const name = params.name ?? '';
        const operations = operationsOf(services);
        if (!isQueueName(name) || !operations.pairs[name]) {
          const known = QUEUE_NAMES.filter((queue) => operations.pairs[queue]).join(', ');
          throw problems.notFound(`No queue "${name}": the queues are ${known}.`);
        }
        const body = validateBody(redriveBody, request.rawBody.trim() === '' ? {} : readJsonBody(request));
        return services.idempotent(request, 'admin', body, async () => {
          const result = await redriveQueue(operations, name, { now: services.now });
          // Checked above; the pairs do not change while the function runs.
          if (!result) throw problems.notFound(`No queue "${name}".`);
          return { status: 202, body: result };
        });
      },
    },
  ];
}

function operationsOf(services: ApiServices): QueueOperations {
  if (!services.deps.operations) throw new Error('The API was built without its queue operations.');
  return services.deps.operations;
}
