import fc from 'fast-check';
import {
  canonicalJson,
  IdempotencyInFlightError,
  IdempotencyMismatchError,
  requestFingerprint,
  runIdempotently,
  type StoredResponse,
} from '../../lambdas/api/domain/idempotency';
import { InMemoryIdempotencyStore } from './support/in-memory-ports';

const ok = (body: string): StoredResponse => ({ status: 201, headers: {}, body });

describe('runIdempotently', () => {
  let clock = 0;
  const options = { now: () => clock, lockMs: 1_000, retentionMs: 24 * 3_600_000 };
  beforeEach(() => {
    clock = 1_000_000;
  });

  it('runs the first request and replays its response for the same request', async () => {
    const store = new InMemoryIdempotencyStore();
    const execute = jest.fn(async () => ok('first'));
    const first = await runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, execute);
    const second = await runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, execute);
    expect(first).toEqual({ response: ok('first'), replayed: false });
    expect(second).toEqual({ response: ok('first'), replayed: true });
    expect(execute).toHaveBeenCalledTimes(1);
  });

  it('refuses the same key with another request', async () => {
    const store = new InMemoryIdempotencyStore();
    await runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, async () => ok('first'));
    await expect(
      runIdempotently(store, { key: 'k', fingerprint: 'other' }, options, async () => ok('second')),
    ).rejects.toBeInstanceOf(IdempotencyMismatchError);
  });

  it('refuses the same key while the first request is in flight, and lets a retry take over after a crash', async () => {
    const store = new InMemoryIdempotencyStore();
    let finish: (value: StoredResponse) => void = () => {};
    const inFlight = runIdempotently(
      store,
      { key: 'k', fingerprint: 'f' },
      options,
      () => new Promise<StoredResponse>((resolve) => (finish = resolve)),
    );
    await Promise.resolve();
    await expect(
      runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, async () => ok('x')),
    ).rejects.toBeInstanceOf(IdempotencyInFlightError);

    // The first holder never completes (it crashed); once its lock runs out, a retry runs the request.
    clock += options.lockMs + 1;
    const retry = await runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, async () =>
      ok('retry'),
    );
    expect(retry).toEqual({ response: ok('retry'), replayed: false });
    finish(ok('late'));
    await inFlight;
  });

  it('releases the key after a server error so the retry runs again', async () => {
    const store = new InMemoryIdempotencyStore();
    await expect(
      runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const fiveHundred = await runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, async () => ({
      status: 503,
      headers: {},
      body: '',
    }));
    expect(fiveHundred.response.status).toBe(503);
    const retry = await runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, async () =>
      ok('retry'),
    );
    expect(retry.replayed).toBe(false);
  });

  it('keeps the original error when the release itself fails', async () => {
    const store = new InMemoryIdempotencyStore();
    store.release = async () => {
      throw new Error('store down');
    };
    await expect(
      runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, async () => {
        throw new Error('original');
      }),
    ).rejects.toThrow('original');
  });

  it('forgets keys after the retention period', async () => {
    const store = new InMemoryIdempotencyStore();
    await runIdempotently(store, { key: 'k', fingerprint: 'f' }, options, async () => ok('first'));
    clock += options.retentionMs + 1;
    const later = await runIdempotently(store, { key: 'k', fingerprint: 'g' }, options, async () =>
      ok('new'),
    );
    expect(later).toEqual({ response: ok('new'), replayed: false });
  });

  it('never runs a request twice and always answers the same for one key, whatever the interleaving', async () => {
    // Each command: a request with one of two bodies, optionally crashing, optionally after the clock moves.
    const command = fc.record({
      body: fc.constantFrom('a', 'b'),
      crash: fc.boolean(),
      advance: fc.constantFrom(0, 10, options.lockMs + 1),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
        const store = new InMemoryIdempotencyStore();
        const executions: { body: string; completed: boolean }[] = [];
        let completed: string | undefined;
        for (const c of commands) {
          clock += c.advance;
          try {
            const result = await runIdempotently(
              store,
              { key: 'k', fingerprint: c.body },
              options,
              async () => {
                executions.push({ body: c.body, completed: !c.crash });
                if (c.crash) throw new Error('crash');
                return ok(c.body);
              },
            );
            if (result.replayed) expect(result.response.body).toBe(completed);
            else completed = result.response.body;
          } catch (error) {
            if (error instanceof IdempotencyMismatchError) expect(c.body).not.toBe(completed);
            else expect((error as Error).message).toBe('crash');
          }
        }
        // At most one execution completes, and once one has, nothing runs again for that key.
        const completedAt = executions.findIndex((e) => e.completed);
        expect(executions.filter((e) => e.completed).length).toBeLessThanOrEqual(1);
        if (completedAt >= 0) expect(executions.length).toBe(completedAt + 1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('request fingerprints', () => {
  it('ignore key order and whitespace but not values', () => {
    expect(requestFingerprint('POST', '/x', JSON.parse('{"a":1,"b":[1,{"c":2,"d":3}]}'))).toBe(
      requestFingerprint('POST', '/x', JSON.parse('{ "b": [1, {"d":3, "c":2}], "a": 1 }')),
    );
    expect(requestFingerprint('POST', '/x', { a: 1 })).not.toBe(requestFingerprint('POST', '/x', { a: 2 }));
    expect(requestFingerprint('POST', '/x', { a: 1 })).not.toBe(requestFingerprint('POST', '/y', { a: 1 }));
  });

  it('canonical JSON parses back to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});
