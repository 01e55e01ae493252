import type { Route } from '../http/router';
import { buildOpenApiDocument } from '../openapi/document';
import type { RouteContext } from '../route-context';
import type { ApiServices } from '../services';

/**
 * `GET /openapi.json` (docs/api.md section 3): no key. The document is built on the first request of an execution
 * environment and kept; its server is the API's public URL when the function knows it (the manage links' base).
 */
export function openApiRoutes(services: ApiServices): Route<RouteContext>[] {
  let body: string | undefined;
  return [
    {
      method: 'GET',
      path: '/openapi.json',
      handle: async () => {
        body ??= JSON.stringify(buildOpenApiDocument(services.deps.manageLinks?.baseUrl));
        return {
          status: 200,
          headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
          body,
        };
      },
    },
  ];
}
