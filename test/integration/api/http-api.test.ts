import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoIdempotencyStore } from '../../../lambdas/api/adapters/dynamo-idempotency-store';
import { runIdempotently } from '../../../lambdas/api/domain/idempotency';
import { buildOpenApiDocument } from '../../../lambdas/api/openapi/document';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { hashApiKey } from '../../../lambdas/stores/domain/api-keys';
import { localClientConfig } from '../../../local/aws-clients';
import { synthesizePipelineTemplate } from '../../../local/template';
import { checkResponse } from '../support/openapi-validator';
import { startTestStack, type TestStack } from '../support/test-stack';

/**
 * The HTTP API as users reach it: the real pipeline template on the emulators, the handler bundled and run in a
 * worker as Lambda would, DynamoDB Local behind the adapters. Nothing is mocked.
 */
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack(synthesizePipelineTemplate(), {
    config: { adminApiKey: 'admin-key-integration-0001' },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function request(
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string> } = {},
) {
  const response = await fetch(new URL(path, stack.apiUrl), {
    method,
    body: options.body,
    headers: { 'content-type': 'application/json', ...options.headers },
  });
  const text = await response.text();
  checkResponse(method, path, response.status, response.headers, text);
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

const admin = { authorization: 'Bearer admin-key-integration-0001' };

describe('HTTP API on the local stack', () => {
  it('answers /health', async () => {
    expect(await request('GET', '/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('serves its OpenAPI 3.1 document without a key, with this API as its server', async () => {
    const answer = await request('GET', '/openapi.json');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json');
    const expected = buildOpenApiDocument(stack.apiUrl);
    expect(answer.body.openapi).toBe('3.1.0');
    expect(answer.body.servers).toEqual([{ url: stack.apiUrl, description: 'This API.' }]);
    expect(Object.keys(answer.body.paths)).toEqual(Object.keys(expected.paths as object));
    expect(Object.keys(answer.body.webhooks)).toContain('subscription.charged');
  });

  it('creates a store whose key is stored only as a digest, and refuses a duplicate', async () => {
    const created = await request('POST', '/v1/admin/stores', {
      body: JSON.stringify({ id: 'int-acme', name: 'Acme' }),
      headers: admin,
    });
    expect(created).toMatchObject({ status: 201, body: { id: 'int-acme', name: 'Acme' } });
    const { Items = [] } = await stack.clients.dynamodb.send(
      new ScanCommand({ TableName: stack.ref('StoresTable') }),
    );
    const stored = JSON.stringify(Items);
    expect(stored).not.toContain(created.body.apiKey);
    expect(stored).toContain(hashApiKey(created.body.apiKey));

    const duplicate = await request('POST', '/v1/admin/stores', {
      body: JSON.stringify({ id: 'int-acme', name: 'Again' }),
      headers: admin,
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 401 problem+json for a missing or wrong key', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-key' }] as Record<string, string>[]) {
      const response = await request('POST', '/v1/admin/stores', { body: '{"id":"x","name":"x"}', headers });
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ status: 401, title: 'Unauthorized' });
    }
  });

  it('replays a POST with the same Idempotency-Key from DynamoDB, and refuses another body', async () => {
    const headers = { ...admin, 'idempotency-key': 'int-create-replay' };
    const body = JSON.stringify({ id: 'int-replay', name: 'Replay' });
    const first = await request('POST', '/v1/admin/stores', { body, headers });
    const again = await request('POST', '/v1/admin/stores', { body, headers });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await request('POST', '/v1/admin/stores', {
      body: JSON.stringify({ id: 'int-other', name: 'Other' }),
      headers,
    });
    expect(other.status).toBe(422);
  });

  it('answers 400 naming fields, 400 for bad JSON and 413 for an oversize body', async () => {
    const invalid = await request('POST', '/v1/admin/stores', { body: '{"id":"Bad Id"}', headers: admin });
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['id', 'name']);
    expect((await request('POST', '/v1/admin/stores', { body: '{"id":', headers: admin })).status).toBe(400);
    const big = await request('POST', '/v1/admin/stores', {
      body: JSON.stringify({ id: 'big', name: 'x'.repeat(300 * 1024) }),
      headers: admin,
    });
    expect(big.status).toBe(413);
  });

  it('seeds the demo store whose key authenticates', async () => {
    expect(stack.demoStore?.id).toBe('demo');
    expect(stack.demoStore?.apiKey).toEqual(expect.any(String));
  });
});

describe('DynamoIdempotencyStore on DynamoDB Local', () => {
  it('lets a retry take over a key whose holder crashed, once its lock ran out', async () => {
    const client = createDocumentClient(new DynamoDBClient(localClientConfig(stack.endpoints.dynamodb)));
    const store = new DynamoIdempotencyStore({ client, tableName: stack.ref('IdempotencyTable') });
    let clock = Date.now();
    const options = { now: () => clock, lockMs: 1_000, retentionMs: 86_400_000 };
    const key = `crash-${clock}`;
    // The first holder "crashes": it began but never completes or releases.
    expect(
      await store.begin(
        {
          key,
          fingerprint: 'f',
          status: 'in_progress',
          lockedUntil: clock + 1_000,
          expiresAt: clock + 86_400_000,
        },
        clock,
      ),
    ).toEqual({ began: true });
    await expect(
      runIdempotently(store, { key, fingerprint: 'f' }, options, async () => ({
        status: 201,
        headers: {},
        body: 'x',
      })),
    ).rejects.toThrow(/in flight/);
    clock += 1_001;
    const retried = await runIdempotently(store, { key, fingerprint: 'f' }, options, async () => ({
      status: 201,
      headers: {},
      body: 'retry',
    }));
    expect(retried).toEqual({ response: { status: 201, headers: {}, body: 'retry' }, replayed: false });
    // Two retries racing for the same expired lock: exactly one wins.
    const raceKey = `race-${clock}`;
    await store.begin(
      {
        key: raceKey,
        fingerprint: 'f',
        status: 'in_progress',
        lockedUntil: clock - 1,
        expiresAt: clock + 86_400_000,
      },
      clock,
    );
    const wins = await Promise.all([
      store.takeOver(raceKey, clock - 1, clock + 1000),
      store.takeOver(raceKey, clock - 1, clock + 1000),
    ]);
    expect(wins.filter(Boolean)).toHaveLength(1);
    client.destroy();
  });

  it('treats an expired record as absent even before TTL deletes it', async () => {
    const client = createDocumentClient(new DynamoDBClient(localClientConfig(stack.endpoints.dynamodb)));
    const store = new DynamoIdempotencyStore({ client, tableName: stack.ref('IdempotencyTable') });
    const now = Date.now();
    const key = `expired-${now}`;
    await store.begin(
      { key, fingerprint: 'old', status: 'in_progress', lockedUntil: now, expiresAt: now - 5_000 },
      now - 10_000,
    );
    expect(
      await store.begin(
        {
          key,
          fingerprint: 'new',
          status: 'in_progress',
          lockedUntil: now + 1_000,
          expiresAt: now + 86_400_000,
        },
        now,
      ),
    ).toEqual({ began: true });
    client.destroy();
  });
});
