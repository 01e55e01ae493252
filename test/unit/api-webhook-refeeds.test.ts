import type { EventType } from '../../lambdas/events/domain/events';
import type { DeliveryJob, ReplayJob } from '../../lambdas/webhooks/domain/messages';
import { acme, json, other, webhookApi } from './support/in-memory-api';
import { eventIdAt } from './support/webhook-fakes';

// POST /v1/webhooks/{id}/recover, /events/{eventId}/resend and /test (docs/api.md section 3).

const NOW = Date.parse('2024-06-01T12:00:00.000Z');
const fields = (body: { errors: { field: string }[] }) => body.errors.map((e) => e.field);

/** An endpoint created on May 10th (events: `events`), and the clock at NOW. */
async function withEndpoint(events: readonly (EventType | '*')[] = ['*']) {
  const setup = await webhookApi({ now: Date.parse('2024-05-10T00:00:00.000Z') });
  const created = await setup.call(
    'POST',
    '/v1/webhooks',
    json({ url: 'https://hooks.example.com/in', events }),
  );
  expect(created.status).toBe(201);
  setup.clock.now = NOW;
  const endpoint = created.body as { id: string };
  const put = async (iso: string, type: EventType = 'transaction.created', storeId = 'acme') => {
    const id = eventIdAt(iso);
    await setup.deps.events.put({ id, type, createdAt: iso, storeId, data: {} }, 'transaction');
    return id;
  };
  const succeeded = (eventId: string, replayId?: string) =>
    setup.deps.attempts.record({
      endpointId: endpoint.id,
      eventId,
      ...(replayId ? { replayId } : {}),
      attempt: 1,
      status: 'succeeded',
      responseStatus: 200,
      durationMs: 5,
      at: '2024-05-31T00:00:00.000Z',
    });
  const failed = (eventId: string) =>
    setup.deps.attempts.record({
      endpointId: endpoint.id,
      eventId,
      attempt: 1,
      status: 'failed',
      responseStatus: 500,
      durationMs: 5,
      error: 'HTTP 500',
      at: '2024-05-31T00:00:00.000Z',
    });
  return { ...setup, endpoint, put, succeeded, failed };
}

describe('POST /v1/webhooks/{id}/recover', () => {
  it('counts only the events of the window whose delivery did not succeed, and sends one recover job', async () => {
    const t = await withEndpoint();
    const delivered = await t.put('2024-05-31T01:00:00.000Z');
    const failed = await t.put('2024-05-31T02:00:00.000Z');
    const neverSent = await t.put('2024-05-31T03:00:00.000Z');
    const replayed = await t.put('2024-05-31T04:00:00.000Z');
    await t.put('2024-05-31T05:00:00.000Z', 'transaction.created', 'other');
    await t.put('2024-05-07T00:00:00.000Z'); // before the endpoint existed
    await t.succeeded(delivered);
    await t.failed(failed);
    await t.failed(replayed);
    await t.succeeded(replayed, 'rpl_01J00000000000000000000000');
    expect(neverSent).toBeDefined();

    const response = await t.call(
      'POST',
      `/v1/webhooks/${t.endpoint.id}/recover`,
      json({ since: '2024-05-05T00:00:00Z' }),
    );
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ recoveryId: expect.stringMatching(/^rcv_[0-9A-Z]{26}$/), count: 2 });
    expect(t.deps.replays.jobs).toEqual([
      {
        storeId: 'acme',
        endpointId: t.endpoint.id,
        replayId: response.body.recoveryId,
        // The window starts when the endpoint was created.
        since: Date.parse('2024-05-10T00:00:00.000Z'),
        until: NOW,
        trigger: 'recover',
      } satisfies ReplayJob,
    ]);
  });

  it('keeps to the types the endpoint subscribes to', async () => {
    const t = await withEndpoint(['subscription.charged']);
    await t.put('2024-05-31T01:00:00.000Z', 'transaction.created');
    await t.put('2024-05-31T02:00:00.000Z', 'subscription.charged');
    const response = await t.call(
      'POST',
      `/v1/webhooks/${t.endpoint.id}/recover`,
      json({ since: '2024-05-30T00:00:00Z' }),
    );
    expect(response.body.count).toBe(1);
    expect(t.deps.replays.jobs[0]).toMatchObject({ types: ['subscription.charged'] });
  });

  it('sends no job when everything was delivered', async () => {
    const t = await withEndpoint();
    await t.succeeded(await t.put('2024-05-31T01:00:00.000Z'));
    const response = await t.call(
      'POST',
      `/v1/webhooks/${t.endpoint.id}/recover`,
      json({ since: '2024-05-30T00:00:00Z' }),
    );
    expect(response.status).toBe(202);
    expect(response.body.count).toBe(0);
    expect(t.deps.replays.jobs).toHaveLength(0);
  });

  it.each([
    ['until', { since: '2024-05-31T00:00:00Z', until: '2024-05-30T00:00:00Z' }],
    ['since', { since: '2024-04-01T00:00:00Z', until: '2024-05-31T00:00:00Z' }],
    ['since', { since: '2024-06-02T00:00:00Z' }],
    ['until', { since: '2024-05-31T00:00:00Z', until: '2024-06-02T00:00:00Z' }],
    ['since', { since: 'yesterday' }],
    ['since', {}],
    ['(body)', { since: '2024-05-31T00:00:00Z', events: ['transaction.created'] }],
  ])('answers 400 naming %s for an inverted, future, too large or malformed window', async (field, body) => {
    const t = await withEndpoint();
    const response = await t.call('POST', `/v1/webhooks/${t.endpoint.id}/recover`, json(body));
    expect(response.status).toBe(400);
    expect(fields(response.body)).toContain(field);
    expect(t.deps.replays.jobs).toHaveLength(0);
  });

  it('answers 404 for another store’s endpoint and 409 for a disabled one', async () => {
    const t = await withEndpoint();
    const body = { since: '2024-05-31T00:00:00Z' };
    expect((await t.call('POST', `/v1/webhooks/${t.endpoint.id}/recover`, json(body, other))).status).toBe(
      404,
    );
    await t.call('PATCH', `/v1/webhooks/${t.endpoint.id}`, json({ status: 'disabled' }));
    expect((await t.call('POST', `/v1/webhooks/${t.endpoint.id}/recover`, json(body))).status).toBe(409);
  });

  it('replays the first 202 for a repeated Idempotency-Key, sending one job', async () => {
    const t = await withEndpoint();
    await t.put('2024-05-31T01:00:00.000Z');
    const request = [
      'POST',
      `/v1/webhooks/${t.endpoint.id}/recover`,
      json({ since: '2024-05-31T00:00:00Z' }, { ...acme, 'idempotency-key': 'recover-1' }),
    ] as const;
    const first = await t.call(...request);
    const again = await t.call(...request);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(t.deps.replays.jobs).toHaveLength(1);
  });
});

describe('POST /v1/webhooks/{id}/events/{eventId}/resend', () => {
  it('sends that event again as a delivery of its own, whatever its earlier outcome', async () => {
    const t = await withEndpoint();
    const eventId = await t.put('2024-05-31T01:00:00.000Z');
    await t.succeeded(eventId);
    const response = await t.call('POST', `/v1/webhooks/${t.endpoint.id}/events/${eventId}/resend`, {
      headers: acme,
    });
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ eventId });
    const job = t.deps.replays.jobs[0] as DeliveryJob;
    expect(job.delivery).toEqual({
      storeId: 'acme',
      endpointId: t.endpoint.id,
      eventId,
      replayId: expect.stringMatching(/^rsd_[0-9A-Z]{26}$/),
      trigger: 'resend',
      attempt: 1,
      event: expect.objectContaining({ id: eventId, type: 'transaction.created' }),
    });
  });

  it('answers 404 for an event of another store, or no event, and 422 for a type the endpoint does not want', async () => {
    const t = await withEndpoint(['subscription.charged']);
    const others = await t.put('2024-05-31T01:00:00.000Z', 'subscription.charged', 'other');
    const unwanted = await t.put('2024-05-31T02:00:00.000Z', 'transaction.created');
    const path = (eventId: string) => `/v1/webhooks/${t.endpoint.id}/events/${eventId}/resend`;
    expect((await t.call('POST', path(others), { headers: acme })).status).toBe(404);
    expect((await t.call('POST', path('evt_nope'), { headers: acme })).status).toBe(404);
    const refused = await t.call('POST', path(unwanted), { headers: acme });
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toContain('transaction.created');
    expect((await t.call('POST', path(others), { headers: other })).status).toBe(404);
    expect(t.deps.replays.jobs).toHaveLength(0);
  });

  it('honours Idempotency-Key', async () => {
    const t = await withEndpoint();
    const eventId = await t.put('2024-05-31T01:00:00.000Z');
    const headers = { ...acme, 'idempotency-key': 'resend-1' };
    const path = `/v1/webhooks/${t.endpoint.id}/events/${eventId}/resend`;
    await t.call('POST', path, { headers });
    const again = await t.call('POST', path, { headers });
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(t.deps.replays.jobs).toHaveLength(1);
  });
});

describe('POST /v1/webhooks/{id}/test', () => {
  it('sends a webhook.test event to this endpoint only, without storing it', async () => {
    const t = await withEndpoint(['transaction.created']);
    const response = await t.call('POST', `/v1/webhooks/${t.endpoint.id}/test`, json({}));
    expect(response.status).toBe(202);
    const eventId = response.body.eventId as string;
    expect(eventId).toMatch(/^evt_[0-9A-Z]{26}$/);
    const job = t.deps.replays.jobs[0] as DeliveryJob;
    expect(job.delivery).toEqual({
      storeId: 'acme',
      endpointId: t.endpoint.id,
      eventId,
      trigger: 'test',
      attempt: 1,
      event: {
        id: eventId,
        type: 'webhook.test',
        createdAt: '2024-06-01T12:00:00.000Z',
        storeId: 'acme',
        data: { endpointId: t.endpoint.id },
      },
    });
    expect(await t.deps.events.get('acme', eventId)).toBeUndefined();
  });

  it('takes an empty body, refuses fields, and honours Idempotency-Key', async () => {
    const t = await withEndpoint();
    const path = `/v1/webhooks/${t.endpoint.id}/test`;
    expect((await t.call('POST', path, { headers: acme })).status).toBe(202);
    expect((await t.call('POST', path, json({ type: 'x' }))).status).toBe(400);
    const headers = { ...acme, 'idempotency-key': 'test-1' };
    const first = await t.call('POST', path, json({}, headers));
    const again = await t.call('POST', path, json({}, headers));
    expect(again.body).toEqual(first.body);
    expect(t.deps.replays.jobs).toHaveLength(2);
  });

  it('cannot be subscribed to', async () => {
    const t = await withEndpoint();
    const response = await t.call(
      'POST',
      '/v1/webhooks',
      json({ url: 'https://hooks.example.com/in', events: ['webhook.test'] }),
    );
    expect(response.status).toBe(400);
    const notice = await t.call(
      'POST',
      '/v1/webhooks',
      json({ url: 'https://hooks.example.com/in', events: ['webhook_endpoint.disabled'] }),
    );
    expect(notice.status).toBe(201);
  });
});
