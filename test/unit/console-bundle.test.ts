import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  CONSOLE_ASSETS_HASH,
  CONSOLE_CSS,
  CONSOLE_FAVICON_SVG,
  CONSOLE_JS,
} from '../../lambdas/api/console/console-assets.generated';
import { CONSOLE_CSP, consoleHtml } from '../../lambdas/api/console/console-page';
import { apiEvent } from './support/api-events';
import { webhookApi } from './support/in-memory-api';

/**
 * The web console as the API function serves it (docs/api.md section 3, `GET /console`): the checked-in bundle is
 * the one console/src builds, it is small, it loads nothing from elsewhere, and its pages carry the strict headers.
 */
const REPO_ROOT = join(__dirname, '..', '..');
const KIB = 1024;
/** The bound is 300 KB; the console stays well under it. */
const PAYLOAD_LIMIT_BYTES = 150 * KIB;

describe('the console bundle', () => {
  it('is what console/src builds (otherwise run `npm run build:console`)', () => {
    const check = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-console.mjs'), '--check'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    if (check.status !== 0) {
      throw new Error(
        `lambdas/api/console/console-assets.generated.ts is stale: run \`npm run build:console\`.\n${check.stderr}`,
      );
    }
  }, 60_000);

  it('is well under 300 KB in all (html, js, css and icon)', () => {
    const bytes = [consoleHtml('/console'), CONSOLE_JS, CONSOLE_CSS, CONSOLE_FAVICON_SVG].reduce(
      (sum, part) => sum + Buffer.byteLength(part),
      0,
    );
    expect(bytes).toBeLessThan(PAYLOAD_LIMIT_BYTES);
  });

  it('names no other origin and never writes HTML from strings', () => {
    // The only absolute URL is the SVG namespace, which is a name, never fetched.
    const urls = [
      ...`${CONSOLE_JS}\n${CONSOLE_CSS}`.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi),
    ].map((match) => match[0]);
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org']));
    for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(']) {
      expect(CONSOLE_JS).not.toContain(sink);
    }
    expect(CONSOLE_CSS).not.toMatch(/@import|url\(/);
    expect(CONSOLE_JS).not.toMatch(/localStorage|document\.cookie/);
  });
});

describe('GET /console', () => {
  async function get(path: string, headers: Record<string, string> = {}, query?: string) {
    const { api } = await webhookApi();
    const result = await api(apiEvent('GET', path, { headers, ...(query ? { query } : {}) }), {
      adminApiKey: 'admin',
    });
    return {
      status: result.statusCode,
      headers: (result.headers ?? {}) as Record<string, string>,
      body: result.body ?? '',
    };
  }

  it('serves the shell without a key, with the strict headers and no inline script or style', async () => {
    const page = await get('/console');

    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    );
    expect(page.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).not.toMatch(/<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=/i);
  });

  it('refers to its assets relatively, from /console and from /console/', async () => {
    const bare = await get('/console');
    const slashed = await get('/console/');

    expect(bare.body).toContain(`src="console/app.js?v=${CONSOLE_ASSETS_HASH}"`);
    expect(bare.body).toContain(`href="console/app.css?v=${CONSOLE_ASSETS_HASH}"`);
    expect(bare.body).toContain('href="console/favicon.svg');
    expect(slashed.status).toBe(200);
    expect(slashed.body).toContain(`src="app.js?v=${CONSOLE_ASSETS_HASH}"`);
    expect(slashed.body).toContain(`href="app.css?v=${CONSOLE_ASSETS_HASH}"`);
    for (const body of [bare.body, slashed.body]) expect(body).not.toMatch(/(src|href)="\//);
  });

  it.each([
    ['/console/app.js', 'text/javascript; charset=utf-8', CONSOLE_JS],
    ['/console/app.css', 'text/css; charset=utf-8', CONSOLE_CSS],
    ['/console/favicon.svg', 'image/svg+xml', CONSOLE_FAVICON_SVG],
  ])('serves %s, cached for good under its hash and revalidated by ETag', async (path, type, body) => {
    const current = await get(path, {}, `v=${CONSOLE_ASSETS_HASH}`);
    const other = await get(path, {}, 'v=old');
    const revalidated = await get(path, { 'if-none-match': `"${CONSOLE_ASSETS_HASH}"` });

    expect(current.status).toBe(200);
    expect(current.headers['content-type']).toBe(type);
    expect(current.body).toBe(body);
    expect(current.headers.etag).toBe(`"${CONSOLE_ASSETS_HASH}"`);
    expect(current.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(current.headers['x-content-type-options']).toBe('nosniff');
    expect(other.headers['cache-control']).toBe('no-cache');
    expect(revalidated.status).toBe(304);
    expect(revalidated.body).toBe('');
  });
});
