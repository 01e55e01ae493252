import {
  CONSOLE_ASSETS_HASH,
  CONSOLE_CSS,
  CONSOLE_FAVICON_SVG,
  CONSOLE_JS,
} from '../console/console-assets.generated';
import { CONSOLE_SECURITY_HEADERS, consoleHtml } from '../console/console-page';
import type { ApiRequest, ApiResponse } from '../http/api-types';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';

/**
 * The web console (docs/api.md section 3, `GET /console`): an HTML shell and its three assets, bundled from
 * console/src by `npm run build:console`. No key is needed to load it; every call it makes carries the key the
 * person signs in with. The shell is never cached; an asset asked for with the current hash is cached for good.
 */
export function consoleRoutes(): Route<RouteContext>[] {
  return [
    {
      method: 'GET',
      path: '/console',
      handle: async (request) => ({
        status: 200,
        headers: {
          ...CONSOLE_SECURITY_HEADERS,
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
        },
        body: consoleHtml(request.path),
      }),
    },
    asset('/console/app.js', 'text/javascript; charset=utf-8', CONSOLE_JS),
    asset('/console/app.css', 'text/css; charset=utf-8', CONSOLE_CSS),
    asset('/console/favicon.svg', 'image/svg+xml', CONSOLE_FAVICON_SVG),
  ];
}

const ETAG = `"${CONSOLE_ASSETS_HASH}"`;

function asset(path: string, contentType: string, body: string): Route<RouteContext> {
  return {
    method: 'GET',
    path,
    handle: async (request: ApiRequest): Promise<ApiResponse> => {
      const headers = {
        ...CONSOLE_SECURITY_HEADERS,
        'content-type': contentType,
        etag: ETAG,
        // A URL with another version (a page older than this deploy) must not pin these bytes under it.
        'cache-control':
          request.query.v === CONSOLE_ASSETS_HASH ? 'public, max-age=31536000, immutable' : 'no-cache',
      };
      const match = request.headers['if-none-match'];
      if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === ETAG)) {
        return { status: 304, headers };
      }
      return { status: 200, headers, body };
    },
  };
}
