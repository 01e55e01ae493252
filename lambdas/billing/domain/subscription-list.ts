import { decodeCursor, encodeCursor } from '../../platform/opaque-cursor';
import type { Subscription, SubscriptionStatus } from './subscription';
import { SUBSCRIPTION_ID_PATTERN } from './subscription';

/**
 * A store's subscriptions newest first (`GET /v1/subscriptions`, docs/api.md section 3): by `createdAt`, then by
 * id (see `newestFirst`), read through the subscriptions table's `created` index. A page's position is the last subscription it
 * holds; the cursor that carries it is opaque to clients.
 */

export const SUBSCRIPTION_STATUSES = [
  'active',
  'paused',
  'past_due',
  'canceled',
  'unpaid',
] as const satisfies readonly SubscriptionStatus[];

/** Where a page ended: the last subscription it holds (its index key). */
export interface SubscriptionListPosition {
  readonly createdAt: string;
  readonly subscriptionId: string;
}

export interface SubscriptionListQuery {
  readonly limit: number;
  readonly status?: SubscriptionStatus;
  /** The subscriptions after this position (older), as the previous page's `next`. */
  readonly after?: SubscriptionListPosition;
}

export interface SubscriptionListPage {
  /** Newest first; at most `limit`, fewer when the status filter skipped some (`next` then says more may follow). */
  readonly subscriptions: readonly Subscription[];
  /** Present while more subscriptions may follow. */
  readonly next?: SubscriptionListPosition;
}

/** Port: a store's subscriptions, newest first. */
export interface SubscriptionList {
  /**
   * One page of the store's subscriptions. @throws IndexNotReadyError (index-gate) while the index it reads
   * cannot be read yet: never a partial list.
   */
  list(storeId: string, query: SubscriptionListQuery): Promise<SubscriptionListPage>;
}

/**
 * Newest first: `createdAt` descending, then the id ascending, which is the order in which the index returns
 * subscriptions created in the same millisecond (DynamoDB keeps equal index keys in table key order; the list
 * follows the index, so paging neither skips nor repeats one whatever that order is).
 */
export function newestFirst(a: SubscriptionListPosition, b: SubscriptionListPosition): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  if (a.subscriptionId === b.subscriptionId) return 0;
  return a.subscriptionId < b.subscriptionId ? -1 : 1;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export function encodeSubscriptionsCursor(position: SubscriptionListPosition): string {
  return encodeCursor({ c: position.createdAt, i: position.subscriptionId });
}

/** The position a cursor names, or undefined when it is not one of ours (a client's mistake: 400). */
export function decodeSubscriptionsCursor(cursor: string): SubscriptionListPosition | undefined {
  const fields = decodeCursor(cursor, 400);
  if (!fields) return undefined;
  const { c, i, ...rest } = fields;
  if (Object.keys(rest).length > 0) return undefined;
  if (typeof c !== 'string' || !ISO_TIME.test(c) || Number.isNaN(Date.parse(c))) return undefined;
  if (typeof i !== 'string' || !SUBSCRIPTION_ID_PATTERN.test(i)) return undefined;
  return { createdAt: c, subscriptionId: i };
}
