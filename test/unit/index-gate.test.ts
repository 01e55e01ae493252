import { isIndexNotReadyError } from '../../lambdas/index-gate/adapters/gated-index-query';
import {
  type IndexDescription,
  IndexGate,
  IndexNotReadyError,
} from '../../lambdas/index-gate/domain/index-gate';

/** A table whose index status is scripted; each describe call advances the script. */
function scriptedTable(statuses: Array<Partial<IndexDescription> | undefined>) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    describer: {
      async describeIndexes() {
        const next = statuses[Math.min(calls, statuses.length - 1)];
        calls += 1;
        return next ? [{ name: 'byDue', status: 'ACTIVE', backfilling: false, ...next }] : [];
      },
    },
  };
}

function gateFor(
  table: ReturnType<typeof scriptedTable>,
  extra: Partial<ConstructorParameters<typeof IndexGate>[1]> = {},
) {
  let clock = 0;
  const notReady: string[] = [];
  const gate = new IndexGate(table.describer, {
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    onNotReady: (_t, _i, status) => notReady.push(status),
    isNotReadyError: isIndexNotReadyError,
    ...extra,
  });
  return { gate, notReady, advance: (ms: number) => (clock += ms) };
}

describe('IndexGate', () => {
  it('is ready only when the index is ACTIVE and not backfilling', async () => {
    for (const [state, ready] of [
      [{ status: 'ACTIVE' }, true],
      [{ status: 'ACTIVE', backfilling: true }, false],
      [{ status: 'CREATING' }, false],
      [{ status: 'UPDATING' }, false],
      [{ status: 'DELETING' }, false],
      [undefined, false],
    ] as const) {
      const { gate } = gateFor(scriptedTable([state]));
      expect(await gate.isReady('t', 'byDue')).toBe(ready);
    }
  });

  it('caches a ready answer for minutes and a not-ready answer for seconds', async () => {
    const table = scriptedTable([{ status: 'CREATING' }, { status: 'ACTIVE' }]);
    const { gate, advance } = gateFor(table, { readyTtlMs: 300_000, notReadyTtlMs: 5_000 });
    expect(await gate.isReady('t', 'byDue')).toBe(false);
    advance(4_999);
    expect(await gate.isReady('t', 'byDue')).toBe(false);
    expect(table.calls).toBe(1);
    advance(2);
    expect(await gate.isReady('t', 'byDue')).toBe(true);
    advance(299_999);
    expect(await gate.isReady('t', 'byDue')).toBe(true);
    expect(table.calls).toBe(2);
  });

  it('fail policy: throws a retryable error without querying, and reports it', async () => {
    const { gate, notReady } = gateFor(scriptedTable([{ status: 'CREATING' }]));
    const query = jest.fn(async () => 'from index');
    const read = gate.read('t', 'byDue', { kind: 'fail' }, query);
    await expect(read).rejects.toBeInstanceOf(IndexNotReadyError);
    await expect(read).rejects.toMatchObject({ retryable: true, status: 'CREATING' });
    expect(query).not.toHaveBeenCalled();
    expect(notReady).toEqual(['CREATING']);
  });

  it('fallback policy: answers through the slow path', async () => {
    const { gate } = gateFor(scriptedTable([{ status: 'ACTIVE', backfilling: true }]));
    const query = jest.fn(async () => 'from index');
    await expect(
      gate.read('t', 'byDue', { kind: 'fallback', fallback: async () => 'from scan' }, query),
    ).resolves.toBe('from scan');
    expect(query).not.toHaveBeenCalled();
  });

  it('wait policy: waits with backoff until the index is ready, then queries it', async () => {
    const table = scriptedTable([
      { status: 'CREATING' },
      { status: 'CREATING' },
      { status: 'CREATING' },
      { status: 'ACTIVE' },
    ]);
    const { gate } = gateFor(table);
    await expect(
      gate.read('t', 'byDue', { kind: 'wait', deadlineMs: 60_000 }, async () => 'from index'),
    ).resolves.toBe('from index');
    expect(table.calls).toBe(4);
  });

  it('wait policy: gives up retryably at the deadline', async () => {
    const { gate } = gateFor(scriptedTable([{ status: 'CREATING' }]));
    await expect(
      gate.read('t', 'byDue', { kind: 'wait', deadlineMs: 2_000 }, async () => 'never'),
    ).rejects.toBeInstanceOf(IndexNotReadyError);
  });

  it('treats a query refused for a backfilling index like a not-ready index, never as a crash', async () => {
    const { gate, notReady } = gateFor(scriptedTable([{ status: 'ACTIVE' }]));
    const refusal = Object.assign(new Error('Cannot read from backfilling global secondary index: byDue'), {
      name: 'ValidationException',
    });
    const read = gate.read(
      't',
      'byDue',
      { kind: 'fallback', fallback: async () => 'from scan' },
      async () => {
        throw refusal;
      },
    );
    await expect(read).resolves.toBe('from scan');
    expect(notReady).toEqual(['NOT_READABLE']);
    // The refusal is remembered: the next read does not hit the index until the not-ready answer expires.
    expect(await gate.isReady('t', 'byDue')).toBe(false);
  });

  it('lets other query errors through', async () => {
    const { gate } = gateFor(scriptedTable([{ status: 'ACTIVE' }]));
    const other = Object.assign(new Error('Query condition missed key schema element'), {
      name: 'ValidationException',
    });
    await expect(
      gate.read('t', 'byDue', { kind: 'fallback', fallback: async () => 'x' }, async () => {
        throw other;
      }),
    ).rejects.toBe(other);
  });
});

describe('isIndexNotReadyError', () => {
  it.each([
    ['ValidationException', 'Cannot read from backfilling global secondary index: byDue', true],
    ['ValidationException', 'The table does not have the specified index: byDue', true],
    ['ValidationException', 'One or more parameter values were invalid', false],
    ['ConditionalCheckFailedException', 'backfilling', false],
  ])('%s "%s" → %s', (name, message, expected) => {
    expect(isIndexNotReadyError(Object.assign(new Error(message), { name }))).toBe(expected);
  });
});
