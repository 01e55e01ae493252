import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';

export function healthRoutes(): Route<RouteContext>[] {
  return [{ method: 'GET', path: '/health', handle: async () => ({ status: 200, body: { status: 'ok' } }) }];
}
