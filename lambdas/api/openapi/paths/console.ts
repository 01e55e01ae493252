import type { Answer, HeaderName, OperationSpec } from '../builder';
import { anyRoute } from '../problem';

/**
 * The web console (docs/api.md section 3, `GET /console`): its HTML shell and the three assets the shell loads, all
 * served by the API function with `default-src 'self'`. No key loads them; the console's calls carry the key the
 * person signs in with.
 */

const TAGS = ['Console'];
const HEADERS: HeaderName[] = ['Content-Security-Policy', 'Cache-Control'];

function text(status: number, description: string, mediaType: string, example: string): Answer {
  return {
    status,
    description,
    content: {
      mediaType,
      schema: { json: { type: 'string' } },
      examples: { [`body${status}`]: { value: example } },
    },
    headers: HEADERS,
  };
}

function asset(
  path: string,
  operationId: string,
  summary: string,
  mediaType: string,
  example: string,
): OperationSpec {
  return {
    method: 'get',
    path,
    operationId,
    summary,
    description:
      'Cached for good when asked with `?v=<the current hash>` (the shell asks so), else revalidated with its ETag.',
    tags: TAGS,
    security: 'none',
    answers: [
      { ...text(200, 'The asset', mediaType, example), headers: [...HEADERS, 'ETag'] },
      {
        status: 304,
        description: 'Not modified (`If-None-Match` names the current ETag)',
        headers: ['ETag'],
      },
      ...anyRoute(),
    ],
  };
}

export function consoleOperations(): OperationSpec[] {
  return [
    {
      method: 'get',
      path: '/console',
      operationId: 'getConsole',
      summary: 'The web console',
      description:
        'A small web app served by the pipeline itself, with no asset from outside. Sign in with a store key (its endpoints, attempts, subscriptions and datafeeds) or the admin key (runs, queues, reconciliations); the key is kept in `sessionStorage`, never in a URL.',
      tags: TAGS,
      security: 'none',
      answers: [
        text(
          200,
          'The console page (never cached)',
          'text/html',
          '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>commerce-pipeline console</title>\n<script defer src="console/app.js?v=…"></script>\n</head>\n<body>\n<div id="app"></div>\n</body>\n</html>\n',
        ),
        ...anyRoute(),
      ],
    },
    asset(
      '/console/app.js',
      'getConsoleScript',
      "The console's script",
      'text/javascript',
      '"use strict";(()=>{…})();',
    ),
    asset(
      '/console/app.css',
      'getConsoleStylesheet',
      "The console's stylesheet",
      'text/css',
      'body{font-family:system-ui,sans-serif}',
    ),
    asset(
      '/console/favicon.svg',
      'getConsoleIcon',
      "The console's icon",
      'image/svg+xml',
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">…</svg>',
    ),
  ];
}
