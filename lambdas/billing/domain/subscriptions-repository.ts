import type { SubscriptionStateRepository } from './charges/ports';
import type { Subscription } from './subscription';
import type { SubscriptionList } from './subscription-list';

/** Port: the subscriptions table as the API uses it. */
export interface SubscriptionsRepository extends SubscriptionStateRepository, SubscriptionList {
  create(subscription: Subscription): Promise<{ created: true } | { created: false; existing: Subscription }>;
  /**
   * Cancels a subscription that is billed or unpaid. @returns the canceled subscription, or why not: it does not
   * exist, or it is canceled already (then with its current state).
   */
  cancel(
    storeId: string,
    subscriptionId: string,
    input: { readonly canceledAt: string; readonly eventId: string },
  ): Promise<
    | { readonly outcome: 'canceled'; readonly subscription: Subscription }
    | { readonly outcome: 'ended'; readonly subscription: Subscription }
    | { readonly outcome: 'missing' }
  >;
  /**
   * Writes `next` in place of `expected` if the item is still as `expected` was read: same revision, cycle, attempt
   * and status (the charge path moves the last three). @returns whether it wrote; false: read again and redo.
   */
  replace(expected: Subscription, next: Subscription): Promise<boolean>;
}
