import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { gatewayScheduleKey } from '../../../lambdas/billing/adapters/dynamo-gateway-schedule';
import { GATEWAY_LIMIT_KEY } from '../../../lambdas/billing/domain/gateway-pace';
import { createDocumentClient } from '../../../lambdas/platform/dynamodb';
import { createPipelineApp } from '../../../lib/app';
import { synthesizeTemplate } from '../../../local/template';
import { sleep, waitFor } from '../support/wait-for';
import {
  type BillingTestStack,
  chargeKey,
  daysAgo,
  ledgerOf,
  newStore,
  type RunProgress,
  scanTable,
  startBillingTestStack,
  subscriptionBody,
  waitForRun,
} from './support';

/**
 * The gateway's rate limit on the real stack: the charge function in the local runtime's execution environments,
 * DynamoDB Local holding the shared schedule, and the bundled gateway over HTTP answering 429 `rate_limit` as Stripe's
 * rate limiter does. A 429 is not an answer: the charge stays pending, is asked again with its key, and is charged
 * once; and the charge consumer's environments together keep to PAYMENT_GATEWAY_RATE_LIMIT.
 */
jest.setTimeout(120_000);

const adminKey = `sk_admin_${randomBytes(16).toString('hex')}`;
let billing: BillingTestStack;

beforeAll(async () => {
  // The template sized for the limit, as `cdk deploy` with this setting would size it: 2 charge invocations.
  const { stack } = createPipelineApp({
    bundle: false,
    nag: false,
    stackProps: { settings: { PAYMENT_GATEWAY_RATE_LIMIT: '10' } },
  });
  billing = await startBillingTestStack(
    adminKey,
    { PAYMENT_GATEWAY_RATE_LIMIT: '10' },
    synthesizeTemplate(stack),
  );
}, 120_000);

afterAll(async () => {
  await billing?.stop();
});

afterEach(() => {
  billing.gateway.rateLimit = undefined;
  billing.gateway.latencyMs = 0;
});

async function chargesDeadLetters(): Promise<number> {
  const { Attributes = {} } = await billing.stack.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: billing.stack.ref('ChargesDeadLetterQueue'),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
}

interface ChargeItem {
  readonly subscriptionId: string;
  readonly status: string;
  readonly idempotencyKey: string;
  readonly keyGeneration?: number;
  readonly serverErrorAt?: string;
  readonly asks?: number;
  readonly period: string;
}

describe('a gateway that answers 429', () => {
  it('without end loses and doubles no charge: it stays pending, off the DLQ, and is charged once when the 429s stop', async () => {
    // Prepare: every request refused by the gateway's rate limiter.
    const store = await newStore(billing, 'rl-forever');
    const day = 21;
    const subscription = subscriptionBody({ id: 'sub_429', startAt: daysAgo(day, '06:00:00.000Z') });
    expect((await store.client.call('POST', '/v1/subscriptions', subscription)).status).toBe(201);
    billing.gateway.rateLimit = { requestsPerSecond: 0 };
    const refusedBefore = billing.gateway.rateLimitedRequests;

    // Act: the run, for long enough to ask the charge several times (retries from 1 s, doubling, jittered).
    const asOf = daysAgo(day);
    const runId = asOf.slice(0, 10);
    expect((await billing.admin.call('POST', '/v1/admin/subscription-runs', { asOf })).status).toBe(202);
    await waitFor(
      () => Promise.resolve(billing.gateway.rateLimitedRequests - refusedBefore),
      (refused) => refused >= 3,
      { timeoutMs: 30_000, intervalMs: 200, what: 'three 429s' },
    );

    // Assess, while refused: pending under its first key, nothing stored, nothing searched, not dead-lettered.
    const pending = (await scanTable<ChargeItem>(billing.stack, 'ChargesTable')).find(
      (charge) => charge.subscriptionId === 'sub_429',
    );
    expect(pending).toMatchObject({
      status: 'pending',
      idempotencyKey: chargeKey(store.id, 'sub_429', pending?.period ?? '', 0),
    });
    expect(pending?.keyGeneration).toBeUndefined();
    expect(pending?.serverErrorAt).toBeUndefined();
    expect(pending?.asks ?? 0).toBeGreaterThanOrEqual(2);
    expect(ledgerOf(billing, 'sub_429')).toEqual([]);
    const progress = await billing.admin.call<RunProgress>('GET', `/v1/admin/subscription-runs/${runId}`);
    expect(progress.body).toMatchObject({ status: 'running' });
    expect(progress.body.pending).toBeGreaterThanOrEqual(1);
    expect(await chargesDeadLetters()).toBe(0);

    // The 429s stop: the next ask, with the same key, charges it once.
    billing.gateway.rateLimit = undefined;
    const view = await waitForRun(billing, runId, 90_000);
    expect(view).toMatchObject({ status: 'completed', pending: 0 });
    const moved = billing.gateway.successfulCharges({ subscription_id: 'sub_429' });
    expect(moved.map((entry) => entry.idempotencyKey)).toEqual([
      chargeKey(store.id, 'sub_429', pending?.period ?? '', 0),
    ]);
    const charge = (await scanTable<ChargeItem>(billing.stack, 'ChargesTable')).find(
      (item) => item.subscriptionId === 'sub_429',
    );
    expect(charge).toMatchObject({ status: 'succeeded' });
    expect(charge?.keyGeneration).toBeUndefined();
  });

  it('past the shared limit: a run completes with every charge made exactly once, and the limit shared in the runs table', async () => {
    // Prepare: 40 due subscriptions; the gateway takes 100 ms per request and refuses past 6 requests a second,
    // below the pipeline's PAYMENT_GATEWAY_RATE_LIMIT of 10: 429s come all along, not only at the start.
    await sleep(1_100);
    const day = 22;
    const store = await newStore(billing, 'rl-run');
    const ids = Array.from({ length: 40 }, (_, index) => `sub_rl_${index}`);
    for (const id of ids) {
      const body = subscriptionBody({ id, startAt: daysAgo(day, '06:00:00.000Z') });
      expect((await store.client.call('POST', '/v1/subscriptions', body)).status).toBe(201);
    }
    billing.gateway.latencyMs = 100;
    billing.gateway.rateLimit = { requestsPerSecond: 6 };
    const refusedBefore = billing.gateway.rateLimitedRequests;
    // Create requests as they reach the gateway (after its rate limiter), timed.
    const asked: number[] = [];
    const faults = billing.gateway.faults;
    billing.gateway.faults = (request) => {
      asked.push(Date.now());
      return faults(request);
    };

    // Act
    const asOf = daysAgo(day);
    const runId = asOf.slice(0, 10);
    const started = Date.now();
    expect((await billing.admin.call('POST', '/v1/admin/subscription-runs', { asOf })).status).toBe(202);
    await waitFor(
      () =>
        Promise.resolve(
          ids.filter((id) => billing.gateway.successfulCharges({ subscription_id: id }).length > 0),
        ),
      (charged) => charged.length === ids.length,
      { timeoutMs: 100_000, intervalMs: 500, what: 'every subscription charged' },
    ).finally(() => {
      billing.gateway.faults = faults;
    });
    const view = await waitForRun(billing, runId, 60_000);

    // Assess: one PaymentIntent per subscription, under its first key; the run counted them all.
    for (const id of ids) {
      expect(ledgerOf(billing, id).map((entry) => entry.idempotencyKey)).toEqual([
        chargeKey(store.id, id, asOf.slice(0, 10), 0),
      ]);
    }
    expect(view.succeeded).toBeGreaterThanOrEqual(ids.length);
    expect(await chargesDeadLetters()).toBe(0);
    // The gateway refused some (its limit is below ours), and the charges went no faster than the gateway allows.
    expect(billing.gateway.rateLimitedRequests - refusedBefore).toBeGreaterThan(0);
    const seconds = (Math.max(...asked) - started) / 1000;
    expect(ids.length / seconds).toBeLessThanOrEqual(10);
    // The environments shared their schedule in the runs table, under the gateway's own partition.
    const documents = createDocumentClient(billing.stack.clients.dynamodb);
    const { Item } = await documents.send(
      new GetCommand({
        TableName: billing.stack.ref('RunsTable'),
        Key: gatewayScheduleKey(GATEWAY_LIMIT_KEY),
      }),
    );
    expect(Item).toMatchObject({ kind: 'gateway-rate-limit', nextAt: expect.any(Number) });
    expect(Item?.nextAt).toBeGreaterThan(started);
  });

  it('at the shared limit: about the limit’s pace, and 429s only within the bound’s slack', async () => {
    // Prepare: the gateway refuses past 10 requests a second, the pipeline's own limit.
    await sleep(1_100);
    const day = 23;
    const store = await newStore(billing, 'rl-paced');
    const ids = Array.from({ length: 50 }, (_, index) => `sub_pace_${index}`);
    for (const id of ids) {
      const body = subscriptionBody({ id, startAt: daysAgo(day, '06:00:00.000Z') });
      expect((await store.client.call('POST', '/v1/subscriptions', body)).status).toBe(201);
    }
    billing.gateway.latencyMs = 100;
    billing.gateway.rateLimit = { requestsPerSecond: 10 };
    const refusedAt = billing.gateway.rateLimitedAt.length;
    const asked: number[] = [];
    const faults = billing.gateway.faults;
    billing.gateway.faults = (request) => {
      asked.push(Date.now());
      return faults(request);
    };

    // Act
    const asOf = daysAgo(day);
    const runId = asOf.slice(0, 10);
    expect((await billing.admin.call('POST', '/v1/admin/subscription-runs', { asOf })).status).toBe(202);
    await waitFor(
      () =>
        Promise.resolve(
          ids.filter((id) => billing.gateway.successfulCharges({ subscription_id: id }).length > 0),
        ),
      (charged) => charged.length === ids.length,
      { timeoutMs: 100_000, intervalMs: 500, what: 'every subscription charged' },
    ).finally(() => {
      billing.gateway.faults = faults;
    });
    await waitForRun(billing, runId, 60_000);

    // Assess: after the first 2 s (cold environments, first writes), none: the shared schedule keeps any two sends
    // 1/rate apart (docs/rate-limiter.md); allow 2 for a slow local host. Each charged once.
    const refused = billing.gateway.rateLimitedAt.slice(refusedAt);
    const first = Math.min(...asked, ...refused);
    expect(refused.filter((at) => at >= first + 2_000).length).toBeLessThanOrEqual(2);
    for (const id of ids) expect(ledgerOf(billing, id)).toHaveLength(1);
    // And the charges went at about the limit's pace (9.5/s let through), not slower than 80% of it.
    const span = (Math.max(...asked) - first) / 1000;
    expect(ids.length / span).toBeGreaterThanOrEqual(0.8 * 9.5);
  });
});
