import { createApi } from '../../lambdas/api/create-api';
import {
  issueManageToken,
  manageLinkKeyring,
  manageUrl,
  signManageToken,
  verifyManageToken,
} from '../../lambdas/billing/domain/manage-link';
import { notificationOf } from '../../lambdas/notifications/domain/notification';
import { renderEmail } from '../../lambdas/notifications/domain/render-email';
import { apiEvent } from './support/api-events';
import { ADMIN_KEY, acme, json, other, webhookApi } from './support/in-memory-api';
import { chargedData, messageOf, paymentFailedData, subscriptionEvent } from './support/notification-fakes';

const KEY = 'manage-link-test-key-0123456789abcdef';
const OLD_KEY = 'manage-link-old-key-fedcba9876543210';
const NOW = Date.parse('2024-06-01T12:00:00.000Z');
const DAY = 86_400_000;
const claims = { storeId: 'acme', subscriptionId: 'sub_1', expiresAt: NOW + DAY };

describe('manage link tokens', () => {
  it('verify when signed with a key of the keyring, until they expire', () => {
    const token = signManageToken(claims, [KEY]);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(verifyManageToken(token, [KEY], NOW)).toEqual({ valid: true, claims });
    expect(verifyManageToken(token, [KEY], NOW + DAY - 1).valid).toBe(true);
    expect(verifyManageToken(token, [KEY], NOW + DAY)).toEqual({ valid: false, reason: 'expired' });
  });

  it('refuse a changed payload, a changed MAC, another key, another version and garbage', () => {
    const token = signManageToken(claims, [KEY]);
    const [version, payload, mac] = token.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ s: 'acme', u: 'sub_2', x: 9_999_999_999 })).toString(
      'base64url',
    );
    const flip = (text: string) => `${text.slice(0, -2)}${text.at(-2) === 'A' ? 'B' : 'A'}${text.at(-1)}`;
    expect(verifyManageToken(`${version}.${forged}.${mac}`, [KEY], NOW).valid).toBe(false);
    expect(verifyManageToken(`${version}.${payload}.${flip(mac)}`, [KEY], NOW).valid).toBe(false);
    // The last character of a 32-byte MAC in base64url holds 2 bits a decoder drops: each other spelling of the
    // same MAC is refused too, so a link changed anywhere does not open.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const last of alphabet) {
      if (last === mac.at(-1)) continue;
      expect(verifyManageToken(`${version}.${payload}.${mac.slice(0, -1)}${last}`, [KEY], NOW).valid).toBe(
        false,
      );
    }
    expect(verifyManageToken(token, [OLD_KEY], NOW)).toEqual({ valid: false, reason: 'signature' });
    expect(verifyManageToken(`v2.${payload}.${mac}`, [KEY], NOW)).toEqual({
      valid: false,
      reason: 'malformed',
    });
    for (const garbage of ['', 'v1', 'v1..', 'v1.a.b.c', 'v1.!!.??', 'x'.repeat(5000)]) {
      expect(verifyManageToken(garbage, [KEY], NOW).valid).toBe(false);
    }
  });

  it('survive a key rotation: the first key signs, every key of the keyring verifies', () => {
    const old = signManageToken(claims, [OLD_KEY]);
    const keyring = manageLinkKeyring(`${KEY} ${OLD_KEY}`);
    expect(keyring).toEqual([KEY, OLD_KEY]);
    expect(verifyManageToken(old, keyring, NOW).valid).toBe(true);
    const fresh = signManageToken(claims, keyring);
    expect(verifyManageToken(fresh, [KEY], NOW).valid).toBe(true);
    expect(verifyManageToken(fresh, [OLD_KEY], NOW).valid).toBe(false);
    expect(() => manageLinkKeyring('  ')).toThrow('empty');
    expect(() => manageLinkKeyring('short')).toThrow('at least 16');
  });

  it('expire MANAGE_LINK_TTL after they are issued, and make a URL under /manage', () => {
    const { token, expiresAt } = issueManageToken(
      { storeId: 'acme', subscriptionId: 'sub_1' },
      { now: NOW + 123, ttlMs: 30 * DAY, keyring: [KEY] },
    );
    expect(expiresAt).toBe(NOW + 30 * DAY);
    expect(manageUrl('https://api.example.com/', token)).toBe(`https://api.example.com/manage/${token}`);
  });
});

/** The API over in-memory ports with manage links on, calling it as API Gateway would and reading text back. */
async function manageApi() {
  const world = await webhookApi({ now: NOW });
  const deps = { ...world.deps, manageLinks: { baseUrl: 'https://api.example.com', ttlMs: 30 * DAY } };
  const api = createApi(deps, { info() {}, warn() {}, error() {} });
  const call = async (...args: Parameters<typeof apiEvent>) => {
    const result = await api(apiEvent(...args), { adminApiKey: ADMIN_KEY, manageLinkKey: KEY });
    return {
      status: result.statusCode ?? 0,
      headers: (result.headers ?? {}) as Record<string, string>,
      text: typeof result.body === 'string' ? result.body : '',
    };
  };
  const form = (fields: Record<string, string>) => ({
    body: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const subscribe = async (overrides: Record<string, unknown> = {}) => {
    const created = await world.call(
      'POST',
      '/v1/subscriptions',
      json({
        id: 'sub_1',
        customer: { id: 'cus_1', email: 'c@example.com' },
        plan: 'coffee',
        amount: 1999,
        currency: 'USD',
        interval: 'month',
        paymentMethod: 'pm_card_visa',
        ...overrides,
      }),
    );
    expect(created.status).toBe(201);
    const link = await call('POST', '/v1/subscriptions/sub_1/manage-link', { headers: acme });
    expect(link.status).toBe(201);
    const { url } = JSON.parse(link.text) as { url: string };
    return { token: url.split('/').at(-1) ?? '', path: new URL(url).pathname };
  };
  return { ...world, call, form, subscribe, subscriptions: world.deps.billing.subscriptions };
}

describe('POST /v1/subscriptions/{id}/manage-link', () => {
  it('answers 201 with a link valid MANAGE_LINK_TTL, for the store’s own subscriptions only', async () => {
    const t = await manageApi();
    await t.subscribe();
    const link = await t.call('POST', '/v1/subscriptions/sub_1/manage-link', { headers: acme });
    expect(link.status).toBe(201);
    expect(JSON.parse(link.text)).toEqual({
      url: expect.stringMatching(/^https:\/\/api\.example\.com\/manage\/v1\.[\w-]+\.[\w-]+$/),
      expiresAt: '2024-07-01T12:00:00.000Z',
    });
    expect((await t.call('POST', '/v1/subscriptions/sub_1/manage-link', { headers: other })).status).toBe(
      404,
    );
    expect((await t.call('POST', '/v1/subscriptions/nope/manage-link', { headers: acme })).status).toBe(404);
    expect((await t.call('POST', '/v1/subscriptions/sub_1/manage-link')).status).toBe(401);
    const extra = await t.call('POST', '/v1/subscriptions/sub_1/manage-link', json({ ttl: 5 }));
    expect(extra.status).toBe(400);
  });
});

describe('the manage page', () => {
  it('shows plan, amount, status and next charge, with strict headers and no cookie', async () => {
    const t = await manageApi();
    const { path } = await t.subscribe();
    const page = await t.call('GET', path);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(
      /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/,
    );
    expect(page.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    expect(Object.keys(page.headers)).not.toContain('set-cookie');
    expect(page.text).toContain('<td>coffee</td>');
    expect(page.text).toContain('$19.99 every month');
    expect(page.text).toContain('<td>Active</td>');
    expect(page.text).toContain('June 1, 2024');
    expect(page.text).not.toContain('<script');
  });

  it('shows the same 404 page for a tampered, expired or unknown token, and for another subscription', async () => {
    const t = await manageApi();
    const { token, path } = await t.subscribe();
    const expired = signManageToken({ storeId: 'acme', subscriptionId: 'sub_1', expiresAt: NOW - 1000 }, [
      KEY,
    ]);
    const unknown = signManageToken({ storeId: 'acme', subscriptionId: 'nope', expiresAt: NOW + DAY }, [KEY]);
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    const pages = [];
    for (const bad of [tampered, expired, unknown, 'nonsense']) {
      const page = await t.call('GET', `/manage/${bad}`);
      expect(page.status).toBe(404);
      expect(page.headers['cache-control']).toBe('no-store');
      pages.push(page.text);
    }
    expect(new Set(pages).size).toBe(1);
    expect(pages[0]).not.toContain('coffee');
    expect((await t.call('GET', path)).status).toBe(200);
  });

  it('escapes every value: a plan name is text', async () => {
    const t = await manageApi();
    const { path } = await t.subscribe({ plan: '<script>alert(1)</script>"><img src=x onerror=alert(1)>' });
    const page = await t.call('GET', path);
    expect(page.text).not.toContain('<script>');
    expect(page.text).not.toContain('<img');
    expect(page.text).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;',
    );
  });

  it('cancels by the form, once: a second post shows the canceled subscription', async () => {
    const t = await manageApi();
    const { token } = await t.subscribe();
    const first = await t.call('POST', '/manage/actions/cancel', t.form({ token }));
    expect(first.status).toBe(200);
    expect(first.text).toContain('Your subscription is canceled');
    expect(first.text).toContain('<td>Canceled</td>');
    const canceled = await t.subscriptions.get('acme', 'sub_1');
    expect(canceled).toMatchObject({ status: 'canceled', cancelReason: 'requested' });
    const second = await t.call('POST', '/manage/actions/cancel', t.form({ token }));
    expect(second.status).toBe(200);
    expect(second.text).toContain('<td>Canceled</td>');
    expect(await t.subscriptions.get('acme', 'sub_1')).toEqual(canceled);
    expect(second.text).not.toContain('cancel-form');
  });

  it('changes the payment method by the form, once, with the API’s rule', async () => {
    const t = await manageApi();
    const { token } = await t.subscribe();
    const changed = await t.call(
      'POST',
      '/manage/actions/payment-method',
      t.form({ token, paymentMethod: 'pm_new' }),
    );
    expect(changed.status).toBe(200);
    expect(changed.text).toContain('Your payment method was updated.');
    const after = await t.subscriptions.get('acme', 'sub_1');
    expect(after?.paymentMethod).toBe('pm_new');
    const again = await t.call(
      'POST',
      '/manage/actions/payment-method',
      t.form({ token, paymentMethod: 'pm_new' }),
    );
    expect(again.status).toBe(200);
    expect(again.text).toContain('nothing changed');
    expect(await t.subscriptions.get('acme', 'sub_1')).toEqual(after);

    const invalid = await t.call(
      'POST',
      '/manage/actions/payment-method',
      t.form({ token, paymentMethod: 'pm with spaces' }),
    );
    expect(invalid.status).toBe(400);
    expect(invalid.text).toContain('Nothing changed');
    expect((await t.subscriptions.get('acme', 'sub_1'))?.paymentMethod).toBe('pm_new');

    await t.call('POST', '/manage/actions/cancel', t.form({ token }));
    const late = await t.call(
      'POST',
      '/manage/actions/payment-method',
      t.form({ token, paymentMethod: 'pm_other' }),
    );
    expect(late.status).toBe(409);
    expect(late.text).toContain('canceled');
  });

  it('changes nothing for a form with an expired, tampered or missing token: the 404 page', async () => {
    const t = await manageApi();
    const { token } = await t.subscribe();
    const expired = signManageToken({ storeId: 'acme', subscriptionId: 'sub_1', expiresAt: NOW }, [KEY]);
    const before = await t.subscriptions.get('acme', 'sub_1');
    const bodies: Record<string, string>[] = [{ token: expired }, { token: `${token}x` }, {}];
    for (const fields of bodies) {
      const cancel = await t.call('POST', '/manage/actions/cancel', t.form(fields));
      expect(cancel.status).toBe(404);
      const change = await t.call(
        'POST',
        '/manage/actions/payment-method',
        t.form({ ...fields, paymentMethod: 'pm_x' }),
      );
      expect(change.status).toBe(404);
    }
    expect(await t.subscriptions.get('acme', 'sub_1')).toEqual(before);
  });

  it('answers a wrong method with 405 and Allow, and bad bodies with 400, 413 or 415, as HTML', async () => {
    const t = await manageApi();
    const { token, path } = await t.subscribe();
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const answer = await t.call(method, '/manage/actions/cancel', t.form({ token }));
      expect([answer.status, answer.headers.allow, answer.headers['content-type']]).toEqual([
        405,
        'POST',
        'text/html; charset=utf-8',
      ]);
    }
    const posted = await t.call('POST', path, t.form({ token }));
    expect([posted.status, posted.headers.allow]).toEqual([405, 'GET']);

    const big = await t.call('POST', '/manage/actions/cancel', t.form({ token, pad: 'x'.repeat(10_000) }));
    expect(big.status).toBe(413);
    const broken = await t.call('POST', '/manage/actions/cancel', {
      body: `token=${token}&x=%zz`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(broken.status).toBe(400);
    const twice = await t.call('POST', '/manage/actions/cancel', {
      body: `token=${token}&token=${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(twice.status).toBe(400);
    const asJson = await t.call('POST', '/manage/actions/cancel', json({ token }));
    expect(asJson.status).toBe(415);
    for (const answer of [big, broken, twice, asJson]) {
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    }
    expect((await t.subscriptions.get('acme', 'sub_1'))?.status).toBe('active');
  });
});

describe('emails carry the manage link', () => {
  const FROM = 'billing@shop.example.com';
  const URL = 'https://api.example.com/manage/v1.abc.def';
  const render = (type: Parameters<typeof subscriptionEvent>[0], data: unknown, manageUrl?: string) =>
    renderEmail(notificationOf(messageOf(subscriptionEvent(type, data))), { from: FROM, manageUrl });

  it('a receipt links to the manage page', () => {
    const email = render('subscription.charged', chargedData(), URL);
    expect(email.text).toContain(`Manage your subscription (payment method, cancel):\n${URL}`);
    expect(email.html).toContain(`<a href="${URL}">`);
    expect(render('subscription.charged', chargedData()).text).not.toContain('/manage/');
  });

  it('a soft decline says when it is tried again, with the link', () => {
    const email = render('subscription.payment_failed', paymentFailedData(), URL);
    expect(email.subject).toBe('Payment failed for your Pro subscription');
    expect(email.text).toContain('We will try again on June 2, 2024.');
    expect(email.text).toContain(URL);
    expect(email.text).not.toContain('will not be tried again');
  });

  it('a hard decline asks for a new payment method, with the link, and promises no retry', () => {
    const email = render(
      'subscription.payment_failed',
      paymentFailedData({
        dunning: {
          attempt: 1,
          nextRetryAt: '2024-06-17T00:00:00.000Z',
          declineCode: 'stolen_card',
          waitingForPaymentMethod: true,
        },
      }),
      URL,
    );
    expect(email.subject).toContain('update your payment method');
    expect(email.text).toContain('This payment method will not be tried again.');
    expect(email.text).toContain(`Update your payment method:\n${URL}`);
    expect(email.text).not.toContain('We will try again');
    expect(email.text).toMatch(/Update before: +June 17, 2024/);
  });

  it('the last step says the final action was applied', () => {
    const email = render(
      'subscription.payment_failed',
      paymentFailedData({ dunning: null, finalAction: 'cancel' }),
      URL,
    );
    expect(email.text).toContain('This was our last attempt, so your subscription has been canceled.');
    expect(email.text).not.toContain('We will try again');
  });

  it('escapes the link in the HTML', () => {
    const email = render('subscription.charged', chargedData(), 'https://x.example/manage/"><b>');
    expect(email.html).not.toContain('"><b>');
  });
});
