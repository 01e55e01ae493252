import { queueOverview, redriveQueue } from '../../lambdas/operations/domain/queue-operations';
import { describeError, queueNameOf, readQueues } from '../../lambdas/operations/domain/queues';
import { redrive } from '../../lambdas/operations/domain/redrive';
import { fakeQueueOperations, fakeQueuePairs, InMemoryQueues } from './support/in-memory-queues';

const pair = { sourceUrl: 'https://sqs.test/1/source', deadLetterUrl: 'https://sqs.test/1/dlq' };

describe('redrive (one loop for the CLI and the API)', () => {
  it('moves every message, then stops after two empty reads', async () => {
    const clock = { now: 0 };
    const queues = new InMemoryQueues(clock);
    for (let index = 0; index < 23; index += 1) queues.put(pair.deadLetterUrl, `m${index}`);
    const progress: number[] = [];
    const result = await redrive(queues, pair, { onProgress: (moved) => progress.push(moved) });
    expect(result).toEqual({ moved: 23, failed: 0, stoppedBy: 'empty' });
    expect(progress).toEqual([10, 20, 23]);
    // Three batches, then two empty reads.
    expect(queues.receives).toBe(5);
    expect(queues.bodies(pair.sourceUrl)).toHaveLength(23);
  });

  it('deletes only what was sent: a message that could not be sent stays on the dead-letter queue', async () => {
    const queues = new InMemoryQueues({ now: 0 });
    queues.put(pair.deadLetterUrl, 'ok');
    queues.put(pair.deadLetterUrl, 'refused');
    queues.failSendsOf.add('refused');
    const result = await redrive(queues, pair);
    expect(result).toEqual({ moved: 1, failed: 1, stoppedBy: 'empty' });
    expect(queues.bodies(pair.deadLetterUrl)).toEqual(['refused']);
  });

  it('starts no batch after its budget, and finishes the one under way', async () => {
    const clock = { now: 0 };
    const queues = new InMemoryQueues(clock);
    queues.receiveTakesMs = 2_000;
    for (let index = 0; index < 50; index += 1) queues.put(pair.deadLetterUrl, `m${index}`);
    const result = await redrive(queues, pair, { budgetMs: 5_000, now: () => clock.now });
    // Receives at 0 (done at 2 s), 2 s (done at 4 s), 4 s (done at 6 s); none started at 6 s.
    expect(result).toEqual({ moved: 30, failed: 0, stoppedBy: 'budget' });
    expect(queues.bodies(pair.deadLetterUrl)).toHaveLength(20);
  });

  it('answers the remaining visible dead letters after a budgeted redrive, and nothing for an unknown queue', async () => {
    const clock = { now: 0 };
    const queues = new InMemoryQueues(clock);
    queues.receiveTakesMs = 1_000;
    const operations = fakeQueueOperations(queues, { names: ['runs'], redriveBudgetMs: 1_500 });
    const dlq = operations.pairs.runs?.deadLetterUrl as string;
    for (let index = 0; index < 35; index += 1) queues.put(dlq, `step ${index}`);
    expect(await redriveQueue(operations, 'runs', { now: () => clock.now })).toEqual({
      moved: 20,
      remaining: 15,
    });
    expect(await redriveQueue(operations, 'charges')).toBeUndefined();
  });
});

describe('queue overview', () => {
  it('reads every known pair, and the ages of non-empty queues only', async () => {
    const clock = { now: 100_000 };
    const queues = new InMemoryQueues(clock);
    const pairs = fakeQueuePairs(['deliveries', 'charges']);
    queues.put(pairs.deliveries?.sourceUrl as string, 'a', { ageSeconds: 7 });
    const statuses = await readQueues({ depths: queues, ages: queues, pairs }, clock.now);
    expect(statuses.map((status) => status.name)).toEqual(['deliveries', 'charges']);
    expect(statuses[0]?.queue).toMatchObject({ visible: 1, total: 1, oldestAgeSeconds: 7 });
    expect(statuses[0]?.deadLetterQueue).toMatchObject({ total: 0, oldestAgeSeconds: null });
    queues.agesKnown = false;
    const unknown = await readQueues({ depths: queues, ages: queues, pairs }, clock.now);
    expect(unknown[0]?.queue).toMatchObject({ oldestAgeSeconds: null, oldestAgeUnknown: 'no age known' });
    expect(await queueOverview(fakeQueueOperations(queues, { names: ['deliveries'] }), clock.now)).toEqual([
      { name: 'deliveries', visible: 1, inFlight: 0, delayed: 0, deadLetters: 0 },
    ]);
  });

  it('refuses to read when no queue is known', async () => {
    const queues = new InMemoryQueues({ now: 0 });
    await expect(readQueues({ depths: queues, ages: queues, pairs: {} }, 0)).rejects.toThrow(/no queue/);
  });

  it('names a queue by its URL, and describes errors in one line', () => {
    expect(queueNameOf('https://sqs.eu-west-1.amazonaws.com/123/Commerce-DeliveriesQueue-abc')).toBe(
      'Commerce-DeliveriesQueue-abc',
    );
    expect(queueNameOf('http://127.0.0.1:4566/000000000000/a%20b')).toBe('a b');
    const named = new Error('Access denied');
    named.name = 'AccessDeniedException';
    expect(describeError(named)).toBe('AccessDeniedException: Access denied');
    expect(describeError(new Error('fetch failed', { cause: { code: 'ECONNREFUSED' } }))).toBe(
      'fetch failed (ECONNREFUSED)',
    );
    expect(describeError('plain')).toBe('plain');
  });
});
