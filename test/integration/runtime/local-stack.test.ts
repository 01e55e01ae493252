import { connect, createServer } from 'node:net';
import nodemailer from 'nodemailer';
import { type LocalStack, startLocalStack } from '../../../local/stack';
import { type CfnTemplate, resourcesOfType, synthesizePipelineTemplate } from '../../../local/template';
import { httpTemplate } from '../../fixtures/stacks';
import { sharedEmulators, uniquePrefix } from '../support/emulators';
import { fetchApi } from '../support/openapi-validator';
import { startTestStack, type TestStack } from '../support/test-stack';

// Emulator round trips, visibility timeouts and retries: more than jest's default 5 s per test or hook.
jest.setTimeout(30_000);

/** The real pipeline, end to end through the local stack: synthesized, provisioned, served. */
describe('the local stack of the pipeline', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack(synthesizePipelineTemplate(), {
      config: { adminApiKey: 'sk_admin_integration_test_0123456789' },
    });
  });
  afterAll(() => stack.stop());

  it('answers GET /health', async () => {
    const response = await fetchApi(`${stack.apiUrl}/health`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('gives the API the admin key as a local secret and seeds the demo store', async () => {
    const response = await fetchApi(`${stack.apiUrl}/v1/admin/stores`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'integration', name: 'Integration' }),
    });

    expect(stack.adminApiKey).toBe('sk_admin_integration_test_0123456789');
    expect(response.status).toBe(201);
    expect(stack.demoStore).toEqual({ id: 'demo', apiKey: expect.stringMatching(/^sk_store_/) });
  });

  it('refuses a wrong admin key', async () => {
    const response = await fetchApi(`${stack.apiUrl}/v1/admin/stores`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'nope', name: 'Nope' }),
    });

    expect(response.status).toBe(401);
  });

  it('starts the bundled payment gateway and SMTP sink and gives every function their URLs', async () => {
    const gateway = stack.paymentGateway;
    const sink = stack.smtpSink;

    expect(gateway?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sink?.url).toMatch(/^smtp:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.paymentGatewayUrl).toBe(gateway?.url);
    expect(stack.smtpUrl).toBe(sink?.url);
    expect(stack.functions.size).toBeGreaterThan(0);
    for (const fn of stack.functions.values()) {
      expect(fn.props.environment).toMatchObject({
        PAYMENT_GATEWAY_URL: gateway?.url,
        SMTP_URL: sink?.url,
      });
      // The gateway key stays a local secret, never a plain variable.
      expect(fn.props.environment.PAYMENT_GATEWAY_API_KEY).toBeUndefined();
    }
  });

  it('runs a gateway that takes the configured key (sk_test_local) and records the charge', async () => {
    const charge = (key: string, idempotencyKey: string) =>
      fetch(`${stack.paymentGatewayUrl}/v1/payment_intents`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/x-www-form-urlencoded',
          'idempotency-key': idempotencyKey,
        },
        body: new URLSearchParams({
          amount: '1999',
          currency: 'usd',
          payment_method: 'pm_card_visa',
          confirm: 'true',
          off_session: 'true',
          'metadata[subscription_id]': 'sub_local_stack',
          'metadata[period]': '2026-01-01',
        }),
      });

    const accepted = await charge('sk_test_local', 'local-stack-charge-1');
    const refused = await charge('sk_test_wrong', 'local-stack-charge-2');

    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({ object: 'payment_intent', status: 'succeeded' });
    expect(refused.status).toBe(401);
    expect(stack.paymentGateway?.successfulCharges({ subscription_id: 'sub_local_stack' })).toHaveLength(1);
  });

  it('runs an SMTP sink that keeps what it receives', async () => {
    const transport = nodemailer.createTransport(stack.smtpUrl);
    try {
      await transport.sendMail({
        from: 'billing@example.com',
        to: 'ana@example.com',
        subject: 'Local stack receipt',
        text: 'Thank you.',
      });
    } finally {
      transport.close();
    }

    expect(stack.smtpSink?.mails).toContainEqual(
      expect.objectContaining({ to: ['ana@example.com'], subject: 'Local stack receipt' }),
    );
  });
});

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port that was free a moment ago (the kernel hands out a fresh one each time). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

const portOf = (url: string) => Number(new URL(url).port);

/** The bundled servers' lifecycle, on a one-function fixture stack: quicker to start than the pipeline. */
describe("the local stack's bundled payment gateway and SMTP sink", () => {
  it('are not started when PAYMENT_GATEWAY_URL and SMTP_URL are configured; functions get the configured URLs', async () => {
    const stack = await startTestStack(httpTemplate(), {
      config: {
        settings: {
          PAYMENT_GATEWAY_URL: 'https://gateway.example.com',
          SMTP_URL: 'smtp://mail.example.com:2525',
        },
      },
    });
    try {
      const response = await fetch(`${stack.apiUrl}/env`);
      const { env } = (await response.json()) as { env: Record<string, string> };

      expect(stack.paymentGateway).toBeUndefined();
      expect(stack.smtpSink).toBeUndefined();
      expect(stack.paymentGatewayUrl).toBe('https://gateway.example.com');
      expect(stack.smtpUrl).toBe('smtp://mail.example.com:2525');
      expect(env).toMatchObject({
        PAYMENT_GATEWAY_URL: 'https://gateway.example.com',
        SMTP_URL: 'smtp://mail.example.com:2525',
      });
    } finally {
      await stack.stop();
    }
  });

  it('starts only the one that is not configured', async () => {
    const stack = await startTestStack(httpTemplate(), {
      config: { settings: { SMTP_URL: 'smtp://mail.example.com:2525' } },
    });
    try {
      expect(stack.paymentGateway).toBeDefined();
      expect(stack.smtpSink).toBeUndefined();
      const response = await fetch(`${stack.apiUrl}/env`);
      const { env } = (await response.json()) as { env: Record<string, string> };
      expect(env.PAYMENT_GATEWAY_URL).toBe(stack.paymentGateway?.url);
      expect(env.SMTP_URL).toBe('smtp://mail.example.com:2525');
    } finally {
      await stack.stop();
    }
  });

  it('gives the gateway the configured key and the faults passed at start', async () => {
    const stack = await startTestStack(httpTemplate(), {
      config: { paymentGatewayApiKey: 'sk_test_configured' },
      paymentGateway: { faults: () => ({ kind: 'error500' }) },
    });
    try {
      const post = (key: string) =>
        fetch(`${stack.paymentGatewayUrl}/v1/payment_intents`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'amount=100&currency=usd&payment_method=pm_card_visa&confirm=true',
        });

      expect((await post('sk_test_local')).status).toBe(401);
      expect((await post('sk_test_configured')).status).toBe(500);
      expect(stack.paymentGateway?.ledger).toEqual([]);
    } finally {
      await stack.stop();
    }
  });

  it('closes both ports when the stack stops', async () => {
    const stack = await startTestStack(httpTemplate());
    const gatewayPort = portOf(stack.paymentGatewayUrl);
    const sinkPort = portOf(stack.smtpUrl);
    expect(await listening(gatewayPort)).toBe(true);
    expect(await listening(sinkPort)).toBe(true);

    await stack.stop();

    expect(await listening(gatewayPort)).toBe(false);
    expect(await listening(sinkPort)).toBe(false);
  });

  it('stops both when the start-up fails after they started', async () => {
    const [gatewayPort, sinkPort] = [await freePort(), await freePort()];
    // A filtered event source mapping is refused once the servers listen and the function runs.
    const base = httpTemplate();
    const [echo] = resourcesOfType(base, 'AWS::Lambda::Function').map(([logicalId]) => logicalId);
    const template: CfnTemplate = {
      ...base,
      Resources: {
        ...base.Resources,
        FilteredMapping: {
          Type: 'AWS::Lambda::EventSourceMapping',
          Properties: {
            FunctionName: { Ref: echo },
            EventSourceArn: 'arn:aws:sqs:us-east-1:000000000000:none',
            FilterCriteria: { Filters: [] },
          },
        },
      },
    };
    let started: LocalStack | undefined;

    const starting = startLocalStack({
      ...sharedEmulators(),
      prefix: uniquePrefix(),
      template,
      log: () => undefined,
      paymentGateway: { port: gatewayPort },
      smtpSink: { port: sinkPort },
    }).then((stack) => {
      started = stack;
      return stack;
    });

    await expect(starting).rejects.toThrow(
      'FilteredMapping: event filtering (FilterCriteria) is not supported',
    );
    await started?.stop();
    expect(await listening(gatewayPort)).toBe(false);
    expect(await listening(sinkPort)).toBe(false);
  });
});
