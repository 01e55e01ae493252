/**
 * "May I read index I of table T now?" In 2018 a new GSI was read while DynamoDB was still building it: reads
 * were throttled and requests dropped. Every index read goes through this gate, which answers from the table's
 * description (IndexStatus ACTIVE and not backfilling) and, when the index is not ready, applies the caller's
 * policy: wait for it, take a correct slower path, or fail in a way that leaves the work retryable.
 */

export interface IndexDescription {
  readonly name: string;
  /** CREATING | UPDATING | DELETING | ACTIVE */
  readonly status: string;
  readonly backfilling: boolean;
}

/** An index may be read once it is ACTIVE and not backfilling (DynamoDB refuses reads of a backfilling one). */
export function isIndexReadable(index: IndexDescription): boolean {
  return index.status === 'ACTIVE' && !index.backfilling;
}

/** Port: describes a table's global secondary indexes (DescribeTable in AWS). */
export interface IndexDescriber {
  describeIndexes(table: string): Promise<readonly IndexDescription[]>;
}

/** The index cannot be read yet. Retryable: the caller's unit of work should be retried later, not dropped. */
export class IndexNotReadyError extends Error {
  readonly retryable = true;
  constructor(
    readonly table: string,
    readonly index: string,
    readonly status: string,
  ) {
    super(`Index ${index} of table ${table} is not ready (${status}); retry later.`);
    this.name = 'IndexNotReadyError';
  }
}

export type IndexReadPolicy<T> =
  /** Wait with backoff until the index is ready or the deadline passes, then fail retryably. */
  | { readonly kind: 'wait'; readonly deadlineMs: number }
  /** Answer through a slower path that is correct without the index (e.g. a filtered, paginated scan). */
  | { readonly kind: 'fallback'; readonly fallback: () => Promise<T> }
  /** Fail at once with IndexNotReadyError, e.g. so that a queue message stays on its queue. */
  | { readonly kind: 'fail' };

export interface IndexGateOptions {
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** How long a ready answer is trusted. Indexes do not go from ACTIVE back to building. @default 5 min */
  readonly readyTtlMs?: number;
  /** How long a not-ready answer is trusted before asking again. @default 5 s */
  readonly notReadyTtlMs?: number;
  /** Told every time a read meets a not-ready index (a metric in AWS). */
  readonly onNotReady?: (table: string, index: string, status: string) => void;
  /** Recognizes the error a query raises when it meets an index that cannot be read (a race with the cache). */
  readonly isNotReadyError?: (error: unknown) => boolean;
  /** First and largest wait between readiness checks under the `wait` policy. @default 100 ms, 5 s */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
}

interface CachedState {
  readonly ready: boolean;
  readonly status: string;
  readonly until: number;
}

export class IndexGate {
  private readonly cache = new Map<string, CachedState>();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly describer: IndexDescriber,
    private readonly options: IndexGateOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Whether `index` of `table` may be read now. */
  async isReady(table: string, index: string): Promise<boolean> {
    return (await this.state(table, index)).ready;
  }

  /** Runs `query` against the index if it is ready; otherwise applies `policy`. */
  async read<T>(
    table: string,
    index: string,
    policy: IndexReadPolicy<T>,
    query: () => Promise<T>,
  ): Promise<T> {
    const state = await this.state(table, index);
    if (state.ready) {
      try {
        return await query();
      } catch (error) {
        if (!this.options.isNotReadyError?.(error)) throw error;
        // The description said ready but the read was refused: trust the read, forget the cached answer.
        this.remember(table, index, false, 'NOT_READABLE');
        return this.whenNotReady(table, index, 'NOT_READABLE', policy, query);
      }
    }
    return this.whenNotReady(table, index, state.status, policy, query);
  }

  private async whenNotReady<T>(
    table: string,
    index: string,
    status: string,
    policy: IndexReadPolicy<T>,
    query: () => Promise<T>,
  ): Promise<T> {
    this.options.onNotReady?.(table, index, status);
    switch (policy.kind) {
      case 'fallback':
        return policy.fallback();
      case 'fail':
        throw new IndexNotReadyError(table, index, status);
      case 'wait':
        return this.waitThenRead(table, index, policy.deadlineMs, query);
    }
  }

  private async waitThenRead<T>(
    table: string,
    index: string,
    deadlineMs: number,
    query: () => Promise<T>,
  ): Promise<T> {
    const deadline = this.now() + deadlineMs;
    const { initial, max } = this.options.backoffMs ?? { initial: 100, max: 5_000 };
    let delay = initial;
    let status = 'UNKNOWN';
    while (this.now() < deadline) {
      await this.sleep(Math.min(delay, Math.max(0, deadline - this.now())));
      delay = Math.min(delay * 2, max);
      const state = await this.state(table, index, { fresh: true });
      status = state.status;
      if (!state.ready) continue;
      try {
        return await query();
      } catch (error) {
        if (!this.options.isNotReadyError?.(error)) throw error;
        this.remember(table, index, false, 'NOT_READABLE');
      }
    }
    throw new IndexNotReadyError(table, index, status);
  }

  private async state(table: string, index: string, options: { fresh?: boolean } = {}): Promise<CachedState> {
    const cached = this.cache.get(cacheKey(table, index));
    if (!options.fresh && cached && cached.until > this.now()) return cached;
    const description = (await this.describer.describeIndexes(table)).find((i) => i.name === index);
    const status = description ? description.status : 'MISSING';
    const ready = description !== undefined && isIndexReadable(description);
    return this.remember(table, index, ready, description?.backfilling ? 'BACKFILLING' : status);
  }

  private remember(table: string, index: string, ready: boolean, status: string): CachedState {
    const ttl = ready ? (this.options.readyTtlMs ?? 300_000) : (this.options.notReadyTtlMs ?? 5_000);
    const state = { ready, status, until: this.now() + ttl };
    this.cache.set(cacheKey(table, index), state);
    return state;
  }
}

const cacheKey = (table: string, index: string) => `${table}\u0000${index}`;
