import chromium from '@sparticuz/chromium';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/**
 * A real headless Chromium for the browser tests: puppeteer-core with the Chromium that @sparticuz/chromium ships
 * inside its npm package (no download at test time). Launch one per test file and share it.
 */
export async function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: await chromium.executablePath(),
    args: [...chromium.args, '--no-sandbox'],
    headless: true,
  });
}

/** A page and what it did: every request's URL, every dialog (dismissed; an `alert` would be one), page errors. */
export interface WatchedPage {
  readonly page: Page;
  readonly requests: string[];
  readonly dialogs: string[];
  readonly errors: string[];
}

/** A new page that records every request it makes and every dialog, dismissing them. */
export async function watchedPage(
  browser: Browser,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<WatchedPage> {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  const requests: string[] = [];
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => errors.push(error instanceof Error ? error.message : String(error)));
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  return { page, requests, dialogs, errors };
}

/**
 * The requests that went to another origin than `origin`. `data:` URLs are left out: they carry their bytes and
 * reach no server (Chromium's own stylesheet draws the calendar icon of `<input type=datetime-local>` with one,
 * which no page CSP governs; a page's own `data:` image would be refused by `default-src 'self'`). A `blob:` URL
 * counts as foreign unless it is of `origin`.
 */
export function foreignRequests(requests: readonly string[], origin: string): string[] {
  return requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
}

/** Laptop and phone viewports of the console tests and screenshots. */
export const LAPTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 390, height: 844 } as const;
