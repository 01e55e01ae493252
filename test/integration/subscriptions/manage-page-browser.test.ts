import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'puppeteer-core';
import { manageLinkKeyring, manageUrl, signManageToken } from '../../../lambdas/billing/domain/manage-link';
import { launchBrowser, watchedPage as newWatchedPage } from '../support/browser';
import { sleep, waitFor } from '../support/wait-for';
import {
  type BillingTestStack,
  mailsTo,
  newStore,
  runBilling,
  startBillingTestStack,
  subscriptionBody,
  type TestStore,
} from './support';

/**
 * The customer's manage page in a real headless Chromium (puppeteer-core with the Chromium that @sparticuz/chromium
 * ships inside its npm package): the link is taken from the actual receipt in the SMTP sink, the forms are
 * submitted as a person would (no JavaScript on the page), and the API tells what they did. One browser for the
 * file.
 */
const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
const INJECTION = '<script>alert(1)</script>"><img src=x onerror=alert(1)>';
let billing: BillingTestStack;
let browser: Browser;
let store: TestStore;

beforeAll(async () => {
  [billing, browser] = await Promise.all([startBillingTestStack(adminKey), launchBrowser()]);
  // Two subscriptions charged by today's run: their receipts carry the links.
  store = await newStore(billing, 'manage');
  for (const [id, plan] of [
    ['sub_manage', 'Coffee Club'],
    ['sub_injection', INJECTION],
  ] as const) {
    const created = await store.client.call(
      'POST',
      '/v1/subscriptions',
      subscriptionBody({ id, plan, customer: { id: `cus_${id}`, email: emailOf(id) } }),
    );
    expect(created.status).toBe(201);
  }
  await runBilling(billing, new Date().toISOString());
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await billing?.stop();
});

function emailOf(subscriptionId: string): string {
  return `${subscriptionId}.${store.id}@example.com`;
}

/** The manage link in the subscription's receipt, once the SMTP sink has it. */
async function linkFromReceipt(subscriptionId: string): Promise<string> {
  const [receipt] = await waitFor(
    async () =>
      mailsTo(billing, emailOf(subscriptionId)).filter((mail) => mail.subject.startsWith('Receipt')),
    (mails) => mails.length > 0,
    { timeoutMs: 30_000, intervalMs: 200, what: `the receipt of ${subscriptionId}` },
  );
  const link = /https?:\/\/\S+\/manage\/\S+/.exec(receipt?.text ?? '')?.[0];
  if (!link) throw new Error(`No manage link in the receipt: ${receipt?.text}`);
  return link;
}

/** A new page that records every request it makes and every dialog (an alert would be one), dismissing them. */
async function watchedPage(): Promise<{ page: Page; requests: string[]; dialogs: string[] }> {
  return newWatchedPage(browser);
}

/** The stack's manage link key (the local stack generated it), to sign tokens the way the API does. */
function stackKeyring(): readonly string[] {
  const value = billing.stack.secrets.value(billing.stack.ref('ManageLinkKeySecret'));
  if (!value) throw new Error('The local stack has no manage link key');
  return manageLinkKeyring(value);
}

const cellOf = (page: Page, label: string) =>
  page.$$eval(
    '#subscription tr',
    (rows, wanted) =>
      rows.find((row) => row.querySelector('th')?.textContent === wanted)?.querySelector('td')?.textContent,
    label,
  );

describe('the manage page in a browser', () => {
  it('opens from the receipt, changes the payment method, cancels, and the API shows it', async () => {
    // Prepare
    const link = await linkFromReceipt('sub_manage');
    expect(link.startsWith(`${billing.stack.apiUrl}/manage/`)).toBe(true);
    const { page, requests, dialogs } = await watchedPage();

    // Act: open the link
    const opened = await page.goto(link);

    // Assess: the subscription, with the strict headers
    expect(opened?.status()).toBe(200);
    const headers = opened?.headers() ?? {};
    expect(headers['content-security-policy']).toContain("default-src 'none'");
    expect(headers['content-security-policy']).toContain("form-action 'self'");
    expect(headers['referrer-policy']).toBe('no-referrer');
    expect(headers['cache-control']).toBe('no-store');
    expect(headers['set-cookie']).toBeUndefined();
    expect(await cellOf(page, 'Plan')).toBe('Coffee Club');
    expect(await cellOf(page, 'Amount')).toBe('$19.99 every month');
    expect(await cellOf(page, 'Status')).toBe('Active');
    expect(await page.$eval('#charges', (table) => table.textContent)).toContain('succeeded');

    // Act: a new payment method, by the form
    await page.type('#paymentMethod', 'pm_card_mastercard');
    await Promise.all([page.waitForNavigation(), page.click('#payment-method-form button[type=submit]')]);

    // Assess
    expect(await page.$eval('.notice', (notice) => notice.textContent)).toBe(
      'Your payment method was updated.',
    );
    const changed = await store.client.call('GET', '/v1/subscriptions/sub_manage');
    expect(changed.body).toMatchObject({ status: 'active', paymentMethod: 'pm_card_mastercard' });

    // Act: cancel, by the form
    const [canceledPage] = await Promise.all([
      page.waitForNavigation(),
      page.click('#cancel-form button[type=submit]'),
    ]);

    // Assess: the page shows it, the API too; nothing left the page's origin, no dialog, no cookie
    expect(canceledPage?.status()).toBe(200);
    expect(await cellOf(page, 'Status')).toBe('Canceled');
    expect(await page.$('#cancel-form')).toBeNull();
    const canceled = await store.client.call('GET', '/v1/subscriptions/sub_manage');
    expect(canceled.body).toMatchObject({ status: 'canceled', cancelReason: 'requested' });
    const origin = new URL(billing.stack.apiUrl).origin;
    expect(requests.length).toBeGreaterThanOrEqual(3);
    expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(dialogs).toEqual([]);
    expect(await browser.cookies()).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows a plan name with markup as text: nothing runs, nothing is injected', async () => {
    const link = await linkFromReceipt('sub_injection');
    const { page, requests, dialogs } = await watchedPage();

    const opened = await page.goto(link);
    await sleep(300);

    expect(opened?.status()).toBe(200);
    expect(await cellOf(page, 'Plan')).toBe(INJECTION);
    expect(await page.$$eval('script, img, iframe, object, embed', (elements) => elements.length)).toBe(0);
    expect(dialogs).toEqual([]);
    const origin = new URL(billing.stack.apiUrl).origin;
    expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows the same 404 page for a tampered and an expired link, and a form posted after expiry changes nothing', async () => {
    const link = await linkFromReceipt('sub_injection');
    const token = decodeURIComponent(link.split('/manage/')[1] ?? '');
    const { page } = await watchedPage();

    // A tampered token: one character of its MAC changed.
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    const tamperedAnswer = await page.goto(manageUrl(billing.stack.apiUrl, tampered));
    expect(tamperedAnswer?.status()).toBe(404);
    const notFoundText = await page.$eval('body', (body) => body.textContent);
    expect(notFoundText).toContain('This link is not valid');
    expect(notFoundText).not.toContain('alert');

    // An expired token, signed with the stack's own key.
    const keyring = stackKeyring();
    const subject = { storeId: store.id, subscriptionId: 'sub_injection' };
    const expired = signManageToken({ ...subject, expiresAt: Date.now() - 60_000 }, keyring);
    const expiredAnswer = await page.goto(manageUrl(billing.stack.apiUrl, expired));
    expect(expiredAnswer?.status()).toBe(404);
    expect(await page.$eval('body', (body) => body.textContent)).toBe(notFoundText);

    // A page opened while its token was valid, whose cancel form is posted after the token expired.
    const expiresAt = (Math.floor(Date.now() / 1000) + 3) * 1000;
    const shortLived = signManageToken({ ...subject, expiresAt }, keyring);
    expect((await page.goto(manageUrl(billing.stack.apiUrl, shortLived)))?.status()).toBe(200);
    await sleep(expiresAt - Date.now() + 500);
    const [late] = await Promise.all([
      page.waitForNavigation(),
      page.click('#cancel-form button[type=submit]'),
    ]);
    expect(late?.status()).toBe(404);
    expect(await page.$eval('body', (body) => body.textContent)).toBe(notFoundText);
    const unchanged = await store.client.call('GET', '/v1/subscriptions/sub_injection');
    expect(unchanged.body).toMatchObject({ status: 'active' });
    await page.close();
  }, 60_000);
});
