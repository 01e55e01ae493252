import type { ApiRequest, ApiResponse } from './api-types';
import { problems } from './problem';

/**
 * A route table matched on method and path with `{name}` parameters. Hand-written rather than
 * @middy/http-router because the API needs problem+json answers for unknown paths (404) and known paths with
 * another method (405 with `Allow`), and typed parameters per route; the matching itself is a few lines.
 */
export interface Route<Context> {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** e.g. `/v1/webhooks/{id}/attempts` */
  readonly path: string;
  readonly handle: (
    request: ApiRequest,
    params: Readonly<Record<string, string>>,
    context: Context,
  ) => Promise<ApiResponse>;
  /**
   * Only answers 405 for a method its path does not take (in the path's own format, such as the manage page's
   * HTML): no operation of the API, so the OpenAPI document does not list it.
   */
  readonly methodNotAllowed?: true;
}

interface CompiledRoute<Context> extends Route<Context> {
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

function compile<Context>(route: Route<Context>): CompiledRoute<Context> {
  return { ...route, ...pathPattern(route.path) };
}

/**
 * The pattern of a route path (`/v1/webhooks/{id}`): each `{name}` one segment, a trailing slash allowed; `names`
 * in the order their segments capture. The OpenAPI test helper matches the document's paths with it too.
 */
export function pathPattern(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      if (!param?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[1]);
      return '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^${source}/?$`), names };
}

export function createRouter<Context>(routes: readonly Route<Context>[]) {
  const compiled = routes.map(compile);
  return async (request: ApiRequest, context: Context): Promise<ApiResponse> => {
    const allowed: string[] = [];
    for (const route of compiled) {
      const match = route.pattern.exec(request.path);
      if (!match) continue;
      if (route.method !== request.method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      route.names.forEach((name, index) => {
        params[name] = safeDecode(match[index + 1] ?? '');
      });
      return route.handle(request, params, context);
    }
    if (allowed.length > 0) throw problems.methodNotAllowed(request.method, allowed);
    throw problems.notFound(`No route for ${request.method} ${request.path}.`);
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // A malformed escape cannot name any resource; keeping it raw makes the lookup miss and answer 404.
    return segment;
  }
}
