import { randomBytes } from 'node:crypto';
import type { Browser } from 'puppeteer-core';
import {
  foreignRequests,
  LAPTOP,
  launchBrowser,
  PHONE,
  type WatchedPage,
  watchedPage,
} from '../support/browser';
import { pipelineClient, transaction } from '../support/pipeline-client';
import { startWebhookTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';
import { WebhookReceiver } from '../support/webhook-receiver';
import {
  screenshot,
  signIn,
  startBasePathProxy,
  storageOf,
  textOf,
  waitForText,
  windowValue,
} from './support';

/**
 * The store's side of the web console (docs/api.md section 3, `GET /console`) in a real headless Chromium on the
 * local stack: signing in with a store key, a failed attempt whose body is an injection attempt shown as text, the
 * test and rotate actions, a wrong key, the admin routes closed to a store key, no request leaving the origin, the
 * stage base path, and a phone's screen. One browser and one stack for the file.
 */
const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
const INJECTION = `<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">`;

let stack: TestStack;
let browser: Browser;
let failing: WebhookReceiver;
let healthy: WebhookReceiver;
let storeKey: string;
let store: ReturnType<typeof pipelineClient>;
let failingEndpoint: string;
let healthyEndpoint: string;
let consoleUrl: string;
const pages: WatchedPage[] = [];

async function openPage(viewport: { width: number; height: number } = LAPTOP): Promise<WatchedPage> {
  const watched = await watchedPage(browser, viewport);
  pages.push(watched);
  return watched;
}

beforeAll(async () => {
  [stack, browser, failing, healthy] = await Promise.all([
    startWebhookTestStack(adminKey),
    launchBrowser(),
    WebhookReceiver.start(),
    WebhookReceiver.start(),
  ]);
  consoleUrl = `${stack.apiUrl}/console`;
  failing.behavior = () => ({ status: 500, headers: { 'content-type': 'text/html' }, body: INJECTION });
  const admin = pipelineClient(stack.apiUrl, adminKey);
  const created = await admin.call('POST', '/v1/admin/stores', { id: 'console-shop', name: 'Console shop' });
  expect(created.status).toBe(201);
  storeKey = created.body.apiKey;
  store = pipelineClient(stack.apiUrl, storeKey);
  for (const receiver of [failing, healthy]) {
    const endpoint = await store.call('POST', '/v1/webhooks', {
      url: receiver.url,
      events: ['*'],
      description: receiver === failing ? 'Legacy ERP (failing)' : 'Fulfilment',
    });
    expect(endpoint.status).toBe(201);
    receiver.secrets = [endpoint.body.secret];
    if (receiver === failing) failingEndpoint = endpoint.body.id;
    else healthyEndpoint = endpoint.body.id;
  }
  const subscription = await store.call('POST', '/v1/subscriptions', {
    id: 'sub_console',
    customer: { id: 'cus_console', email: 'ada@example.com' },
    plan: 'Coffee Club',
    amount: 1999,
    currency: 'usd',
    interval: 'month',
    paymentMethod: 'pm_card_visa',
    startAt: new Date(Date.now() + 86_400_000).toISOString(),
  });
  expect(subscription.status).toBe(201);
  expect((await store.call('POST', '/v1/transactions', transaction())).status).toBe(202);
  // The failed attempt, with the receiver's body, is in the log before the browser looks.
  await waitFor(
    () => store.call('GET', `/v1/webhooks/${failingEndpoint}/attempts?status=failed`),
    (answer) => answer.status === 200 && answer.body.data.length > 0,
    { timeoutMs: 20_000, intervalMs: 200, what: 'the failed attempt' },
  );
  await healthy.waitFor((receiver) => receiver.received.length > 0);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([failing?.stop(), healthy?.stop()]);
  await stack?.stop();
});

describe('the console with a store key', () => {
  it('says clearly that a wrong key was not accepted, and shows nothing', async () => {
    const { page } = await openPage();

    await signIn(page, consoleUrl, 'sk_not_a_real_key');

    expect(await textOf(page, '#sign-in-message')).toContain('This key was not accepted');
    expect(await page.$('#store-view, #admin-view, table')).toBeNull();
    expect(await storageOf(page)).toEqual({ session: '{}', local: '{}', localCount: 0 });
    await page.close();
  }, 30_000);

  it('goes back to sign-in when the API stops accepting the key, and signing out forgets it', async () => {
    const { page } = await openPage();
    await signIn(page, consoleUrl, storeKey);
    await page.waitForSelector('#endpoints-table');

    // Signing out: the key is gone from the tab.
    await page.click('#sign-out');
    await page.waitForSelector('#api-key');
    expect(await storageOf(page)).toEqual({ session: '{}', local: '{}', localCount: 0 });

    // A session whose key the API no longer accepts (revoked, say): the first call's 401 signs the tab out.
    await page.evaluate(
      `sessionStorage.setItem('commerce-pipeline.console.session', JSON.stringify({ key: 'sk_revoked', kind: 'store' }))`,
    );
    await page.reload();
    await waitForText(page, '#sign-in-message', 'You were signed out');
    expect(await page.$('#store-view')).toBeNull();
    expect(await storageOf(page)).toEqual({ session: '{}', local: '{}', localCount: 0 });
    await page.close();
  }, 30_000);

  it('shows the failed attempt with the receiver body as text: nothing of it runs or becomes an element', async () => {
    const { page, dialogs, errors } = await openPage();

    await signIn(page, consoleUrl, storeKey);
    await page.waitForSelector('#endpoints-table');
    const listed = await textOf(page, '#endpoints-table');
    await page.click(`button[aria-label="Attempts and actions of ${failing.url}"]`);
    await page.waitForSelector('#attempts-table pre.response-body');

    expect(listed).toContain(failing.url);
    expect(listed).toContain(healthy.url);
    expect(listed).toContain('Legacy ERP (failing)');
    expect(await textOf(page, '#signed-in-as')).toBe('Store');
    const bodies = await page.$$eval('#attempts-table pre.response-body', (pres) =>
      pres.map((pre) => pre.textContent),
    );
    expect(bodies).toContain(INJECTION);
    expect(await textOf(page, '#attempts-table')).toContain('HTTP 500');
    expect(await page.$$eval('#attempts-table pre.response-body *', (children) => children.length)).toBe(0);
    expect(await page.$$eval('img, iframe, object, embed', (elements) => elements.length)).toBe(0);
    expect(
      await page.$$eval('script', (scripts) => scripts.map((script) => script.getAttribute('src'))),
    ).toEqual([expect.stringMatching(/^console\/app\.js\?v=/)]);
    expect(await windowValue(page, '__pwned')).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    // The key is in this tab's session storage only: not in the URL, not in local storage, no cookie.
    expect(page.url()).not.toContain(storeKey);
    const storage = await storageOf(page);
    expect(storage.localCount).toBe(0);
    expect(storage.session).toContain(storeKey);
    expect(await browser.cookies()).toEqual([]);
    await screenshot(page, 'console-store.png', { fullPage: true });

    // Resend the failed event, and recover the endpoint's window: both accepted, each says what it did.
    const resends = failing.received.length;
    await page.click('#attempts-table button[aria-label^="Resend event"]');
    await waitForText(page, '#status', 'is being delivered again');
    await failing.waitFor((receiver) => receiver.received.length > resends);
    const since = new Date(Date.now() - 3_600_000);
    const local = new Date(since.getTime() - since.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.evaluate(`document.querySelector('#recover-since').value = ${JSON.stringify(local)}`);
    await page.click('#recover-submit');
    await waitForText(page, '#status', 'Recovery rcv_');
    await page.close();
  }, 60_000);

  it('sends a test event the receiver verifies, and shows a rotated secret once', async () => {
    const { page } = await openPage();
    await signIn(page, consoleUrl, storeKey);
    await page.waitForSelector('#endpoints-table');
    await page.click(`button[aria-label="Attempts and actions of ${healthy.url}"]`);
    await page.waitForSelector('#action-test');

    // Test
    await page.click('#action-test');
    await healthy.waitFor((receiver) =>
      receiver.received.some((webhook) => webhook.body.type === 'webhook.test'),
    );
    const test = healthy.received.find((webhook) => webhook.body.type === 'webhook.test');
    expect(test?.verified).toBe(true);
    expect(test?.body.data).toEqual({ endpointId: healthyEndpoint });
    await waitForText(page, '#status', 'Test event');
    await waitForText(page, '#attempts-table', test?.webhookId ?? '');

    // Rotate: the new secret once, gone when dismissed, kept nowhere
    await page.click('#action-rotate');
    await page.waitForSelector('#new-secret');
    const secret = (await textOf(page, '#new-secret')) ?? '';
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(healthy.secrets[0]);
    await page.click('#new-secret-box button');
    expect(await page.$('#new-secret')).toBeNull();
    expect(JSON.stringify(await storageOf(page))).not.toContain(secret);
    // Both sign for 24 h, and a delivery worker may still hold the endpoint from before the rotation.
    healthy.secrets = [healthy.secrets[0] ?? '', secret];
    await page.click('#action-test');
    await healthy.waitFor(
      (receiver) => receiver.received.filter((webhook) => webhook.body.type === 'webhook.test').length === 2,
    );
    expect(healthy.received.filter((webhook) => webhook.body.type === 'webhook.test').at(-1)?.verified).toBe(
      true,
    );
    await page.close();
  }, 60_000);

  it("lists the store's subscriptions", async () => {
    const { page } = await openPage();
    await signIn(page, consoleUrl, storeKey);
    await page.click('#tab-subscriptions');
    await page.waitForSelector('#subscriptions-table');

    const table = await textOf(page, '#subscriptions-table');
    expect(table).toContain('sub_console');
    expect(table).toContain('ada@example.com');
    expect(table).toContain('$19.99 every month');
    await page.close();
  }, 30_000);

  it('never shows the admin view to a store key: the admin routes answer 401 to it', async () => {
    const { page } = await openPage();
    await signIn(page, consoleUrl, storeKey);

    const statuses = await page.evaluate(async (key) => {
      const answers = [];
      for (const route of [
        'v1/admin/subscription-runs?days=30',
        'v1/admin/queues',
        'v1/admin/reconciliations',
      ]) {
        answers.push((await fetch(route, { headers: { authorization: `Bearer ${key}` } })).status);
      }
      return answers;
    }, storeKey);

    expect(statuses).toEqual([401, 401, 401]);
    expect(await page.$('#store-view')).not.toBeNull();
    expect(await page.$('#admin-view, #runs, #queues')).toBeNull();
    await page.close();
  }, 30_000);

  it('works behind a stage base path (/prod/console), calling the API under it', async () => {
    const proxy = await startBasePathProxy(stack.apiUrl);
    try {
      for (const path of ['/console', '/console/']) {
        const { page, requests } = await openPage();
        await signIn(page, `${proxy.url}${path}`, storeKey);
        await page.waitForSelector('#endpoints-table');

        expect(await textOf(page, '#endpoints-table')).toContain(healthy.url);
        const paths = requests.map((url) => new URL(url).pathname);
        expect(paths.filter((pathname) => !pathname.startsWith('/prod/'))).toEqual([]);
        expect(paths).toEqual(expect.arrayContaining(['/prod/console/app.js', '/prod/v1/webhooks']));
        await page.close();
      }
    } finally {
      await proxy.stop();
    }
  }, 45_000);

  it("fits a phone's screen without sideways scrolling of the page", async () => {
    const { page } = await openPage(PHONE);
    await signIn(page, consoleUrl, storeKey);
    await page.waitForSelector('#endpoints-table');
    await page.click(`button[aria-label="Attempts and actions of ${failing.url}"]`);
    await page.waitForSelector('#attempts-table');

    const { scrollWidth, innerWidth } = (await page.evaluate(
      '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
    )) as { scrollWidth: number; innerWidth: number };

    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
    await screenshot(page, 'console-phone.png');
    await page.close();
  }, 30_000);

  it('names every control, and is usable from the keyboard alone', async () => {
    const { page } = await openPage();
    await signIn(page, consoleUrl, storeKey);
    await page.waitForSelector('#endpoints-table');

    // Every control has a name a screen reader reads: a <label>, aria-label(ledby) or its own text.
    const unnamed =
      await page.evaluate(`[...document.querySelectorAll('input, select, textarea, button, a[href]')]
      .filter((control) => !(control.labels?.length > 0 || control.getAttribute('aria-label')
        || control.getAttribute('aria-labelledby') || control.textContent.trim()))
      .map((control) => control.outerHTML)`);
    expect(unnamed).toEqual([]);

    // Tab to the failing endpoint's button and open it with Enter, then Tab to "Send test event" and press it.
    const tabTo = async (predicate: string, most = 80) => {
      for (let presses = 0; presses < most; presses += 1) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(`(() => { const el = document.activeElement; return ${predicate}; })()`))
          return;
      }
      throw new Error(`No control matching ${predicate} within ${most} Tab presses`);
    };
    await tabTo(
      `el?.getAttribute('aria-label') === ${JSON.stringify(`Attempts and actions of ${failing.url}`)}`,
    );
    await page.keyboard.press('Enter');
    await page.waitForSelector('#attempts-table');
    const before = failing.received.length;
    await tabTo(`el?.textContent === 'Send test event'`);
    // The focused control is visibly marked.
    expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
    await page.keyboard.press('Enter');
    await failing.waitFor((receiver) => receiver.received.length > before);
    await page.close();
  }, 45_000);

  it('made no request to any other origin', () => {
    const origins = new Set(pages.flatMap(({ requests }) => requests.map((url) => new URL(url).origin)));
    const apiOrigin = new URL(stack.apiUrl).origin;
    expect(pages.reduce((sum, { requests }) => sum + requests.length, 0)).toBeGreaterThan(20);
    // The API's own origin, and the base-path proxy's (also loopback, a page of its own).
    for (const { requests } of pages) {
      const pageOrigin = new URL(requests[0] ?? stack.apiUrl).origin;
      expect(foreignRequests(requests, pageOrigin)).toEqual([]);
    }
    expect(origins.has(apiOrigin)).toBe(true);
  });
});
