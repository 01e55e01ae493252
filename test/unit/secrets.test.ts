import { loadSecrets, SECRETS_CACHE_EXPIRY_MS, secretsCacheExpiryMs } from '../../lambdas/platform/secrets';

describe('secretsCacheExpiryMs', () => {
  it('is 5 minutes when SECRETS_CACHE_SECONDS is unset or empty', () => {
    expect(SECRETS_CACHE_EXPIRY_MS).toBe(300_000);
    expect(secretsCacheExpiryMs({})).toBe(300_000);
    expect(secretsCacheExpiryMs({ SECRETS_CACHE_SECONDS: ' ' })).toBe(300_000);
  });

  it('takes whole seconds from 1 to a day', () => {
    expect(secretsCacheExpiryMs({ SECRETS_CACHE_SECONDS: '1' })).toBe(1000);
    expect(secretsCacheExpiryMs({ SECRETS_CACHE_SECONDS: ' 60 ' })).toBe(60_000);
    expect(secretsCacheExpiryMs({ SECRETS_CACHE_SECONDS: '86400' })).toBe(86_400_000);
  });

  it.each(['0', '-1', '1.5', '5m', '86401', 'soon'])('refuses %p, naming the variable', (text) => {
    expect(() => secretsCacheExpiryMs({ SECRETS_CACHE_SECONDS: text })).toThrow(
      new RegExp(`SECRETS_CACHE_SECONDS: must be .* seconds \\(got "${text}"\\)`),
    );
  });
});

describe('loadSecrets', () => {
  it('fails at cold start, naming the variable, when a secret ARN is not set (and reads nothing)', () => {
    expect(() => loadSecrets({ adminApiKey: 'ADMIN_API_KEY_SECRET_ARN' }, { env: {} })).toThrow(
      'ADMIN_API_KEY_SECRET_ARN: is not set',
    );
  });
});
