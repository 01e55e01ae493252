import { createApi } from '../../lambdas/api/create-api';
import { hashApiKey } from '../../lambdas/stores/domain/api-keys';
import { callerFor } from './support/api-events';
import { ADMIN_KEY, acme, json, STORE_KEY, webhookDependencies } from './support/in-memory-api';
import { fakeQueueOperations, InMemoryQueues } from './support/in-memory-queues';
import { silentLogger } from './support/logger';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const url = (name: string) => `https://sqs.test/000000000000/${name}`;

/** The API over in-memory ports and queues, with the store `acme` and a clock the queues share. */
async function queuesApi(options: Parameters<typeof fakeQueueOperations>[1] = {}) {
  const clock = { now: Date.parse('2024-06-01T12:00:00.000Z') };
  const queues = new InMemoryQueues(clock);
  const base = webhookDependencies();
  await base.stores.create({ id: 'acme', name: 'Acme', createdAt: '' }, hashApiKey(STORE_KEY));
  const api = createApi(
    { ...base, operations: fakeQueueOperations(queues, options), now: () => clock.now },
    silentLogger,
  );
  return { call: callerFor(api, ADMIN_KEY), queues, clock };
}

describe('GET /v1/admin/queues', () => {
  it('shows each work queue: its depths, its oldest age and its dead letters', async () => {
    const { call, queues } = await queuesApi();
    queues.put(url('deliveries'), 'a', { ageSeconds: 90 });
    queues.put(url('deliveries'), 'b', { ageSeconds: 5 });
    queues.put(url('deliveries'), 'c', { delaySeconds: 30 });
    await queues.receive(url('deliveries'), { visibilityTimeoutSeconds: 60 }).then(() => undefined);
    queues.put(url('charges-dlq'), 'dead', { ageSeconds: 3600 });
    queues.put(url('charges-dlq'), 'dead too', { delaySeconds: 10 });

    const answer = await call('GET', '/v1/admin/queues', { headers: admin });

    expect(answer.status).toBe(200);
    expect(answer.body.data.map((queue: { name: string }) => queue.name)).toEqual([
      'deliveries',
      'replays',
      'charges',
      'runs',
      'notifications',
    ]);
    // Two of the three received (hidden), one delayed; the oldest is the 90 s one, whatever its state.
    expect(answer.body.data[0]).toEqual({
      name: 'deliveries',
      visible: 0,
      inFlight: 2,
      delayed: 1,
      oldestAgeSeconds: 90,
      deadLetters: 0,
    });
    expect(answer.body.data[2]).toEqual({
      name: 'charges',
      visible: 0,
      inFlight: 0,
      delayed: 0,
      deadLetters: 2,
      deadLetterOldestAgeSeconds: 3600,
    });
    // Empty queues: no age at all.
    expect(answer.body.data[1]).toEqual({
      name: 'replays',
      visible: 0,
      inFlight: 0,
      delayed: 0,
      deadLetters: 0,
    });
  });

  it('leaves the ages out when they cannot be read, and still answers the depths', async () => {
    const { call, queues } = await queuesApi();
    queues.put(url('runs'), 'step', { ageSeconds: 12 });
    queues.ageReaderFails = true;
    const failing = await call('GET', '/v1/admin/queues', { headers: admin });
    expect(failing.status).toBe(200);
    expect(failing.body.data[3]).toEqual({
      name: 'runs',
      visible: 1,
      inFlight: 0,
      delayed: 0,
      deadLetters: 0,
    });

    queues.ageReaderFails = false;
    queues.agesKnown = false;
    const unknown = await call('GET', '/v1/admin/queues', { headers: admin });
    expect(unknown.body.data[3]).not.toHaveProperty('oldestAgeSeconds');
  });

  it('lists only the queues the deployment has', async () => {
    const { call } = await queuesApi({ names: ['deliveries', 'replays', 'charges', 'runs'] });
    const answer = await call('GET', '/v1/admin/queues', { headers: admin });
    expect(answer.body.data.map((queue: { name: string }) => queue.name)).not.toContain('notifications');
  });

  it.each([
    ['a store key', acme],
    ['no key', {}],
    ['a wrong key', { authorization: 'Bearer nope' }],
  ])('refuses %s with 401', async (_what, headers) => {
    const { call } = await queuesApi();
    const answer = await call('GET', '/v1/admin/queues', { headers });
    expect(answer.status).toBe(401);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(JSON.stringify(answer.body)).not.toContain('deliveries');
  });
});

describe('POST /v1/admin/queues/{name}/redrive', () => {
  it('moves the dead letters back to the queue, and answers what moved and what is left', async () => {
    const { call, queues } = await queuesApi();
    for (let index = 0; index < 25; index += 1) queues.put(url('deliveries-dlq'), `dead ${index}`);

    const answer = await call('POST', '/v1/admin/queues/deliveries/redrive', json({}, admin));

    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ moved: 25, remaining: 0 });
    expect(queues.bodies(url('deliveries-dlq'))).toEqual([]);
    expect(queues.bodies(url('deliveries')).sort()).toEqual(
      Array.from({ length: 25 }, (_, index) => `dead ${index}`).sort(),
    );
  });

  it('takes no body, or {}', async () => {
    const { call, queues } = await queuesApi();
    queues.put(url('runs-dlq'), 'step');
    const empty = await call('POST', '/v1/admin/queues/runs/redrive', { headers: admin });
    expect(empty.status).toBe(202);
    expect(empty.body).toEqual({ moved: 1, remaining: 0 });
  });

  it('stops at its time budget and says what remains: calling again continues', async () => {
    const { call, queues } = await queuesApi({ redriveBudgetMs: 2_500 });
    for (let index = 0; index < 45; index += 1) queues.put(url('charges-dlq'), `charge ${index}`);
    // Each receive takes a second: the budget allows three batches.
    queues.receiveTakesMs = 1_000;

    const first = await call('POST', '/v1/admin/queues/charges/redrive', json({}, admin));
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ moved: 30, remaining: 15 });

    const second = await call('POST', '/v1/admin/queues/charges/redrive', json({}, admin));
    expect(second.body).toEqual({ moved: 15, remaining: 0 });
    expect(queues.bodies(url('charges')).length).toBe(45);
  });

  it('leaves on the dead-letter queue what could not be sent (it is received again after its visibility timeout)', async () => {
    const { call, queues } = await queuesApi();
    queues.put(url('replays-dlq'), 'fine');
    queues.put(url('replays-dlq'), 'refused');
    queues.failSendsOf.add('refused');
    const answer = await call('POST', '/v1/admin/queues/replays/redrive', json({}, admin));
    // Received and not deleted: hidden for the visibility timeout (not in `remaining`, SQS's visible count), then
    // back on the dead-letter queue for the next call.
    expect(answer.body).toEqual({ moved: 1, remaining: 0 });
    expect(queues.bodies(url('replays-dlq'))).toEqual(['refused']);
    expect(queues.bodies(url('replays'))).toEqual(['fine']);
  });

  it('replays the first answer for the same Idempotency-Key, without moving anything again', async () => {
    const { call, queues } = await queuesApi();
    queues.put(url('notifications-dlq'), 'mail');
    const headers = { ...admin, 'idempotency-key': 'redrive-1' };
    const first = await call('POST', '/v1/admin/queues/notifications/redrive', json({}, headers));
    queues.put(url('notifications-dlq'), 'another mail');
    const again = await call('POST', '/v1/admin/queues/notifications/redrive', json({}, headers));
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(queues.bodies(url('notifications-dlq'))).toEqual(['another mail']);
  });

  it.each([
    ['an unknown name', 'emails'],
    ['a dead-letter queue', 'deliveries-dlq'],
    ['a name in another case', 'Deliveries'],
    ['a queue URL', encodeURIComponent(url('deliveries'))],
  ])('answers 404 problem+json for %s', async (_what, name) => {
    const { call } = await queuesApi();
    const answer = await call('POST', `/v1/admin/queues/${name}/redrive`, json({}, admin));
    expect(answer.status).toBe(404);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body.detail).toContain('deliveries, replays, charges, runs, notifications');
  });

  it('answers 404 for a queue the deployment does not have', async () => {
    const { call } = await queuesApi({ names: ['deliveries', 'replays', 'charges', 'runs'] });
    const answer = await call('POST', '/v1/admin/queues/notifications/redrive', json({}, admin));
    expect(answer.status).toBe(404);
  });

  it.each([
    ['a field', '{"all":true}', 400],
    ['an array', '[]', 400],
    ['malformed JSON', '{', 400],
  ])('refuses a body with %s', async (_what, body, status) => {
    const { call, queues } = await queuesApi();
    queues.put(url('runs-dlq'), 'step');
    const answer = await call('POST', '/v1/admin/queues/runs/redrive', { body, headers: admin });
    expect(answer.status).toBe(status);
    expect(queues.bodies(url('runs-dlq'))).toEqual(['step']);
  });

  it.each([
    ['a store key', acme],
    ['no key', {}],
  ])('refuses %s with 401 and moves nothing', async (_what, headers) => {
    const { call, queues } = await queuesApi();
    queues.put(url('runs-dlq'), 'step');
    const answer = await call('POST', '/v1/admin/queues/runs/redrive', json({}, headers));
    expect(answer.status).toBe(401);
    expect(queues.bodies(url('runs-dlq'))).toEqual(['step']);
  });

  it('is a POST only', async () => {
    const { call } = await queuesApi();
    const answer = await call('GET', '/v1/admin/queues/runs/redrive', { headers: admin });
    expect(answer.status).toBe(405);
  });
});
