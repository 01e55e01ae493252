import fc from 'fast-check';
import {
  deliveryHeaders,
  isReservedHeaderName,
  MAX_CUSTOM_HEADERS,
  maskCredentials,
  maskedHeaders,
  parseCustomHeaders,
} from '../../lambdas/webhooks/domain/endpoint-headers';
import { acme, json, webhookApi } from './support/in-memory-api';

/** Custom headers per endpoint (docs/api.md section 3) and the endpoint rate limit's API side. */

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const tokenName = fc
  .array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: 40 })
  .map((chars) => chars.join(''))
  .filter((name) => !isReservedHeaderName(name));
/** Printable ASCII without leading or trailing whitespace. */
const headerValue = fc
  .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 200 })
  .map((value) => value.trim());
const randomCase = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
const reservedName = fc
  .oneof(
    fc.constantFrom(
      'host',
      'user-agent',
      'connection',
      'transfer-encoding',
      'content-type',
      'content-length',
    ),
    tokenName.map((tail) => `webhook-${tail}`),
    tokenName.map((tail) => `content-${tail}`),
  )
  .chain(randomCase);
const uniqueHeaders = (max: number) =>
  fc.uniqueArray(fc.tuple(tokenName, headerValue), {
    maxLength: max,
    selector: ([name]) => name.toLowerCase(),
  });

describe('parseCustomHeaders', () => {
  it('accepts up to 20 headers with token names and printable values, as sent', () => {
    fc.assert(
      fc.property(uniqueHeaders(MAX_CUSTOM_HEADERS), (entries) => {
        const input = Object.fromEntries(entries);
        const parsed = parseCustomHeaders(input);
        expect(parsed).toEqual({ ok: true, headers: input });
      }),
    );
  });

  it('refuses every reserved name, in any case, naming it', () => {
    fc.assert(
      fc.property(reservedName, headerValue, (name, value) => {
        const parsed = parseCustomHeaders({ [name]: value });
        expect(parsed.ok).toBe(false);
        if (!parsed.ok) expect(parsed.problems[0]).toMatchObject({ path: [name], message: /reserved/ });
      }),
    );
  });

  it('refuses a value with CR, LF, NUL or another control character, without quoting the value', () => {
    const control = fc.constantFrom('\r', '\n', '\0', '\r\n', '\x7f', '\x1b', '\u2028', 'é');
    fc.assert(
      fc.property(tokenName, headerValue, control, headerValue, (name, before, bad, after) => {
        const value = `${before}${bad}${after}`;
        const parsed = parseCustomHeaders({ [name]: value });
        expect(parsed.ok).toBe(false);
        if (!parsed.ok) {
          expect(parsed.problems.map((p) => p.path)).toContainEqual([name]);
          if (before.length > 3) expect(JSON.stringify(parsed.problems)).not.toContain(before);
        }
      }),
    );
  });

  it('refuses names that are not HTTP tokens, non-string values, repeats by case and more than 20', () => {
    for (const name of ['', 'X Shop', 'X:Shop', 'x\r\nInjected', 'Ünïcode', '(x)']) {
      const parsed = parseCustomHeaders({ [name]: 'v' });
      expect(parsed.ok).toBe(false);
    }
    expect(parseCustomHeaders({ 'X-Shop': 1 }).ok).toBe(false);
    expect(parseCustomHeaders({ 'X-Shop': 'a', 'x-shop': 'b' }).ok).toBe(false);
    expect(parseCustomHeaders(['X-Shop']).ok).toBe(false);
    expect(parseCustomHeaders('X-Shop: a').ok).toBe(false);
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v']));
    const parsed = parseCustomHeaders(many);
    expect(parsed).toMatchObject({ ok: false, problems: [{ path: [], message: /at most 20/ }] });
    expect(parseCustomHeaders({ ' X': 'v' }).ok).toBe(false);
    expect(parseCustomHeaders({ X: ' padded ' }).ok).toBe(false);
    expect(parseCustomHeaders({ X: 'v'.repeat(2049) }).ok).toBe(false);
  });

  it('keeps a header named __proto__ as a header, never as a prototype', () => {
    const parsed = parseCustomHeaders(JSON.parse('{"__proto__":"x","X-Shop":"acme"}'));
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(Object.getPrototypeOf(parsed.headers)).toBe(Object.prototype);
      expect(Object.keys(parsed.headers)).toEqual(['__proto__', 'X-Shop']);
    }
  });

  it('refuses an authorization value read back masked', () => {
    expect(parseCustomHeaders({ Authorization: 'Bearer ****f00d' }).ok).toBe(false);
    expect(parseCustomHeaders({ 'X-Token': '****' }).ok).toBe(true);
  });
});

describe('masking an authorization value', () => {
  it('keeps the scheme and at most the last 4 characters of long credentials, nothing of short ones', () => {
    const credentials = fc.string({
      unit: fc.constantFrom(
        ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/='.split(''),
      ),
      minLength: 1,
      maxLength: 300,
    });
    fc.assert(
      fc.property(fc.constantFrom('Bearer', 'Basic', 'Token'), credentials, (scheme, secret) => {
        const masked = maskCredentials(`${scheme} ${secret}`);
        const tail = secret.length >= 12 ? secret.slice(-4) : '';
        expect(masked).toBe(`${scheme} ****${tail}`);
        const bare = maskCredentials(secret);
        expect(bare).toBe(`****${tail}`);
      }),
    );
    expect(maskedHeaders({ authorization: 'Bearer sk_live_0123456789abcdef', 'X-Shop': 'acme' })).toEqual({
      authorization: 'Bearer ****cdef',
      'X-Shop': 'acme',
    });
  });
});

describe('deliveryHeaders', () => {
  it('sends the custom headers, and the signature headers always win', () => {
    const signature = { 'webhook-id': 'evt_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,abc' };
    fc.assert(
      fc.property(uniqueHeaders(20), fc.array(reservedName, { maxLength: 3 }), (entries, reserved) => {
        const custom = Object.fromEntries([...entries, ...reserved.map((name) => [name, 'forged'])]);
        const sent = deliveryHeaders(custom, signature);
        for (const [name, value] of Object.entries(signature)) expect(sent[name]).toBe(value);
        const lowerNames = Object.keys(sent).map((name) => name.toLowerCase());
        expect(new Set(lowerNames).size).toBe(lowerNames.length);
        for (const [name, value] of entries) expect(sent[name]).toBe(value);
        for (const name of reserved) {
          if (!Object.hasOwn(signature, name)) expect(Object.hasOwn(sent, name)).toBe(false);
        }
      }),
    );
    expect(deliveryHeaders(undefined, signature)).toEqual(signature);
  });
});

describe('POST and PATCH /v1/webhooks with headers and rateLimit', () => {
  const secretToken = 'Bearer zap_secret_0123456789abcdef';

  async function created(extra: Record<string, unknown>) {
    const setup = await webhookApi();
    const response = await setup.call(
      'POST',
      '/v1/webhooks',
      json({ url: 'https://hooks.example.com/zap', events: ['*'], ...extra }),
    );
    return { ...setup, response };
  }

  it('stores them, and shows the authorization value masked in every answer', async () => {
    const { call, deps, response } = await created({
      rateLimit: 5,
      headers: { Authorization: secretToken, 'X-Shop': 'acme' },
    });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      rateLimit: 5,
      headers: { Authorization: 'Bearer ****cdef', 'X-Shop': 'acme' },
    });
    const id = response.body.id as string;
    expect(deps.endpoints.items.get(`acme#${id}`)).toMatchObject({
      rateLimit: 5,
      headers: { Authorization: secretToken, 'X-Shop': 'acme' },
    });
    const fetched = await call('GET', `/v1/webhooks/${id}`, { headers: acme });
    const listed = await call('GET', '/v1/webhooks', { headers: acme });
    const patched = await call('PATCH', `/v1/webhooks/${id}`, json({ description: 'zap' }));
    expect(fetched.body.headers).toEqual({ Authorization: 'Bearer ****cdef', 'X-Shop': 'acme' });
    for (const answer of [response, fetched, listed, patched]) {
      expect(JSON.stringify(answer.body)).not.toContain('zap_secret');
    }
  });

  it('PATCH replaces the headers and the limit; null (or {}) removes them', async () => {
    const { call, deps, response } = await created({ rateLimit: 5, headers: { 'X-Shop': 'acme' } });
    const id = response.body.id as string;
    const replaced = await call(
      'PATCH',
      `/v1/webhooks/${id}`,
      json({ rateLimit: 50, headers: { 'X-Other': 'b' } }),
    );
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ rateLimit: 50, headers: { 'X-Other': 'b' } });
    expect(deps.endpoints.items.get(`acme#${id}`)?.headers).toEqual({ 'X-Other': 'b' });
    const removed = await call('PATCH', `/v1/webhooks/${id}`, json({ rateLimit: null, headers: {} }));
    expect(removed.status).toBe(200);
    expect(removed.body).not.toHaveProperty('rateLimit');
    expect(removed.body).not.toHaveProperty('headers');
    const stored = deps.endpoints.items.get(`acme#${id}`);
    expect(stored).not.toHaveProperty('rateLimit');
    expect(stored).not.toHaveProperty('headers');
    await call('PATCH', `/v1/webhooks/${id}`, json({ headers: { 'X-Shop': 'c' } }));
    const cleared = await call('PATCH', `/v1/webhooks/${id}`, json({ headers: null }));
    expect(cleared.body).not.toHaveProperty('headers');
  });

  it.each([
    ['headers.Webhook-Id', { headers: { 'Webhook-Id': 'x' } }],
    ['headers.host', { headers: { host: 'evil.example.com' } }],
    ['headers.Content-Type', { headers: { 'Content-Type': 'text/plain' } }],
    ['headers.USER-AGENT', { headers: { 'USER-AGENT': 'x' } }],
    ['headers.Transfer-Encoding', { headers: { 'Transfer-Encoding': 'chunked' } }],
    ['headers.Connection', { headers: { Connection: 'close' } }],
    ['headers.X-Shop', { headers: { 'X-Shop': 'a\r\nX-Injected: 1' } }],
    ['headers.X-Shop', { headers: { 'X-Shop': 'a\nb' } }],
    ['headers.X-Shop', { headers: { 'X-Shop': 'a\u0000b' } }],
    ['headers.X Shop', { headers: { 'X Shop': 'a' } }],
    ['headers', { headers: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v'])) }],
    ['headers', { headers: ['Authorization: x'] }],
    ['rateLimit', { rateLimit: 0 }],
    ['rateLimit', { rateLimit: 1001 }],
    ['rateLimit', { rateLimit: 2.5 }],
    ['rateLimit', { rateLimit: '5' }],
    ['rateLimit', { rateLimit: null }],
  ])('POST answers 400 naming %s', async (field, extra) => {
    const { deps, response } = await created(extra);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(deps.endpoints.items.size).toBe(0);
  });

  it('PATCH answers 400 naming the field, and changes nothing', async () => {
    const { call, deps, response } = await created({ headers: { 'X-Shop': 'acme' } });
    const id = response.body.id as string;
    for (const [field, body] of [
      ['headers.webhook-signature', { headers: { 'webhook-signature': 'v1,forged' } }],
      ['headers.Authorization', { headers: { Authorization: 'Bearer ****cdef' } }],
      ['rateLimit', { rateLimit: -1 }],
    ] as const) {
      const answer = await call('PATCH', `/v1/webhooks/${id}`, json(body));
      expect(answer.status).toBe(400);
      expect(answer.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect(deps.endpoints.items.get(`acme#${id}`)?.headers).toEqual({ 'X-Shop': 'acme' });
  });

  it('accepts the limits at both ends of the range', async () => {
    fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1000 }), async (rateLimit) => {
        const { response } = await created({ rateLimit });
        expect(response.status).toBe(201);
        expect(response.body.rateLimit).toBe(rateLimit);
      }),
      { numRuns: 30, examples: [[1], [1000]] },
    );
  });
});
