import { mkdirSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';

/** Where the browser tests leave the README's screenshots. */
export const SCREENSHOTS = join(__dirname, '..', '..', '..', 'docs', 'screenshots');

/** A screenshot into docs/screenshots, from the top of the page, tables scrolled back to their first column. */
export async function screenshot(
  page: Page,
  name: string,
  options: { fullPage?: boolean } = {},
): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, name);
  await page.evaluate(
    "window.scrollTo(0, 0); document.activeElement?.blur(); for (const wrap of document.querySelectorAll('.table-wrap')) wrap.scrollLeft = 0;",
  );
  await page.screenshot({ path, fullPage: options.fullPage ?? false });
  return path;
}

/** Opens the console at `url`, signs in with `key` as a person would (typing, Enter), and waits for the outcome. */
export async function signIn(page: Page, url: string, key: string): Promise<void> {
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('#api-key');
  await page.type('#api-key', key);
  await page.keyboard.press('Enter');
  // Strings, not functions: they run in the page, and the root tsconfig has no DOM types.
  await page.waitForFunction(
    "document.querySelector('#store-view, #admin-view') !== null || document.querySelector('#sign-in-message')?.hidden === false",
    { timeout: 15_000 },
  );
}

/** Waits until the element's text contains `text`. */
export async function waitForText(
  page: Page,
  selector: string,
  text: string,
  timeoutMs = 15_000,
): Promise<void> {
  await page.waitForFunction(
    `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? '').includes(${JSON.stringify(text)})`,
    { timeout: timeoutMs },
  );
}

/** What the page keeps in its session and local storage. */
export async function storageOf(page: Page): Promise<{ session: string; local: string; localCount: number }> {
  return page.evaluate(
    '({ session: JSON.stringify({ ...sessionStorage }), local: JSON.stringify({ ...localStorage }), localCount: localStorage.length })',
  ) as Promise<{ session: string; local: string; localCount: number }>;
}

/** A value of the page's window, by name. */
export function windowValue(page: Page, name: string): Promise<unknown> {
  return page.evaluate(`window[${JSON.stringify(name)}]`);
}

/** The text of the first element matching `selector`, or undefined. */
export function textOf(page: Page, selector: string): Promise<string | undefined> {
  return page.$eval(selector, (element) => element.textContent ?? '').catch(() => undefined);
}

/**
 * API Gateway's stage path in miniature: serves `/prod/*` by forwarding to the API with `/prod` taken off, and
 * answers 404 to anything else, so that a request that forgot the base path fails.
 */
export async function startBasePathProxy(
  apiUrl: string,
  stage = 'prod',
): Promise<{ url: string; stop(): Promise<void> }> {
  const target = new URL(apiUrl);
  const prefix = `/${stage}`;
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path !== prefix && !path.startsWith(`${prefix}/`)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
      return;
    }
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: path.slice(prefix.length) || '/',
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/${stage}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
