import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { queueNameOf } from '../../../lambdas/operations/domain/queues';
import { type CfnTemplate, synthesizePipelineTemplate } from '../../../local/template';
import { fetchApi } from '../support/openapi-validator';
import { type ApiAnswer, pipelineClient } from '../support/pipeline-client';
import { startTestStack, type TestStack } from '../support/test-stack';
import { sleep } from '../support/wait-for';

/**
 * `GET /v1/admin/queues` and `POST /v1/admin/queues/{name}/redrive` on the real API function and fauxqs. The
 * queue consumers are left out of the template, so that what is put on a queue stays there to be counted.
 */
jest.setTimeout(60_000);

const ADMIN_KEY = `sk_admin_${randomBytes(16).toString('hex')}`;
const QUEUES = [
  ['deliveries', 'Deliveries'],
  ['replays', 'Replays'],
  ['charges', 'Charges'],
  ['runs', 'Runs'],
  ['notifications', 'Notifications'],
] as const;

/** The pipeline's template without its SQS event source mappings: queues without consumers. */
function withoutQueueConsumers(template: CfnTemplate): CfnTemplate {
  const resources = Object.entries(template.Resources).filter(
    ([, resource]) =>
      !(
        resource.Type === 'AWS::Lambda::EventSourceMapping' &&
        JSON.stringify(resource.Properties?.EventSourceArn ?? '').includes('Queue')
      ),
  );
  return { ...template, Resources: Object.fromEntries(resources) };
}

let stack: TestStack;
let admin: ReturnType<typeof pipelineClient>;
let store: ReturnType<typeof pipelineClient>;

beforeAll(async () => {
  stack = await startTestStack(withoutQueueConsumers(synthesizePipelineTemplate()), {
    config: { adminApiKey: ADMIN_KEY },
  });
  admin = pipelineClient(stack.apiUrl, ADMIN_KEY);
  const created = await admin.call('POST', '/v1/admin/stores', { id: 'queues-store', name: 'Queues' });
  store = pipelineClient(stack.apiUrl, created.body.apiKey);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const queueUrl = (construct: string) => stack.ref(`${construct}Queue`);
const deadLetterUrl = (construct: string) => stack.ref(`${construct}DeadLetterQueue`);

async function putMessages(url: string, bodies: readonly string[], delaySeconds = 0) {
  for (let index = 0; index < bodies.length; index += 10) {
    await stack.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: bodies.slice(index, index + 10).map((body, position) => ({
          Id: String(position),
          MessageBody: body,
          DelaySeconds: delaySeconds,
          MessageAttributes: { reason: { DataType: 'String', StringValue: `failed #${index + position}` } },
        })),
      }),
    );
  }
}

/** The messages of a queue in every state, as fauxqs's inspection lists them (nothing is received). */
async function inspect(url: string): Promise<string[]> {
  const response = await fetch(
    new URL(`/_fauxqs/queues/${encodeURIComponent(queueNameOf(url))}`, stack.endpoints.sqs),
  );
  const queue = (await response.json()) as {
    messages?: {
      ready?: { body?: string }[];
      delayed?: { body?: string }[];
      inflight?: { message?: { body?: string } }[];
    };
  };
  const { ready = [], delayed = [], inflight = [] } = queue.messages ?? {};
  return [...ready, ...delayed, ...inflight.map((entry) => entry.message ?? {})].map((message) =>
    String(message.body),
  );
}

function queueOf(answer: ApiAnswer, name: string) {
  return answer.body.data.find((queue: { name: string }) => queue.name === name);
}

describe('GET /v1/admin/queues', () => {
  it('shows every work queue with its depths and dead letters, and the oldest ages from the emulator', async () => {
    const quiet = await admin.call('GET', '/v1/admin/queues');
    expect(quiet.status).toBe(200);
    expect(quiet.body.data.map((queue: { name: string }) => queue.name)).toEqual(
      QUEUES.map(([name]) => name),
    );
    for (const queue of quiet.body.data) {
      expect(queue).toEqual({ name: queue.name, visible: 0, inFlight: 0, delayed: 0, deadLetters: 0 });
    }

    await putMessages(queueUrl('Runs'), ['step 1', 'step 2']);
    await putMessages(queueUrl('Runs'), ['later'], 60);
    await putMessages(deadLetterUrl('Charges'), ['dead 1', 'dead 2', 'dead 3']);
    await putMessages(deadLetterUrl('Charges'), ['dead later'], 60);
    await sleep(2_100);

    const busy = await admin.call('GET', '/v1/admin/queues');
    expect(busy.status).toBe(200);
    const runs = queueOf(busy, 'runs');
    expect(runs).toMatchObject({ name: 'runs', visible: 2, inFlight: 0, delayed: 1, deadLetters: 0 });
    expect(runs.oldestAgeSeconds).toBeGreaterThanOrEqual(2);
    expect(runs).not.toHaveProperty('deadLetterOldestAgeSeconds');
    const charges = queueOf(busy, 'charges');
    // visible + in flight + delayed of the dead-letter queue
    expect(charges).toMatchObject({ name: 'charges', visible: 0, deadLetters: 4 });
    expect(charges.deadLetterOldestAgeSeconds).toBeGreaterThanOrEqual(2);
    expect(charges).not.toHaveProperty('oldestAgeSeconds');
  });

  it.each([
    ['a store key', () => store],
    ['no key', () => pipelineClient(stack.apiUrl, '')],
    ['a wrong key', () => pipelineClient(stack.apiUrl, 'sk_admin_wrong')],
  ])('refuses %s with 401 and shows nothing', async (_what, client) => {
    const answer = await client().call('GET', '/v1/admin/queues');
    expect(answer.status).toBe(401);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(answer.body).not.toHaveProperty('data');
  });
});

describe('POST /v1/admin/queues/{name}/redrive', () => {
  it('moves the dead letters back to their queue, bodies intact, and answers 202 {moved, remaining}', async () => {
    const bodies = Array.from({ length: 25 }, (_, index) =>
      JSON.stringify({ eventId: `evt_${index}`, attempt: 8 }),
    );
    await putMessages(deadLetterUrl('Deliveries'), bodies);

    const answer = await admin.call(
      'POST',
      '/v1/admin/queues/deliveries/redrive',
      {},
      { 'idempotency-key': 'redrive-deliveries-1' },
    );

    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ moved: 25, remaining: 0 });
    expect(await inspect(deadLetterUrl('Deliveries'))).toEqual([]);
    expect((await inspect(queueUrl('Deliveries'))).sort()).toEqual([...bodies].sort());
    const after = await admin.call('GET', '/v1/admin/queues');
    expect(queueOf(after, 'deliveries')).toMatchObject({ visible: 25, deadLetters: 0 });

    // The same key again: the first answer, and nothing moves twice.
    await putMessages(deadLetterUrl('Deliveries'), ['arrived since']);
    const again = await admin.call(
      'POST',
      '/v1/admin/queues/deliveries/redrive',
      {},
      { 'idempotency-key': 'redrive-deliveries-1' },
    );
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual({ moved: 25, remaining: 0 });
    expect(await inspect(deadLetterUrl('Deliveries'))).toEqual(['arrived since']);
  });

  it('takes an empty body', async () => {
    await putMessages(deadLetterUrl('Notifications'), ['mail 1', 'mail 2']);
    const response = await fetchApi(new URL('/v1/admin/queues/notifications/redrive', stack.apiUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ moved: 2, remaining: 0 });
    expect((await inspect(queueUrl('Notifications'))).sort()).toEqual(['mail 1', 'mail 2']);
  });

  it.each([
    ['an unknown queue', 'emails', 404],
    ['a dead-letter queue', 'deliveries-dlq', 404],
    ['a name in another case', 'Runs', 404],
    ['a queue URL', 'http%3A%2F%2F127.0.0.1%2Fq', 404],
  ])('answers %s with a 404 problem, moving nothing', async (_what, name, status) => {
    await putMessages(deadLetterUrl('Runs'), [`kept for ${name}`]);
    const answer = await admin.call('POST', `/v1/admin/queues/${name}/redrive`, {});
    expect(answer.status).toBe(status);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(await inspect(deadLetterUrl('Runs'))).toContain(`kept for ${name}`);
  });

  it.each([
    ['a field', { all: true }],
    ['an array', []],
    ['a string', '"everything"'],
    ['malformed JSON', '{"all":'],
  ])('refuses a body with %s (400), moving nothing', async (_what, body) => {
    await putMessages(deadLetterUrl('Replays'), ['replay kept']);
    const answer = await admin.call('POST', '/v1/admin/queues/replays/redrive', body);
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(await inspect(deadLetterUrl('Replays'))).toContain('replay kept');
  });

  it.each([
    ['a store key', () => store],
    ['no key', () => pipelineClient(stack.apiUrl, '')],
  ])('refuses %s with 401, moving nothing', async (_what, client) => {
    await stack.clients.sqs.send(
      new SendMessageCommand({ QueueUrl: deadLetterUrl('Charges'), MessageBody: 'not yours' }),
    );
    const answer = await client().call('POST', '/v1/admin/queues/charges/redrive', {});
    expect(answer.status).toBe(401);
    expect(await inspect(deadLetterUrl('Charges'))).toContain('not yours');
  });

  it('moves the charges dead letters too, and a second call finds nothing left', async () => {
    const first = await admin.call('POST', '/v1/admin/queues/charges/redrive', {});
    expect(first.status).toBe(202);
    expect(first.body.moved).toBeGreaterThanOrEqual(1);
    const { Attributes } = await stack.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: deadLetterUrl('Charges'),
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(first.body.remaining).toBe(Number(Attributes?.ApproximateNumberOfMessages));
    const second = await admin.call('POST', '/v1/admin/queues/charges/redrive', {});
    expect(second.body.moved).toBe(0);
  });
});
