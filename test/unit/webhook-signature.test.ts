import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, signWebhook } from '../../lambdas/webhooks/domain/signature';

describe('webhook signatures', () => {
  it('verify with any Standard Webhooks verifier', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ id: 'evt_1', type: 'transaction.created', data: { total: 100 } });
    const headers = signWebhook('evt_1', body, [secret], new Date());
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('are v1 HMAC-SHA256 of "id.timestamp.body" keyed by the decoded secret', () => {
    const secret = generateWebhookSecret();
    const at = new Date('2026-11-22T12:00:00Z');
    const headers = signWebhook('evt_2', '{"a":1}', [secret], at);
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key)
      .update(`evt_2.${at.getTime() / 1000}.{"a":1}`)
      .digest('base64');
    expect(headers).toEqual({
      'webhook-id': 'evt_2',
      'webhook-timestamp': String(at.getTime() / 1000),
      'webhook-signature': `v1,${expected}`,
    });
  });

  it('sign with both secrets during a rotation, so receivers with either verify', () => {
    const [oldSecret, newSecret] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = signWebhook('evt_3', 'body', [newSecret, oldSecret], new Date());
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(oldSecret).verify('body', { ...headers }, { jsonParse: false })).not.toThrow();
    expect(() => new Webhook(newSecret).verify('body', { ...headers }, { jsonParse: false })).not.toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify('body', { ...headers })).toThrow();
  });

  it('reject any tampered body', () => {
    const secret = generateWebhookSecret();
    fc.assert(
      fc.property(fc.string(), fc.string(), (body, other) => {
        fc.pre(body !== other);
        const headers = signWebhook('evt_4', body, [secret], new Date());
        expect(() => new Webhook(secret).verify(other, { ...headers }, { jsonParse: false })).toThrow();
      }),
      { numRuns: 200 },
    );
  });

  it('refuse to sign without a secret', () => {
    expect(() => signWebhook('evt', 'b', [], new Date())).toThrow(/at least one/);
  });
});
