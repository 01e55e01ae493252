import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { localClientConfig } from '../../../local/aws-clients';
import { LocalSecretsManager } from '../../../local/emulators/secrets-manager';
import { synthesizePipelineTemplate } from '../../../local/template';
import { fetchApi } from '../support/openapi-validator';
import { startTestStack, type TestStack } from '../support/test-stack';
import { sleep, waitFor } from '../support/wait-for';

// A pipeline start-up, and cache expiries waited out: more than jest's default 5 s per test or hook.
jest.setTimeout(60_000);

const FIRST_ADMIN_KEY = 'sk_admin_before_rotation_0123456789';
const ROTATED_ADMIN_KEY = 'sk_admin_after_rotation_9876543210';
const CACHE_SECONDS = 1;

/**
 * Secrets read at run time through middy's cached Secrets Manager middleware, locally as in AWS: a key put into
 * the local Secrets Manager is picked up once the cache expires, with nothing restarted.
 */
describe('secrets of a running local stack', () => {
  let stack: TestStack;
  let secretsManager: SecretsManagerClient;
  let adminSecretArn: string;

  /** The status of an admin read: 404 (no such run) when the key is accepted, 401 when refused. */
  const adminStatus = async (key: string) =>
    (
      await fetchApi(`${stack.apiUrl}/v1/admin/subscription-runs/2001-01-01`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).status;

  beforeAll(async () => {
    stack = await startTestStack(synthesizePipelineTemplate(), {
      config: {
        adminApiKey: FIRST_ADMIN_KEY,
        settings: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', SECRETS_CACHE_SECONDS: String(CACHE_SECONDS) },
      },
    });
    secretsManager = new SecretsManagerClient(localClientConfig(stack.endpoints.secretsManager));
    adminSecretArn = stack.ref('AdminApiKeySecret');
  });
  afterAll(async () => {
    secretsManager?.destroy();
    await stack?.stop();
  });

  it('gives every function the local Secrets Manager endpoint and secret ARNs, never a value', () => {
    const api = [...stack.functions.values()].find((fn) => fn.props.environment.ADMIN_API_KEY_SECRET_ARN);

    expect(api?.props.environment.ADMIN_API_KEY_SECRET_ARN).toBe(adminSecretArn);
    expect(adminSecretArn).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:/);
    for (const fn of stack.functions.values()) {
      expect(fn.props.environment.AWS_ENDPOINT_URL_SECRETS_MANAGER).toBe(stack.secrets.url);
      expect(fn.props.environment.PIPELINE_LOCAL_SECRETS).toBeUndefined();
      expect(Object.values(fn.props.environment)).not.toContain(FIRST_ADMIN_KEY);
    }
  });

  it('holds the configured admin key under the ARN the API function is given', async () => {
    const secret = await secretsManager.send(new GetSecretValueCommand({ SecretId: adminSecretArn }));

    expect(secret).toMatchObject({
      ARN: adminSecretArn,
      SecretString: FIRST_ADMIN_KEY,
      VersionStages: ['AWSCURRENT'],
    });
    expect(await adminStatus(FIRST_ADMIN_KEY)).toBe(404);
    expect(await adminStatus(ROTATED_ADMIN_KEY)).toBe(401);
  });

  it('accepts a key put with PutSecretValue once the cache expires, and refuses the old one, without a restart', async () => {
    // Warm: the API has read the first key into its cache.
    expect(await adminStatus(FIRST_ADMIN_KEY)).toBe(404);

    const putAt = Date.now();
    const put = await secretsManager.send(
      new PutSecretValueCommand({ SecretId: adminSecretArn, SecretString: ROTATED_ADMIN_KEY }),
    );
    await waitFor(
      () => adminStatus(ROTATED_ADMIN_KEY),
      (status) => status === 404,
      { timeoutMs: 10_000, intervalMs: 100, what: 'the rotated admin key to be accepted' },
    );
    // Every execution environment's cache, read before the put at the latest, has expired by now.
    await sleep(putAt + CACHE_SECONDS * 1000 + 500 - Date.now());

    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect(await adminStatus(FIRST_ADMIN_KEY)).toBe(401);
    expect(await adminStatus(ROTATED_ADMIN_KEY)).toBe(404);
    expect(await adminStatus(FIRST_ADMIN_KEY)).toBe(401);
    // Nothing restarted or failed on the way.
    expect(stack.logs).toEqual([]);
    const described = await secretsManager.send(new DescribeSecretCommand({ SecretId: adminSecretArn }));
    expect(Object.values(described.VersionIdsToStages ?? {}).sort()).toEqual([
      ['AWSCURRENT'],
      ['AWSPREVIOUS'],
    ]);
  });

  it('rotates through the stack handle too (by logical id)', async () => {
    const logicalId =
      stack.resources.all().find((resource) => resource.ref === adminSecretArn)?.logicalId ?? '';

    stack.secrets.put(logicalId, FIRST_ADMIN_KEY);
    await waitFor(
      () => adminStatus(FIRST_ADMIN_KEY),
      (status) => status === 404,
      { timeoutMs: 10_000, intervalMs: 100, what: 'the first admin key to be accepted again' },
    );

    expect(stack.secrets.value(adminSecretArn)).toBe(FIRST_ADMIN_KEY);
  });

  it('answers ResourceNotFoundException for an unknown secret', async () => {
    const unknown = secretsManager.send(
      new GetSecretValueCommand({ SecretId: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:nope' }),
    );

    await expect(unknown).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
      $metadata: { httpStatusCode: 400 },
    });
  });
});

/** The emulator alone, through the SDK: the protocol details middy and the SDK rely on. */
describe('the local Secrets Manager', () => {
  const arn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:local-GatewayKey';
  let emulator: LocalSecretsManager;
  let client: SecretsManagerClient;

  beforeEach(async () => {
    emulator = await LocalSecretsManager.start();
    emulator.create({ arn, name: 'local-GatewayKey', value: 'sk_test_first' });
    client = new SecretsManagerClient(localClientConfig(emulator.url));
  });
  afterEach(async () => {
    client.destroy();
    await emulator.stop();
  });

  it('listens on 127.0.0.1 and finds a secret by ARN or by name', async () => {
    const byName = await client.send(new GetSecretValueCommand({ SecretId: 'local-GatewayKey' }));

    expect(emulator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(byName).toMatchObject({ ARN: arn, Name: 'local-GatewayKey', SecretString: 'sk_test_first' });
    expect(byName.CreatedDate).toBeInstanceOf(Date);
  });

  it('keeps the previous value as AWSPREVIOUS and serves versions by stage and id', async () => {
    const first = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    const second = await client.send(
      new PutSecretValueCommand({ SecretId: arn, SecretString: 'sk_test_second' }),
    );

    const current = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    const previous = await client.send(
      new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS' }),
    );
    const byId = await client.send(new GetSecretValueCommand({ SecretId: arn, VersionId: first.VersionId }));

    expect(current).toMatchObject({ SecretString: 'sk_test_second', VersionId: second.VersionId });
    expect(previous).toMatchObject({ SecretString: 'sk_test_first', VersionStages: ['AWSPREVIOUS'] });
    expect(byId.SecretString).toBe('sk_test_first');
  });

  it('answers a retried PutSecretValue (same token) as the first time, and refuses the token with another value', async () => {
    const token = '0123456789abcdef0123456789abcdef';
    const put = (value: string) =>
      client.send(
        new PutSecretValueCommand({ SecretId: arn, SecretString: value, ClientRequestToken: token }),
      );

    const first = await put('sk_test_second');
    const retried = await put('sk_test_second');

    expect(retried).toMatchObject({ VersionId: first.VersionId, VersionStages: ['AWSCURRENT'] });
    await expect(put('sk_test_third')).rejects.toMatchObject({ name: 'ResourceExistsException' });
    expect(emulator.value(arn)).toBe('sk_test_second');
  });

  it('answers AWS JSON 1.1 errors: unknown secret, unknown version, bad input, unknown operation', async () => {
    const post = (target: string, body: string) =>
      fetch(emulator.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
        body,
      });

    await expect(client.send(new GetSecretValueCommand({ SecretId: 'nope' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await expect(
      client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPENDING' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const notJson = await post('secretsmanager.GetSecretValue', '{');
    const unknownOperation = await post('secretsmanager.DeleteSecret', JSON.stringify({ SecretId: arn }));

    expect(notJson.status).toBe(400);
    expect(notJson.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await notJson.json()).toMatchObject({ __type: 'SerializationException' });
    expect(unknownOperation.status).toBe(400);
    expect(await unknownOperation.json()).toMatchObject({ __type: 'UnknownOperationException' });
    expect(emulator.value(arn)).toBe('sk_test_first');
  });

  it('refuses a second secret of the same name, and a put into an unknown one', () => {
    expect(() => emulator.create({ arn: `${arn}-2`, name: 'local-GatewayKey', value: 'x' })).toThrow(
      /already has a secret local-GatewayKey/,
    );
    expect(() => emulator.put('nope', 'x')).toThrow('The local Secrets Manager has no secret nope.');
  });
});
