import * as z from 'zod';
import { createStore, STORE_ID_PATTERN, StoreAlreadyExistsError } from '../../stores/domain/stores';
import { problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import type { ApiServices } from '../services';

export const createStoreBody = z.strictObject({
  id: z
    .string()
    .regex(
      STORE_ID_PATTERN,
      'must be 1-63 characters of a-z, 0-9, "-" or "_", starting with a letter or digit',
    ),
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});

export function adminStoreRoutes(services: ApiServices): Route<RouteContext>[] {
  return [
    {
      method: 'POST',
      path: '/v1/admin/stores',
      handle: async (request, _params, context) => {
        services.auth.admin(request, context.secrets.adminApiKey);
        const body = validateBody(createStoreBody, readJsonBody(request));
        return services.idempotent(request, 'admin', body, async () => {
          try {
            const store = await createStore(services.deps.stores, body, { now: new Date(services.now()) });
            return {
              status: 201,
              body: { id: store.id, name: store.name, apiKey: store.apiKey, createdAt: store.createdAt },
            };
          } catch (error) {
            if (error instanceof StoreAlreadyExistsError) throw problems.conflict(error.message);
            throw error;
          }
        });
      },
    },
  ];
}
