import { synthesizePipelineTemplate } from '../../../local/template';
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
    const response = await fetch(`${stack.apiUrl}/health`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('gives the API the admin key as a local secret and seeds the demo store', async () => {
    const response = await fetch(`${stack.apiUrl}/v1/admin/stores`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'integration', name: 'Integration' }),
    });

    expect(stack.adminApiKey).toBe('sk_admin_integration_test_0123456789');
    expect(response.status).toBe(201);
    expect(stack.demoStore).toEqual({ id: 'demo', apiKey: expect.stringMatching(/^sk_store_/) });
  });

  it('refuses a wrong admin key', async () => {
    const response = await fetch(`${stack.apiUrl}/v1/admin/stores`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'nope', name: 'Nope' }),
    });

    expect(response.status).toBe(401);
  });
});
