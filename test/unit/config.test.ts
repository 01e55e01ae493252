import { ConfigError, loadConfig, NON_SECRET_CONFIG_VARIABLES } from '../../lambdas/platform/config';

describe('loadConfig', () => {
  it('applies the contract defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      paymentGatewayApiKey: 'sk_test_local',
      paymentGatewayTimeoutMs: 10_000,
      emailFrom: 'billing@example.com',
      webhookRetryScheduleMs: [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
      webhookTimeoutMs: 15_000,
      webhookDisableAfterMs: 5 * 86_400_000,
      dunningScheduleMs: [86_400_000, 3 * 86_400_000, 5 * 86_400_000, 7 * 86_400_000],
      dunningFinalAction: 'cancel',
    });
    expect(config.adminApiKey).toBeUndefined();
    expect(config.paymentGatewayUrl).toBeUndefined();
  });

  it('allows private webhook targets by default locally and refuses them by default in AWS', () => {
    expect(loadConfig({}, 'local').webhookAllowPrivateTargets).toBe(true);
    expect(loadConfig({}, 'aws').webhookAllowPrivateTargets).toBe(false);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false' }, 'local').webhookAllowPrivateTargets).toBe(
      false,
    );
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' }, 'aws').webhookAllowPrivateTargets).toBe(
      true,
    );
  });

  it('reads every variable it is given', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      ADMIN_API_KEY: 'admin-key-0123456789',
      DEMO_STORE_API_KEY: 'demo-key-0123456789',
      PAYMENT_GATEWAY_URL: 'https://gateway.example.com',
      PAYMENT_GATEWAY_API_KEY: 'sk_live_x',
      PAYMENT_GATEWAY_TIMEOUT_MS: '2500',
      SMTP_URL: 'smtp://127.0.0.1:2525',
      EMAIL_FROM: 'shop@example.org',
      WEBHOOK_RETRY_SCHEDULE: '0s, 250ms ,1m',
      WEBHOOK_TIMEOUT_MS: '500',
      WEBHOOK_DISABLE_AFTER: '2h',
      DUNNING_SCHEDULE: '1h',
      DUNNING_FINAL_ACTION: 'unpaid',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      adminApiKey: 'admin-key-0123456789',
      demoStoreApiKey: 'demo-key-0123456789',
      paymentGatewayUrl: 'https://gateway.example.com',
      paymentGatewayApiKey: 'sk_live_x',
      paymentGatewayTimeoutMs: 2500,
      smtpUrl: 'smtp://127.0.0.1:2525',
      emailFrom: 'shop@example.org',
      webhookRetryScheduleMs: [0, 250, 60_000],
      webhookTimeoutMs: 500,
      webhookDisableAfterMs: 7_200_000,
      dunningScheduleMs: [3_600_000],
      dunningFinalAction: 'unpaid',
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', WEBHOOK_RETRY_SCHEDULE: '' }).port).toBe(3000);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PAYMENT_GATEWAY_URL', 'ftp://gateway'],
    ['PAYMENT_GATEWAY_URL', 'not a url'],
    ['PAYMENT_GATEWAY_TIMEOUT_MS', '0'],
    ['PAYMENT_GATEWAY_TIMEOUT_MS', '-5'],
    ['PAYMENT_GATEWAY_TIMEOUT_MS', '1.5'],
    ['SMTP_URL', 'http://127.0.0.1:25'],
    ['EMAIL_FROM', 'billing'],
    ['WEBHOOK_RETRY_SCHEDULE', '5s,,5m'],
    ['WEBHOOK_RETRY_SCHEDULE', '5 minutes'],
    ['WEBHOOK_TIMEOUT_MS', '15s'],
    ['WEBHOOK_ALLOW_PRIVATE_TARGETS', 'maybe'],
    ['WEBHOOK_DISABLE_AFTER', '5'],
    ['DUNNING_SCHEDULE', '1.5d'],
    ['DUNNING_FINAL_ACTION', 'delete'],
    ['ADMIN_API_KEY', 'short'],
  ])('refuses %s=%j with a message naming the variable', (variable, value) => {
    let caught: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.problems.map((p) => p.variable)).toEqual([variable]);
    expect(error.message).toContain(variable);
  });

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', DUNNING_FINAL_ACTION: 'y' })).toThrow(
      /PORT[\s\S]*DUNNING_FINAL_ACTION/,
    );
  });

  it('keeps secrets out of the variables passed to functions', () => {
    expect(NON_SECRET_CONFIG_VARIABLES).not.toContain('ADMIN_API_KEY');
    expect(NON_SECRET_CONFIG_VARIABLES).not.toContain('PAYMENT_GATEWAY_API_KEY');
    expect(NON_SECRET_CONFIG_VARIABLES).not.toContain('DEMO_STORE_API_KEY');
    expect(NON_SECRET_CONFIG_VARIABLES).toContain('WEBHOOK_RETRY_SCHEDULE');
  });
});
