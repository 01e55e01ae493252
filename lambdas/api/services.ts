import type { ChargesRepository } from '../billing/domain/charges/ports';
import type { ReconciliationQueue, ReconciliationReports } from '../billing/domain/reconciliation';
import type { DatafeedStore, RunQueue, RunsRepository } from '../billing/domain/runs/ports';
import type { SubscriptionsRepository } from '../billing/domain/subscriptions-repository';
import type { EventsRepository } from '../events/domain/events';
import type { TransactionsRepository } from '../events/domain/transactions';
import type { QueueOperations } from '../operations/domain/queue-operations';
import { SharedStoreThrottle, type StoreWindowCounters } from '../stores/domain/shared-store-throttle';
import {
  StoreThrottle,
  type StoreThrottleLimits,
  type ThrottleDecision,
} from '../stores/domain/store-throttle';
import type { StoresRepository } from '../stores/domain/stores';
import type { AttemptsRepository } from '../webhooks/domain/attempts';
import type { EndpointStatsRepository } from '../webhooks/domain/endpoint-stats';
import type { EndpointsRepository } from '../webhooks/domain/endpoints';
import type { ReplayQueue } from '../webhooks/domain/messages';
import type { HostResolver, TargetPolicy } from '../webhooks/domain/target';
import { Authenticator } from './authenticator';
import { DEFAULT_IDEMPOTENCY_RETENTION_MS, type IdempotencyStore } from './domain/idempotency';
import type { ApiRequest, ApiResponse } from './http/api-types';
import { HttpProblem } from './http/problem';
import { idempotentPost } from './idempotent-post';

/** What the API's routes are built from: the domain's ports, a clock and the request's secrets. */
export interface ApiDependencies {
  readonly stores: StoresRepository;
  readonly idempotency: IdempotencyStore;
  readonly transactions: TransactionsRepository;
  readonly events: EventsRepository;
  readonly endpoints: EndpointsRepository;
  readonly attempts: AttemptsRepository;
  /** The endpoints' hourly counters, for their `stats`. @default - endpoints show zero counts */
  readonly endpointStats?: Pick<EndpointStatsRepository, 'hours'>;
  readonly replays: ReplayQueue;
  /** Subscriptions, runs and datafeeds. */
  readonly billing?: BillingDependencies;
  /** The work queues and their dead-letter queues, for the admin's queue routes (routes/queues.ts). */
  readonly operations?: QueueOperations;
  /** Resolves webhook hosts for the SSRF guard. */
  readonly resolver: HostResolver;
  /** Which webhook URLs are refused: private targets are allowed locally only; https is required in AWS. */
  readonly webhookPolicy: Omit<TargetPolicy, 'resolver'>;
  /** Called once per newly accepted transaction (not for replays): the `TransactionsAccepted` metric. */
  readonly onTransactionAccepted?: (storeId: string) => void;
  readonly now?: () => number;
  /** How long an in-flight request holds its Idempotency-Key; longer than the function timeout. @default 60 s */
  readonly idempotencyLockMs?: number;
  /** How long keys are kept. @default 24 h (the contract's minimum) */
  readonly idempotencyRetentionMs?: number;
  /**
   * Each store's request limit: across execution environments when `storeCounters` is given, per execution
   * environment otherwise. @default - none
   */
  readonly storeThrottle?: StoreThrottleLimits;
  /**
   * The record every execution environment syncs its per-store counts to, so that `storeThrottle` holds for the
   * store as a whole (SharedStoreThrottle: no write per request, fails open to the per-environment bucket).
   * @default - none: `storeThrottle` is per execution environment
   */
  readonly storeCounters?: StoreWindowCounters;
  /** Told when a sync of the shared counts fails (the request is served as if it were per environment). */
  readonly onStoreCountersFailure?: (storeId: string, error: unknown) => void;
  /** How long a verified store key is remembered per execution environment. @default 60 s */
  readonly authCacheTtlMs?: number;
  /** Customers' manage links: the API's public base URL and MANAGE_LINK_TTL. @default - no manage links */
  readonly manageLinks?: { readonly baseUrl: string; readonly ttlMs: number };
}

export interface BillingDependencies {
  readonly subscriptions: SubscriptionsRepository;
  readonly charges: Pick<ChargesRepository, 'listForSubscription' | 'release'>;
  readonly runs: RunsRepository;
  readonly runQueue: RunQueue;
  readonly datafeeds: Pick<DatafeedStore, 'get'>;
  /** The reconciliations of runs with the gateway: their reports, and the queue that starts one. */
  readonly reconciliations?: {
    readonly reports: ReconciliationReports;
    readonly queue: ReconciliationQueue;
  };
}

/** Per-request values that come from Secrets Manager (or the local config). */
export interface RequestSecrets {
  readonly adminApiKey: string;
  /** The manage links' keyring (billing/domain/manage-link.ts); absent: the manage link routes answer 500. */
  readonly manageLinkKey?: string;
}

export interface ApiServices {
  readonly deps: ApiDependencies;
  readonly now: () => number;
  /** Authentication; a store's requests also pass its throttle here (429 over it). */
  readonly auth: Pick<Authenticator, 'store' | 'admin'>;
  /** The webhook URL policy with its resolver, as checkWebhookTarget takes it. */
  readonly targetPolicy: TargetPolicy;
  /** See idempotentPost: `scope` separates the key spaces of stores and the admin. */
  idempotent(
    request: ApiRequest,
    scope: string,
    body: unknown,
    execute: () => Promise<ApiResponse>,
    defaultKey?: string,
  ): Promise<ApiResponse>;
}

/** The Idempotency-Key space of one store, apart from other stores' and the admin's. */
/** The billing dependencies the billing routes need. @throws when the API was built without them. */
export function billingOf(services: ApiServices): BillingDependencies {
  if (!services.deps.billing) throw new Error('The API was built without its billing dependencies.');
  return services.deps.billing;
}

/** The reconciliations' reports and queue, beside the runs they reconcile. */
export function reconciliationsOf(
  services: ApiServices,
): NonNullable<BillingDependencies['reconciliations']> & Pick<BillingDependencies, 'runs'> {
  const found = services.deps.billing?.reconciliations;
  if (!found || !services.deps.billing)
    throw new Error('The API was built without its reconciliation dependencies.');
  return { ...found, runs: services.deps.billing.runs };
}

export function storeScope(storeId: string): string {
  return `store:${storeId}`;
}

export function createServices(deps: ApiDependencies): ApiServices {
  const now = deps.now ?? Date.now;
  const options = {
    now,
    lockMs: deps.idempotencyLockMs ?? 60_000,
    retentionMs: deps.idempotencyRetentionMs ?? DEFAULT_IDEMPOTENCY_RETENTION_MS,
  };
  return {
    deps,
    now,
    auth: throttled(new Authenticator(deps.stores, { now, cacheTtlMs: deps.authCacheTtlMs }), deps, now),
    targetPolicy: { ...deps.webhookPolicy, resolver: deps.resolver },
    idempotent: (request, scope, body, execute, defaultKey) =>
      idempotentPost(deps.idempotency, options, request, scope, body, execute, defaultKey),
  };
}

/** The authenticator with each store's throttle applied once its key is known. */
function throttled(auth: Authenticator, deps: ApiDependencies, now: () => number): ApiServices['auth'] {
  if (!deps.storeThrottle) return auth;
  let take: (storeId: string) => ThrottleDecision | Promise<ThrottleDecision>;
  if (deps.storeCounters) {
    const shared = new SharedStoreThrottle(deps.storeThrottle, deps.storeCounters, {
      now,
      onSyncFailure: deps.onStoreCountersFailure,
    });
    take = (storeId) => shared.take(storeId);
  } else {
    const local = new StoreThrottle(deps.storeThrottle);
    take = (storeId) => local.take(storeId, now());
  }
  return {
    admin: (request, adminApiKey) => auth.admin(request, adminApiKey),
    store: async (request) => {
      const storeId = await auth.store(request);
      const decision = await take(storeId);
      if (!decision.allowed) {
        throw new HttpProblem(
          429,
          'Too many requests',
          `Store ${storeId} is over its request rate; nothing was accepted. Retry after ${decision.retryAfterSeconds} s.`,
          { slug: 'rate-limited', headers: { 'retry-after': String(decision.retryAfterSeconds) } },
        );
      }
      return storeId;
    },
  };
}
