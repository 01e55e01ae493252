import type { EventType } from '../../events/domain/events';
import { type CustomHeaders, maskedHeaders } from './endpoint-headers';

/**
 * Webhook endpoints (REST-hooks style, what Zapier expects): a store's URLs, the events each wants, and the
 * secrets that sign what it receives. During a rotation the old secret keeps signing, beside the new one, for 24 h.
 */
export const SECRET_ROTATION_OVERLAP_MS = 24 * 3_600_000;

export type EndpointStatus = 'enabled' | 'disabled';
export type DisabledReason = 'gone' | 'failing' | 'manual';

export interface EndpointSecret {
  readonly secret: string;
  /** ISO time after which this (rotated-out) secret no longer signs; absent for the current secret. */
  readonly expiresAt?: string;
}

export interface Endpoint {
  readonly id: string;
  readonly storeId: string;
  readonly url: string;
  /** Event types, or `['*']` for all. */
  readonly events: readonly (EventType | '*')[];
  readonly description?: string;
  readonly status: EndpointStatus;
  readonly disabledReason?: DisabledReason;
  /** Newest first. */
  readonly secrets: readonly EndpointSecret[];
  /** When the current run of failures began; absent while the endpoint is healthy. */
  readonly failingSince?: string;
  /** Deliveries per second this endpoint may receive (1-1000); absent: no limit (endpoint-pace.ts). */
  readonly rateLimit?: number;
  /** Custom headers sent with every delivery (endpoint-headers.ts); secrets: never logged, masked when read. */
  readonly headers?: CustomHeaders;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What the API shows of an endpoint: never its secrets. */
export function publicEndpoint(endpoint: Endpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    ...(endpoint.description !== undefined ? { description: endpoint.description } : {}),
    status: endpoint.status,
    ...(endpoint.disabledReason ? { disabledReason: endpoint.disabledReason } : {}),
    ...(endpoint.rateLimit !== undefined ? { rateLimit: endpoint.rateLimit } : {}),
    ...(endpoint.headers !== undefined && Object.keys(endpoint.headers).length > 0
      ? { headers: maskedHeaders(endpoint.headers) }
      : {}),
    createdAt: endpoint.createdAt,
    updatedAt: endpoint.updatedAt,
  };
}

/** Whether the endpoint subscribes to the type (by name or `*`): never `webhook.test`, which no filter names. */
export function endpointWants(endpoint: Endpoint, type: EventType): boolean {
  if (type === 'webhook.test') return false;
  return endpoint.status === 'enabled' && (endpoint.events.includes('*') || endpoint.events.includes(type));
}

/** Whether a delivery of this event to the endpoint may be made: a type it wants, or a test of this very endpoint. */
export function endpointAccepts(
  endpoint: Endpoint,
  event: { readonly type: EventType; readonly data: unknown },
): boolean {
  if (event.type !== 'webhook.test') return endpointWants(endpoint, event.type);
  const data = event.data as { readonly endpointId?: unknown } | null | undefined;
  return endpoint.status === 'enabled' && data?.endpointId === endpoint.id;
}

/** The secrets that sign a delivery made at `now`: the current one and any rotated out less than 24 h ago. */
export function signingSecrets(endpoint: Endpoint, now: number): string[] {
  return endpoint.secrets
    .filter((s) => s.expiresAt === undefined || Date.parse(s.expiresAt) > now)
    .map((s) => s.secret);
}

/** Port: the webhooks table. Every method is scoped by store: another store's endpoint is not found. */
export interface EndpointsRepository {
  /** @throws if an endpoint with this id exists (ids are generated; a clash is a bug, not a conflict). */
  create(endpoint: Endpoint): Promise<void>;
  get(storeId: string, id: string): Promise<Endpoint | undefined>;
  list(storeId: string): Promise<Endpoint[]>;
  /**
   * Applies `changes` to an existing endpoint; undefined if there is none. `rateLimit: null` removes the limit,
   * `headers: null` the custom headers.
   */
  update(
    storeId: string,
    id: string,
    changes: Partial<
      Pick<Endpoint, 'url' | 'events' | 'description' | 'status' | 'disabledReason' | 'secrets'>
    > & {
      readonly rateLimit?: number | null;
      readonly headers?: CustomHeaders | null;
      readonly updatedAt: string;
    },
  ): Promise<Endpoint | undefined>;
  /** false if there was none. */
  delete(storeId: string, id: string): Promise<boolean>;
  /** Starts a run of failures at `at` unless one is running; returns when the run began. */
  recordFailure(storeId: string, id: string, at: string): Promise<string | undefined>;
  /** Ends a run of failures. Call only when `failingSince` is set, so healthy deliveries cost no write. */
  recordSuccess(storeId: string, id: string): Promise<void>;
  /** Disables an enabled endpoint (no-op otherwise). @returns whether this call disabled it. */
  disable(storeId: string, id: string, reason: DisabledReason, at: string): Promise<boolean>;
}
