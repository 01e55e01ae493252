import { CONSOLE_ASSETS_HASH } from './console-assets.generated';

/**
 * The console's HTML shell (docs/api.md section 3, `GET /console`): no inline script or style, only the bundled
 * script and stylesheet of the same origin. Their URLs are relative, so that the page works wherever the API is
 * mounted (`/console` locally, `/<stage>/console` behind API Gateway's stage path).
 */

/** The policy of every answer under /console: nothing from another origin, nothing inline, no framing, no forms. */
export const CONSOLE_CSP = "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * The prefix of the assets' relative URLs for the page's own path: `console/` from `…/console`, nothing from
 * `…/console/` (the router accepts both).
 */
export function consoleAssetPrefix(requestPath: string): string {
  return requestPath.endsWith('/') ? '' : 'console/';
}

export function consoleHtml(requestPath: string, hash = CONSOLE_ASSETS_HASH): string {
  const prefix = consoleAssetPrefix(requestPath);
  const version = encodeURIComponent(hash);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    '<title>commerce-pipeline console</title>',
    `<link rel="icon" type="image/svg+xml" href="${prefix}favicon.svg?v=${version}">`,
    `<link rel="stylesheet" href="${prefix}app.css?v=${version}">`,
    `<script defer src="${prefix}app.js?v=${version}"></script>`,
    '</head>',
    '<body>',
    '<div id="app"><noscript>The console needs JavaScript.</noscript></div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
