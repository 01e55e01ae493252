import type { EventsRepository } from '../../events/domain/events';
import type { ChargeRecord } from './charges/charge';
import {
  type CounterDelta,
  chargeChangeEffects,
  emptyEffects,
  isZero,
  type OutboxEffects,
  subscriptionChangeEffects,
  zeroDelta,
} from './outbox-effects';
import type { Subscription } from './subscription';

/**
 * The billing outbox's stream batches (what each change announces and counts: outbox-effects.ts): events stored
 * in stream order, and counters added once per record, fenced by stream position.
 */

/**
 * Where a sum of counter changes comes from: records of one stream shard, `first` to `last` (stream positions, see
 * `streamPosition`), which the stream delivers in order and one batch at a time.
 */
export interface CounterSource {
  readonly shard: string;
  readonly first: string;
  readonly last: string;
}

export type CounterAddResult =
  | { readonly kind: 'applied' }
  /** Records of this shard up to `appliedThrough` (a stream position, `>= first`) were counted already. */
  | { readonly kind: 'fenced'; readonly appliedThrough: string }
  /** No such run, or it is completed: its counts are exact (recounted at completion), nothing is added. */
  | { readonly kind: 'closed' };

/** Port: the runs' counters. */
export interface RunCounters {
  /**
   * Adds `delta` unless a record of `source.shard` at or after `source.first` was counted for the run already;
   * then remembers `source.last` as the shard's last counted position for the run. One conditional write.
   */
  add(runId: string, delta: CounterDelta, source: CounterSource): Promise<CounterAddResult>;
}

/**
 * Width of a stream position: DynamoDB's sequence numbers are decimal strings of 21 to 40 digits. Zero-padded to
 * this width they compare as strings in numeric order, in DynamoDB's conditions as here.
 */
const POSITION_DIGITS = 40;

/** A sequence number as a stream position (zero-padded). @throws on anything but 1 to 40 decimal digits. */
export function streamPosition(sequenceNumber: string): string {
  if (!/^\d{1,40}$/.test(sequenceNumber))
    throw new Error(`"${sequenceNumber}" is not a stream sequence number (1 to 40 decimal digits).`);
  return sequenceNumber.padStart(POSITION_DIGITS, '0');
}

/** One stream record, as the outbox reads it. */
export interface OutboxRecord {
  /** `dynamodb.SequenceNumber`: also the record's identifier in a partial batch response. */
  readonly sequenceNumber: string;
  readonly change: OutboxChange;
}

export type OutboxChange =
  | { readonly table: 'subscriptions'; readonly before?: Subscription; readonly after?: Subscription }
  | { readonly table: 'charges'; readonly before?: ChargeRecord; readonly after?: ChargeRecord }
  /** A record of a stream the outbox does not know: it fails, and holds its shard until someone looks. */
  | { readonly table: 'unknown'; readonly source: string };

export interface OutboxBatch {
  /** The stream shard the records were read from, in order (Lambda sends one shard's records per batch). */
  readonly shard: string;
  readonly records: readonly OutboxRecord[];
}

export interface OutboxDeps {
  readonly events: Pick<EventsRepository, 'put'>;
  readonly counters: RunCounters;
  /** Told about each failure before it is reported (the handler logs it). */
  readonly onFailure?: (failure: {
    readonly sequenceNumber: string;
    readonly stage: 'record' | 'counters';
    readonly runId?: string;
    readonly error: unknown;
  }) => void;
}

/** Lambda's partial batch response: the stream retries from the one record named. */
export interface OutboxBatchResult {
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

interface CounterChange {
  readonly sequenceNumber: string;
  readonly position: string;
  readonly delta: CounterDelta;
}

/**
 * One batch of one stream shard. Records are handled in order: each one's events are stored (conditional puts by
 * id, safe to repeat), and the first record that fails ends the batch. Then the counters of the records before it
 * are added, one write per run, fenced by stream position: each run item keeps, per shard, the last position it
 * counted, and a change at or before it is not counted again. So a batch delivered again, whole (after the
 * function failed or timed out part-way through its writes) or from a record reported here, counts each record
 * once.
 *
 * The fence needs a run's changes counted without gaps, in stream order: a record counted after one that failed
 * would put the fence past the failed one, and its retry would not count. Hence the stop at the first failure
 * (Powertools' BatchProcessor goes on past it).
 *
 * @returns the record the stream must retry from: the first that failed, or the first whose counters could not
 * be added, whichever comes first; none when the batch is done.
 */
export async function processOutboxBatch(deps: OutboxDeps, batch: OutboxBatch): Promise<OutboxBatchResult> {
  // Positions first: a record without a sequence number is not the stream's, and fails the whole invocation.
  const positions = batch.records.map((record) => streamPosition(record.sequenceNumber));
  const changes = new Map<string, CounterChange[]>();
  let retryPosition: string | undefined;
  let retrySequenceNumber: string | undefined;
  for (const [index, record] of batch.records.entries()) {
    const position = positions[index] ?? '';
    try {
      const effects = changeEffects(record.change);
      for (const event of effects.events) await deps.events.put(event, 'direct');
      // Counted only once its events are stored: a failed record counts nothing and is retried whole.
      for (const [runId, delta] of effects.counters) {
        const list = changes.get(runId) ?? [];
        list.push({ sequenceNumber: record.sequenceNumber, position, delta });
        changes.set(runId, list);
      }
    } catch (error) {
      deps.onFailure?.({ sequenceNumber: record.sequenceNumber, stage: 'record', error });
      retryPosition = position;
      retrySequenceNumber = record.sequenceNumber;
      break;
    }
  }
  for (const [runId, list] of changes) {
    try {
      await addFenced(deps.counters, runId, batch.shard, list);
    } catch (error) {
      const [first] = list as [CounterChange];
      deps.onFailure?.({ sequenceNumber: first.sequenceNumber, stage: 'counters', runId, error });
      // The stream goes back to the run's first change of the batch; whatever was counted after it is fenced.
      if (retryPosition === undefined || first.position < retryPosition) {
        retryPosition = first.position;
        retrySequenceNumber = first.sequenceNumber;
      }
    }
  }
  return {
    batchItemFailures: retrySequenceNumber === undefined ? [] : [{ itemIdentifier: retrySequenceNumber }],
  };
}

function changeEffects(change: OutboxChange): OutboxEffects {
  const effects = emptyEffects();
  if (change.table === 'subscriptions') subscriptionChangeEffects(effects, change.before, change.after);
  else if (change.table === 'charges') chargeChangeEffects(effects, change.before, change.after);
  else throw new Error(`A stream record from an unknown table: ${change.source}`);
  return effects;
}

/** Adds a run's changes of one batch, those the run has not counted yet (a batch delivered again). */
async function addFenced(
  counters: RunCounters,
  runId: string,
  shard: string,
  changes: readonly CounterChange[],
): Promise<void> {
  let pending = changes;
  while (pending.length > 0) {
    const delta = zeroDelta();
    for (const change of pending) {
      delta.total += change.delta.total;
      delta.succeeded += change.delta.succeeded;
      delta.failed += change.delta.failed;
      delta.processing += change.delta.processing;
    }
    // Nothing to add (a claim withdrawn in the same batch): nothing to remember either, the next batch starts later.
    if (isZero(delta)) return;
    const first = pending[0]?.position ?? '';
    const last = pending[pending.length - 1]?.position ?? '';
    const result = await counters.add(runId, delta, { shard, first, last });
    if (result.kind !== 'fenced') return;
    if (result.appliedThrough < first) {
      throw new Error(
        `Run ${runId}: counters refused at ${first} while counted only through ${result.appliedThrough} (shard ${shard}).`,
      );
    }
    pending = pending.filter((change) => change.position > result.appliedThrough);
  }
}
