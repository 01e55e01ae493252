import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { DynamoEventsRepository } from '../../lambdas/events/adapters/dynamo-events-repository';
import { DynamoTransactionsRepository } from '../../lambdas/events/adapters/dynamo-transactions-repository';
import { firstEventIdAt } from '../../lambdas/events/domain/events';
import type { AcceptedTransaction } from '../../lambdas/events/domain/transactions';
import { dnsResolver } from '../../lambdas/webhooks/adapters/dns-resolver';
import { DynamoAttemptsRepository } from '../../lambdas/webhooks/adapters/dynamo-attempts-repository';
import { DynamoEndpointsRepository } from '../../lambdas/webhooks/adapters/dynamo-endpoints-repository';
import { SqsReplayQueue } from '../../lambdas/webhooks/adapters/sqs-replay-queue';

/** A client that records each command's name and input and answers from a script, in order. */
function recordingClient(answers: ((input: Record<string, unknown>) => unknown)[] = []) {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ command: command.constructor.name, input: command.input });
      const answer = answers.shift();
      return answer ? answer(command.input) : {};
    },
  };
  return { client: client as unknown as DynamoDBDocumentClient & SQSClient, sent };
}

const conditionFailed = (item?: Record<string, unknown>) => () => {
  throw Object.assign(new Error('The conditional request failed'), {
    name: 'ConditionalCheckFailedException',
    ...(item ? { Item: marshall(item) } : {}),
  });
};

const record: AcceptedTransaction = {
  storeId: 'acme',
  txnId: 'order-1',
  eventId: 'evt_01J0000000000000000000000A',
  fingerprint: 'f'.repeat(64),
  acceptedAt: '2024-06-01T12:00:00.000Z',
  transaction: {
    id: 'order-1',
    customer: { email: 'ada@example.com' },
    currency: 'EUR',
    total: 100,
    items: [{ sku: 'a', name: 'A', quantity: 1, unitPrice: 100 }],
    createdAt: '2024-06-01T12:00:00.000Z',
  },
};

describe('DynamoTransactionsRepository', () => {
  it('accepts with one conditional put of exactly the record', async () => {
    const { client, sent } = recordingClient();
    const repository = new DynamoTransactionsRepository({ client, tableName: 'Transactions' });
    expect(await repository.accept(record)).toEqual({ accepted: true });
    expect(sent).toEqual([
      {
        command: 'PutCommand',
        input: {
          TableName: 'Transactions',
          Item: record,
          ConditionExpression: 'attribute_not_exists(txnId)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
    ]);
  });

  it('returns the existing identity from the failed condition, without a second request', async () => {
    const { client, sent } = recordingClient([
      conditionFailed({ ...record, eventId: 'evt_first', fingerprint: 'abc' }),
    ]);
    const repository = new DynamoTransactionsRepository({ client, tableName: 'Transactions' });
    expect(await repository.accept(record)).toEqual({
      accepted: false,
      existing: { eventId: 'evt_first', fingerprint: 'abc' },
    });
    expect(sent).toHaveLength(1);
  });

  it('lets other errors through', async () => {
    const { client } = recordingClient([
      () => {
        throw Object.assign(new Error('busy'), { name: 'ProvisionedThroughputExceededException' });
      },
    ]);
    const repository = new DynamoTransactionsRepository({ client, tableName: 'Transactions' });
    await expect(repository.accept(record)).rejects.toMatchObject({
      name: 'ProvisionedThroughputExceededException',
    });
  });
});

describe('DynamoEventsRepository', () => {
  const event = {
    id: 'evt_01J0000000000000000000000A',
    type: 'transaction.created' as const,
    createdAt: '2024-06-01T12:00:00.000Z',
    storeId: 'acme',
    data: { id: 'order-1' },
  };
  const item = (id: string, type = 'transaction.created') => ({
    ...event,
    id: undefined,
    eventId: id,
    type,
    origin: 'direct',
  });

  it('puts conditionally and takes an existing event as success', async () => {
    const { client, sent } = recordingClient([conditionFailed()]);
    const repository = new DynamoEventsRepository({ client, tableName: 'Events' });
    await repository.put(event, 'transaction');
    expect(sent[0]?.input).toEqual({
      TableName: 'Events',
      Item: {
        storeId: 'acme',
        eventId: event.id,
        type: 'transaction.created',
        createdAt: event.createdAt,
        data: event.data,
        origin: 'transaction',
      },
      ConditionExpression: 'attribute_not_exists(eventId)',
    });
  });

  it('gets an event with a consistent read, mapped back to the webhook body', async () => {
    const { client, sent } = recordingClient([() => ({ Item: item(event.id) })]);
    const repository = new DynamoEventsRepository({ client, tableName: 'Events' });
    expect(await repository.get('acme', event.id)).toEqual(event);
    expect(sent[0]?.input).toMatchObject({
      Key: { storeId: 'acme', eventId: event.id },
      ConsistentRead: true,
    });
  });

  it('pages past filtered-out items until the limit is met, and gives the last id as next', async () => {
    const { client, sent } = recordingClient([
      () => ({
        Items: [item('evt_1', 'datafeed.ready')],
        LastEvaluatedKey: { storeId: 'acme', eventId: 'evt_1' },
      }),
      () => ({
        Items: [item('evt_2', 'datafeed.ready'), item('evt_3', 'datafeed.ready')],
        LastEvaluatedKey: { k: 1 },
      }),
    ]);
    const repository = new DynamoEventsRepository({ client, tableName: 'Events' });
    const page = await repository.list('acme', { afterId: 'evt_0', types: ['datafeed.ready'], limit: 2 });
    expect(page.events.map((e) => e.id)).toEqual(['evt_1', 'evt_2']);
    expect(page.next).toBe('evt_2');
    expect(sent[0]?.input).toMatchObject({
      KeyConditionExpression: 'storeId = :storeId AND #eventId > :after',
      FilterExpression: '#type IN (:type0)',
      ExpressionAttributeNames: { '#eventId': 'eventId', '#type': 'type' },
      ExpressionAttributeValues: { ':storeId': 'acme', ':after': 'evt_0', ':type0': 'datafeed.ready' },
    });
    expect(sent[1]?.input.ExclusiveStartKey).toEqual({ storeId: 'acme', eventId: 'evt_1' });
  });

  it('gives no next when the partition ends', async () => {
    const { client, sent } = recordingClient([() => ({ Items: [item('evt_1')] })]);
    const repository = new DynamoEventsRepository({ client, tableName: 'Events' });
    expect(await repository.list('acme', { limit: 5 })).toEqual({
      events: [expect.objectContaining({ id: 'evt_1' })],
    });
    expect(sent[0]?.input).toMatchObject({ KeyConditionExpression: 'storeId = :storeId', Limit: 5 });
    expect(sent[0]?.input.ExpressionAttributeNames).toBeUndefined();
  });

  it('reads a window as one key range, skipping the cursor itself, and an empty range not at all', async () => {
    const since = firstEventIdAt(Date.parse('2024-05-01T00:00:00Z'));
    const until = Date.parse('2024-05-02T00:00:00Z');
    const { client, sent } = recordingClient([() => ({ Items: [{ ...item(since) }, item('evt_01HWXX')] })]);
    const repository = new DynamoEventsRepository({ client, tableName: 'Events' });
    const page = await repository.list('acme', { afterId: since, untilTime: until, limit: 10 });
    expect(page.events.map((e) => e.id)).toEqual(['evt_01HWXX']);
    expect(sent[0]?.input).toMatchObject({
      KeyConditionExpression: 'storeId = :storeId AND #eventId BETWEEN :after AND :last',
      ExpressionAttributeValues: {
        ':after': since,
        ':last': `${firstEventIdAt(until - 1).slice(0, 14)}${'Z'.repeat(16)}`,
      },
    });
    expect(
      await repository.list('acme', { afterId: firstEventIdAt(until), untilTime: until, limit: 10 }),
    ).toEqual({
      events: [],
    });
    expect(sent).toHaveLength(1);
  });
});

describe('DynamoEndpointsRepository', () => {
  const endpoint = {
    id: 'ep_1',
    storeId: 'acme',
    url: 'https://hooks.example.com/',
    events: ['*' as const],
    status: 'enabled' as const,
    secrets: [{ secret: 'whsec_x' }],
    createdAt: 't',
    updatedAt: 't',
  };

  it('stores the endpoint with its sort key, and reads it back without it', async () => {
    const { client, sent } = recordingClient([
      () => ({}),
      () => ({ Item: { ...endpoint, endpointId: 'ep_1' } }),
    ]);
    const repository = new DynamoEndpointsRepository({ client, tableName: 'Webhooks' });
    await repository.create(endpoint);
    expect(sent[0]?.input).toEqual({
      TableName: 'Webhooks',
      Item: { ...endpoint, endpointId: 'ep_1' },
      ConditionExpression: 'attribute_not_exists(endpointId)',
    });
    expect(await repository.get('acme', 'ep_1')).toEqual(endpoint);
    expect(sent[1]?.input).toMatchObject({
      Key: { storeId: 'acme', endpointId: 'ep_1' },
      ConsistentRead: true,
    });
  });

  it('updates an existing endpoint only; enabling removes the reason and the failing state', async () => {
    const { client, sent } = recordingClient([
      () => ({ Attributes: { ...endpoint, endpointId: 'ep_1' } }),
      conditionFailed(),
    ]);
    const repository = new DynamoEndpointsRepository({ client, tableName: 'Webhooks' });
    expect(await repository.update('acme', 'ep_1', { status: 'enabled', updatedAt: 'u' })).toEqual(endpoint);
    expect(sent[0]?.input).toMatchObject({
      UpdateExpression:
        'SET #status = :status, #updatedAt = :updatedAt REMOVE #disabledReason, #failingSince',
      ConditionExpression: 'attribute_exists(#endpointId)',
      ReturnValues: 'ALL_NEW',
    });
    expect(await repository.update('acme', 'gone', { url: 'https://x/', updatedAt: 'u' })).toBeUndefined();
  });

  it('starts a failing run once and reports when it began', async () => {
    const { client, sent } = recordingClient([
      () => ({ Attributes: { failingSince: 'first' } }),
      conditionFailed(),
    ]);
    const repository = new DynamoEndpointsRepository({ client, tableName: 'Webhooks' });
    expect(await repository.recordFailure('acme', 'ep_1', 'later')).toBe('first');
    expect(sent[0]?.input).toMatchObject({
      UpdateExpression: 'SET failingSince = if_not_exists(failingSince, :at)',
      ConditionExpression: 'attribute_exists(endpointId)',
    });
    expect(await repository.recordFailure('acme', 'deleted', 'later')).toBeUndefined();
  });

  it('disables only an enabled endpoint, swallowing the condition failure; deletes report absence', async () => {
    const { client, sent } = recordingClient([conditionFailed(), conditionFailed(), () => ({})]);
    const repository = new DynamoEndpointsRepository({ client, tableName: 'Webhooks' });
    await repository.disable('acme', 'ep_1', 'gone', 'now');
    expect(sent[0]?.input).toMatchObject({ ConditionExpression: '#status = :enabled' });
    expect(await repository.delete('acme', 'nope')).toBe(false);
    expect(await repository.delete('acme', 'ep_1')).toBe(true);
  });
});

describe('DynamoAttemptsRepository', () => {
  const attempt = {
    endpointId: 'ep_1',
    eventId: 'evt_A',
    attempt: 2,
    status: 'failed' as const,
    durationMs: 5,
    at: '2024-06-01T00:00:00.000Z',
  };

  it('keys attempts by delivery and attempt number, with a 30-day TTL', async () => {
    const { client, sent } = recordingClient();
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    await repository.record(attempt);
    await repository.record({ ...attempt, replayId: 'rpl_X', attempt: 12 });
    expect(sent[0]?.input.Item).toEqual({
      ...attempt,
      sk: 'evt_A#0#002',
      expiresAt: Date.parse(attempt.at) / 1000 + 30 * 86_400,
    });
    expect(sent[1]?.input.Item).toMatchObject({ sk: 'evt_A#rpl_X#012' });
  });

  const ref = { endpointId: 'ep_1', eventId: 'evt_A' };
  const lease = { holder: 'm1#1#x', until: 5_000, attempt: 1, at: '2024-06-01T00:00:00.000Z' };

  it('claims the delivery’s lease in one conditional put on its success key', async () => {
    const { client, sent } = recordingClient([() => ({}), () => ({ Attributes: { status: 'sending' } })]);
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    expect(await repository.claim(ref, lease, 4_000)).toEqual({ kind: 'claimed', tookOver: false });
    expect(await repository.claim({ ...ref, replayId: 'rpl_X' }, lease, 6_000)).toEqual({
      kind: 'claimed',
      tookOver: true,
    });
    expect(sent[0]?.input).toEqual({
      TableName: 'Attempts',
      Item: {
        endpointId: 'ep_1',
        eventId: 'evt_A',
        sk: 'evt_A#0#ok',
        attempt: 1,
        status: 'sending',
        holder: 'm1#1#x',
        leaseUntil: 5_000,
        at: lease.at,
        expiresAt: Date.parse(lease.at) / 1000 + 30 * 86_400,
      },
      ConditionExpression: 'attribute_not_exists(sk) OR (#status = :sending AND leaseUntil <= :now)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':sending': 'sending', ':now': 4_000 },
      ReturnValues: 'ALL_OLD',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(sent[1]?.input.Item).toMatchObject({ sk: 'evt_A#rpl_X#ok', replayId: 'rpl_X' });
  });

  it('tells a success from a live lease by the item the failed condition returns, without a second request', async () => {
    const { client, sent } = recordingClient([
      conditionFailed({ status: 'succeeded' }),
      conditionFailed({ status: 'sending', leaseUntil: 9_000, holder: 'other' }),
    ]);
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    expect(await repository.claim(ref, lease, 4_000)).toEqual({ kind: 'succeeded' });
    expect(await repository.claim(ref, lease, 4_000)).toEqual({
      kind: 'held',
      until: 9_000,
      holder: 'other',
    });
    expect(sent).toHaveLength(2);
  });

  it('releases only a lease its holder still has', async () => {
    const { client, sent } = recordingClient([conditionFailed()]);
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    await expect(repository.release(ref, 'm1#1#x')).resolves.toBeUndefined();
    expect(sent[0]).toEqual({
      command: 'DeleteCommand',
      input: {
        TableName: 'Attempts',
        Key: { endpointId: 'ep_1', sk: 'evt_A#0#ok' },
        ConditionExpression: '#status = :sending AND holder = :holder',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':sending': 'sending', ':holder': 'm1#1#x' },
      },
    });
  });

  it('looks for the success of one delivery by its known key, with a consistent read; a lease is not one', async () => {
    const { client, sent } = recordingClient([
      () => ({}),
      () => ({ Item: { status: 'sending' } }),
      () => ({ Item: { status: 'succeeded' } }),
    ]);
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    expect(await repository.hasSucceeded('ep_1', 'evt_A', 'rpl_X')).toBe(false);
    expect(await repository.hasSucceeded('ep_1', 'evt_A')).toBe(false);
    expect(await repository.hasSucceeded('ep_1', 'evt_A')).toBe(true);
    expect(sent[0]?.input).toMatchObject({
      Key: { endpointId: 'ep_1', sk: 'evt_A#rpl_X#ok' },
      ConsistentRead: true,
    });
    expect(sent[1]?.input).toMatchObject({ Key: { endpointId: 'ep_1', sk: 'evt_A#0#ok' } });
  });

  it('records a success over the lease, once; failures under their attempt number', async () => {
    const duplicate = Object.assign(new Error('exists'), { name: 'ConditionalCheckFailedException' });
    const { client, sent } = recordingClient([
      () => ({}),
      () => {
        throw duplicate;
      },
      () => ({}),
    ]);
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    await repository.record({ ...attempt, status: 'succeeded' });
    await expect(repository.record({ ...attempt, status: 'succeeded' })).resolves.toBeUndefined();
    await repository.record({ ...attempt, status: 'failed', attempt: 2 });
    expect(sent[0]?.input).toMatchObject({
      Item: { sk: 'evt_A#0#ok', status: 'succeeded' },
      ConditionExpression: 'attribute_not_exists(sk) OR #status = :sending',
    });
    expect(sent[0]?.input.Item).not.toHaveProperty('holder');
    expect(sent[2]?.input).toMatchObject({ Item: { sk: 'evt_A#0#002' } });
    expect(sent[2]?.input.ConditionExpression).toBeUndefined();
  });

  it('lists newest first without its own key attributes, leaving leases out; a full page continues after its last', async () => {
    const { client, sent } = recordingClient([
      () => ({
        Items: [{ ...attempt, sk: 'evt_A#0#002', expiresAt: 1 }],
        LastEvaluatedKey: { endpointId: 'ep_1', sk: 'evt_A#0#002' },
        ScannedCount: 2,
      }),
      () => ({
        Items: [
          { ...attempt, attempt: 1, sk: 'evt_A#0#001', expiresAt: 1 },
          { ...attempt, eventId: 'evt_0', sk: 'evt_0#0#001', expiresAt: 1 },
        ],
        ScannedCount: 2,
      }),
    ]);
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    expect(await repository.list('ep_1', { limit: 2 })).toEqual({
      attempts: [attempt, { ...attempt, attempt: 1 }],
      next: 'evt_A#0#001',
    });
    expect(sent[0]?.input).toMatchObject({
      KeyConditionExpression: 'endpointId = :endpointId',
      ScanIndexForward: false,
      FilterExpression: '#status IN (:status0, :status1)',
      ExpressionAttributeValues: { ':status0': 'succeeded', ':status1': 'failed' },
    });
    expect(sent[0]?.input.ExclusiveStartKey).toBeUndefined();
    expect(sent[1]?.input.ExclusiveStartKey).toEqual({ endpointId: 'ep_1', sk: 'evt_A#0#002' });
  });

  it('filters by event as a key prefix and by status, from the cursor; the last page has no next', async () => {
    const { client, sent } = recordingClient([
      () => ({ Items: [{ ...attempt, sk: 'evt_A#0#001', expiresAt: 1 }], ScannedCount: 1 }),
    ]);
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    expect(
      await repository.list('ep_1', { limit: 5, status: 'failed', eventId: 'evt_A', after: 'evt_A#0#002' }),
    ).toEqual({ attempts: [attempt] });
    expect(sent[0]?.input).toMatchObject({
      KeyConditionExpression: 'endpointId = :endpointId AND begins_with(sk, :event)',
      FilterExpression: '#status IN (:status0)',
      ExpressionAttributeValues: { ':endpointId': 'ep_1', ':event': 'evt_A#', ':status0': 'failed' },
      ExclusiveStartKey: { endpointId: 'ep_1', sk: 'evt_A#0#002' },
    });
  });

  it('gives no next when the partition ends after pages that did not fill the limit', async () => {
    const { client, sent } = recordingClient([
      () => ({
        Items: [{ ...attempt, sk: 'evt_B#0#ok', expiresAt: 1 }],
        LastEvaluatedKey: { endpointId: 'ep_1', sk: 'evt_A#0#ok' },
        ScannedCount: 25,
      }),
      () => ({ Items: [{ ...attempt, sk: 'evt_0#0#ok', expiresAt: 1 }], ScannedCount: 3 }),
    ]);
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    expect(await repository.list('ep_1', { limit: 5 })).toEqual({ attempts: [attempt, attempt] });
    expect(sent).toHaveLength(2);
  });

  it('reads a bounded number of items per request: a rare status answers a short page with a next', async () => {
    let served = 0;
    const page = () => {
      served += 1;
      return {
        Items: [],
        ScannedCount: 100,
        LastEvaluatedKey: { endpointId: 'ep_1', sk: `evt_${1000 - served}#0#ok` },
      };
    };
    const { client, sent } = recordingClient(Array.from({ length: 20 }, () => page));
    const repository = new DynamoAttemptsRepository({ client, tableName: 'Attempts' });
    const result = await repository.list('ep_1', { limit: 10, status: 'failed' });
    expect(result.attempts).toEqual([]);
    expect(result.next).toBe(`evt_${1000 - sent.length}#0#ok`);
    // 500 items evaluated at most, whatever the log holds.
    expect(sent.length).toBe(5);
    expect(sent.every((call) => Number(call.input.Limit) <= 500)).toBe(true);
  });
});

describe('SqsReplayQueue', () => {
  it('sends the job as JSON', async () => {
    const { client, sent } = recordingClient();
    const queue = new SqsReplayQueue({ client, queueUrl: 'https://sqs/replays' });
    const job = { storeId: 'acme', endpointId: 'ep_1', replayId: 'rpl_1', since: 1, until: 2 };
    await queue.send(job);
    expect(sent).toEqual([
      {
        command: 'SendMessageCommand',
        input: { QueueUrl: 'https://sqs/replays', MessageBody: JSON.stringify(job) },
      },
    ]);
  });
});

describe('dnsResolver', () => {
  it('gives every address of a name (from the hosts file: no network)', async () => {
    const addresses = await dnsResolver.resolve('localhost');
    expect(addresses.some((address) => address === '127.0.0.1' || address === '::1')).toBe(true);
  });
});
