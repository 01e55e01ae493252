import type { ChargeRecord, ChargeRef } from '../../../lambdas/billing/domain/charges/charge';
import {
  chargeKeyOf,
  idempotencyKeyOf,
  subscriptionKeyOf,
} from '../../../lambdas/billing/domain/charges/charge';
import type {
  AskedKey,
  ChargeResolution,
  ChargesRepository,
  ChargeTerms,
} from '../../../lambdas/billing/domain/charges/ports';
import type { ChargeMessage, RunMessage } from '../../../lambdas/billing/domain/messages';
import type { CounterAddResult, CounterSource, RunCounters } from '../../../lambdas/billing/domain/outbox';
import type { CounterDelta } from '../../../lambdas/billing/domain/outbox-effects';
import type {
  ChargeQueue,
  DatafeedStore,
  DueSubscriptions,
  RunQueue,
  RunsRepository,
} from '../../../lambdas/billing/domain/runs/ports';
import type {
  ProgressSample,
  Run,
  RunFence,
  RunProgressPatch,
} from '../../../lambdas/billing/domain/runs/run';
import {
  dueShardOf,
  type Subscription,
  type SubscriptionChange,
} from '../../../lambdas/billing/domain/subscription';
import { newestFirst, type SubscriptionListQuery } from '../../../lambdas/billing/domain/subscription-list';
import type { SubscriptionsRepository } from '../../../lambdas/billing/domain/subscriptions-repository';
import { IndexNotReadyError } from '../../../lambdas/index-gate/domain/index-gate';

/**
 * In-memory billing ports with the conditions of their DynamoDB adapters (conditional puts, fenced updates, the
 * sparse due index), so the domain's exactly-once logic is exercised as it runs against the tables.
 */
const clone = <T>(value: T): T => structuredClone(value);

export class InMemorySubscriptions implements SubscriptionsRepository, DueSubscriptions {
  readonly items = new Map<string, Subscription>();
  /** The created index's state, as the gate sees it: `list` fails as the adapter does while it is not ready. */
  createdIndexStatus: 'ACTIVE' | 'CREATING' | 'BACKFILLING' = 'ACTIVE';
  /** How many items each `list` call examines before it answers short, as the adapter's bounded index reads. */
  listScanBound = 500;

  private key(storeId: string, id: string) {
    return `${storeId}#${id}`;
  }

  async create(subscription: Subscription) {
    const key = this.key(subscription.storeId, subscription.subscriptionId);
    const existing = this.items.get(key);
    if (existing) return { created: false as const, existing: clone(existing) };
    this.items.set(key, clone(subscription));
    return { created: true as const };
  }

  async get(storeId: string, subscriptionId: string) {
    const item = this.items.get(this.key(storeId, subscriptionId));
    return item ? clone(item) : undefined;
  }

  async cancel(storeId: string, subscriptionId: string, input: { canceledAt: string; eventId: string }) {
    const key = this.key(storeId, subscriptionId);
    const item = this.items.get(key);
    if (!item) return { outcome: 'missing' as const };
    if (item.status === 'canceled') {
      return { outcome: 'ended' as const, subscription: clone(item) };
    }
    const { dueShard: _s, dueAt: _d, dunning: _u, ...rest } = item;
    const canceled: Subscription = {
      ...rest,
      status: 'canceled',
      canceledAt: input.canceledAt,
      cancelReason: 'requested',
      canceledEventId: input.eventId,
    };
    this.items.set(key, canceled);
    return { outcome: 'canceled' as const, subscription: clone(canceled) };
  }

  async replace(expected: Subscription, next: Subscription) {
    const key = this.key(expected.storeId, expected.subscriptionId);
    const item = this.items.get(key);
    if (
      !item ||
      (item.revision ?? 0) !== (expected.revision ?? 0) ||
      item.cycle !== expected.cycle ||
      item.attempt !== expected.attempt ||
      item.status !== expected.status
    ) {
      return false;
    }
    this.items.set(key, clone(next));
    return true;
  }

  async applyChange(
    storeId: string,
    subscriptionId: string,
    at: { cycle: number; attempt: number },
    change: SubscriptionChange,
  ) {
    const key = this.key(storeId, subscriptionId);
    const item = this.items.get(key);
    if (
      !item ||
      item.cycle !== at.cycle ||
      item.attempt !== at.attempt ||
      (item.status !== 'active' && item.status !== 'past_due')
    ) {
      return false;
    }
    const { dueShard: _s, dueAt: _d, dunning: _u, ...rest } = item;
    this.items.set(key, {
      ...rest,
      status: change.status,
      cycle: change.cycle,
      attempt: change.attempt,
      nextChargeAt: change.nextChargeAt,
      ...(change.dueAt ? { dueAt: change.dueAt, dueShard: dueShardOf(storeId, subscriptionId) } : {}),
      ...(change.dunning ? { dunning: change.dunning } : {}),
      ...(change.canceledAt
        ? { canceledAt: change.canceledAt, cancelReason: 'payment_failed' as const }
        : {}),
    });
    return true;
  }

  async list(storeId: string, query: SubscriptionListQuery) {
    if (this.createdIndexStatus !== 'ACTIVE') {
      throw new IndexNotReadyError('subscriptions', 'created', this.createdIndexStatus);
    }
    const newest = [...this.items.values()].filter((item) => item.storeId === storeId).sort(newestFirst);
    const start = query.after
      ? newest.filter((item) => newestFirst(item, query.after as never) <= 0).length
      : 0;
    const picked: Subscription[] = [];
    let examined = 0;
    for (const item of newest.slice(start)) {
      if (picked.length === query.limit || examined === this.listScanBound) break;
      examined += 1;
      if (query.status === undefined || item.status === query.status) picked.push(item);
    }
    const last = newest[start + examined - 1];
    const more = start + examined < newest.length;
    return {
      subscriptions: picked.map(clone),
      ...(more && last ? { next: { createdAt: last.createdAt, subscriptionId: last.subscriptionId } } : {}),
    };
  }

  async page(
    shard: string,
    asOf: string,
    after: Readonly<Record<string, unknown>> | undefined,
    limit: number,
  ) {
    const due = [...this.items.values()]
      .filter((item) => item.dueShard === shard && item.dueAt !== undefined && item.dueAt <= asOf)
      .sort((a, b) => (a.dueAt ?? '').localeCompare(b.dueAt ?? '') || keyOrder(a).localeCompare(keyOrder(b)));
    const start = after ? due.findIndex((item) => keyOrder(item) === after.key) + 1 : 0;
    const page = due.slice(start, start + limit);
    const last = page[page.length - 1];
    return {
      subscriptions: page.map(clone),
      ...(start + limit < due.length && last ? { next: { key: keyOrder(last) } } : {}),
    };
  }
}

function keyOrder(item: Subscription): string {
  return `${item.dueAt}|${item.storeId}#${item.subscriptionId}`;
}

export class InMemoryCharges implements ChargesRepository {
  readonly items = new Map<string, ChargeRecord>();
  claims = 0;

  private key(ref: ChargeRef) {
    return `${subscriptionKeyOf(ref.storeId, ref.subscriptionId)}|${chargeKeyOf(ref.period, ref.attempt)}`;
  }

  async claim(charge: ChargeRecord) {
    const key = this.key(charge);
    const existing = this.items.get(key);
    if (existing) return { claimed: false as const, existing: clone(existing) };
    this.claims += 1;
    this.items.set(key, clone(charge));
    return { claimed: true as const };
  }

  async get(ref: ChargeRef) {
    const item = this.items.get(this.key(ref));
    return item ? clone(item) : undefined;
  }

  async withdraw(ref: ChargeRef, runId: string) {
    const item = this.items.get(this.key(ref));
    if (item?.status !== 'pending' || item.runId !== runId || item.firstAskedAt) return false;
    this.items.delete(this.key(ref));
    return true;
  }

  async release(ref: ChargeRef, asked?: AskedKey) {
    const item = this.items.get(this.key(ref));
    if (item?.status !== 'pending') return false;
    const unchanged = asked
      ? item.idempotencyKey === asked.idempotencyKey && item.lastAskedAt === asked.lastAskedAt
      : !item.firstAskedAt;
    if (!unchanged) return false;
    this.items.delete(this.key(ref));
    return true;
  }

  async reprice(ref: ChargeRef, terms: ChargeTerms) {
    const key = this.key(ref);
    const item = this.items.get(key);
    if (item?.status !== 'pending' || item.asks !== 1) return undefined;
    const repriced: ChargeRecord = { ...item, ...terms };
    this.items.set(key, repriced);
    return clone(repriced);
  }

  async releaseUnsent(ref: ChargeRef) {
    const item = this.items.get(this.key(ref));
    if (item?.status !== 'pending' || item.asks !== 1) return false;
    this.items.delete(this.key(ref));
    return true;
  }

  async adopt(ref: ChargeRef, fromRunId: string, toRunId: string) {
    const key = this.key(ref);
    const item = this.items.get(key);
    if (item?.status !== 'pending' || item.runId !== fromRunId || item.firstAskedAt) return undefined;
    const adopted: ChargeRecord = { ...item, runId: toRunId, adoptedFrom: fromRunId };
    this.items.set(key, adopted);
    return clone(adopted);
  }

  /** As the adapter's conditional updates: applied when `condition` holds, else the item as it stands. */
  private updateIf(
    ref: ChargeRef,
    condition: (item: ChargeRecord) => boolean,
    change: (item: ChargeRecord) => ChargeRecord,
  ) {
    const key = this.key(ref);
    const item = this.items.get(key);
    if (!item) return undefined;
    if (!condition(item)) return clone(item);
    const next = change(item);
    this.items.set(key, next);
    return clone(next);
  }

  async markFirstAsk(ref: ChargeRef, at: string) {
    let first = false;
    const charge = this.updateIf(
      ref,
      (item) => item.status === 'pending' && !item.firstAskedAt,
      (item) => {
        first = true;
        return { ...item, firstAskedAt: at, lastAskedAt: at, asks: 1 };
      },
    );
    return { first, ...(charge ? { charge } : {}) };
  }

  async markAsked(ref: ChargeRef, at: string) {
    return this.updateIf(
      ref,
      (item) => item.status === 'pending',
      (item) => ({
        ...item,
        firstAskedAt: item.firstAskedAt ?? at,
        lastAskedAt: at,
        asks: (item.asks ?? 0) + 1,
      }),
    );
  }

  async markServerError(ref: ChargeRef, idempotencyKey: string, at: string) {
    return this.updateIf(
      ref,
      (item) => item.status === 'pending' && item.idempotencyKey === idempotencyKey,
      (item) => ({ ...item, serverErrorAt: item.serverErrorAt ?? at }),
    );
  }

  async rekey(ref: ChargeRef, seen: AskedKey, generation: number, at: string) {
    return this.updateIf(
      ref,
      (item) =>
        item.status === 'pending' &&
        item.idempotencyKey === seen.idempotencyKey &&
        item.lastAskedAt === seen.lastAskedAt,
      ({ serverErrorAt: _stored, ...item }) => ({
        ...item,
        idempotencyKey: idempotencyKeyOf(ref, generation),
        keyGeneration: generation,
        firstAskedAt: at,
        lastAskedAt: at,
        asks: 1,
      }),
    );
  }

  async resolve(ref: ChargeRef, resolution: ChargeResolution, from: 'pending' | 'processing' = 'pending') {
    return this.updateIf(
      ref,
      (item) => item.status === from,
      (item) => ({ ...item, ...clone(resolution) }) as ChargeRecord,
    );
  }

  async listForSubscription(storeId: string, subscriptionId: string) {
    return [...this.items.values()]
      .filter((item) => item.storeId === storeId && item.subscriptionId === subscriptionId)
      .sort((a, b) => a.chargeKey.localeCompare(b.chargeKey))
      .map(clone);
  }

  async getMany(refs: readonly ChargeRef[]) {
    return refs.flatMap((ref) => {
      const item = this.items.get(this.key(ref));
      return item ? [clone(item)] : [];
    });
  }
}

export class InMemoryRuns implements RunsRepository, RunCounters {
  readonly runs = new Map<string, Run>();
  readonly manifests = new Map<string, Set<string>>();
  readonly progress = new Map<string, ProgressSample[]>();

  async logProgress(runId: string, points: readonly ProgressSample[]) {
    this.progress.set(runId, [...(this.progress.get(runId) ?? []), ...points.map((point) => ({ ...point }))]);
  }

  async progressLog(runId: string) {
    return [...(this.progress.get(runId) ?? [])];
  }

  async create(run: Run) {
    const existing = this.runs.get(run.runId);
    if (existing) return { created: false as const, existing: clone(existing) };
    this.runs.set(run.runId, clone(run));
    return { created: true as const };
  }

  async get(runId: string) {
    const run = this.runs.get(runId);
    return run ? clone(run) : undefined;
  }

  async getMany(runIds: readonly string[]) {
    return [...new Set(runIds)].flatMap((runId) => {
      const run = this.runs.get(runId);
      return run ? [clone(run)] : [];
    });
  }

  async acquireLease(runId: string, owner: string, now: number, leaseMs: number) {
    const run = this.runs.get(runId);
    if (!run) return undefined;
    const lease = run.lease;
    if (lease && lease.owner !== owner && lease.expiresAt > now) return undefined;
    // As the adapter: every acquisition, a renewal too, is a new fence version.
    const version = (lease?.version ?? 0) + 1;
    const next = { ...run, lease: { owner, version, expiresAt: now + leaseMs } };
    this.runs.set(runId, next);
    return clone(next);
  }

  private fenced(fence: RunFence, change: (run: Run) => Run): Run | undefined {
    const run = this.runs.get(fence.runId);
    if (!run?.lease || run.lease.owner !== fence.owner || run.lease.version !== fence.version)
      return undefined;
    const next = change(run);
    this.runs.set(fence.runId, next);
    return clone(next);
  }

  async saveProgress(fence: RunFence, patch: RunProgressPatch) {
    return this.fenced(fence, (run) => {
      const { leaseExpiresAt, claimed, ...rest } = patch;
      const defined = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
      return {
        ...run,
        ...defined,
        claimed: run.claimed + (claimed ?? 0),
        lease: { ...(run.lease as NonNullable<Run['lease']>), expiresAt: leaseExpiresAt },
      } as Run;
    });
  }

  async complete(
    fence: RunFence,
    result: {
      total: number;
      succeeded: number;
      failed: number;
      completedAt: string;
      stores: readonly string[];
    },
  ) {
    return this.fenced(fence, (run) => ({
      ...run,
      ...result,
      status: 'completed',
      updatedAt: result.completedAt,
    }));
  }

  async markAnnounced(fence: RunFence) {
    return this.fenced(fence, (run) => ({ ...run, announced: true })) !== undefined;
  }

  async recordTrigger(runId: string, source: string, at: string) {
    const run = this.runs.get(runId);
    if (run) this.runs.set(runId, { ...run, triggers: run.triggers + 1, lastTrigger: { source, at } });
  }

  async addToManifest(runId: string, _pageId: string, refs: readonly string[]) {
    const set = this.manifests.get(runId) ?? new Set<string>();
    for (const ref of refs) set.add(ref);
    this.manifests.set(runId, set);
  }

  async manifest(runId: string) {
    return [...(this.manifests.get(runId) ?? [])];
  }

  /** As the adapter, with its per-shard fence when a stream position is given (the unit outbox passes none). */
  readonly counted = new Map<string, string>();
  async add(runId: string, delta: CounterDelta, source?: CounterSource): Promise<CounterAddResult> {
    const run = this.runs.get(runId);
    if (run?.status !== 'running') return { kind: 'closed' };
    if (source) {
      const last = this.counted.get(`${runId}|${source.shard}`);
      if (last !== undefined && last >= source.first) return { kind: 'fenced', appliedThrough: last };
      this.counted.set(`${runId}|${source.shard}`, source.last);
    }
    this.runs.set(runId, {
      ...run,
      total: run.total + delta.total,
      succeeded: run.succeeded + delta.succeeded,
      failed: run.failed + delta.failed,
      processing: (run.processing ?? 0) + delta.processing,
    });
    return { kind: 'applied' };
  }
}

export class InMemoryChargeQueue implements ChargeQueue {
  readonly messages: ChargeMessage[] = [];
  async send(messages: readonly ChargeMessage[]) {
    this.messages.push(...messages.map(clone));
  }
  take(): ChargeMessage[] {
    return this.messages.splice(0);
  }
}

export class InMemoryRunQueue implements RunQueue {
  readonly messages: { message: RunMessage; delaySeconds: number }[] = [];
  async send(message: RunMessage, delaySeconds = 0) {
    this.messages.push({ message: clone(message), delaySeconds });
  }
}

export class InMemoryDatafeeds implements DatafeedStore {
  readonly feeds = new Map<string, string>();
  async put(runId: string, storeId: string, xml: string) {
    this.feeds.set(`${runId}/${storeId}`, xml);
  }
  async get(runId: string, storeId: string) {
    return this.feeds.get(`${runId}/${storeId}`);
  }
}

/** Every billing port, fresh. */
export function billingPorts() {
  return {
    subscriptions: new InMemorySubscriptions(),
    charges: new InMemoryCharges(),
    runs: new InMemoryRuns(),
    chargeQueue: new InMemoryChargeQueue(),
    runQueue: new InMemoryRunQueue(),
    datafeeds: new InMemoryDatafeeds(),
  };
}
