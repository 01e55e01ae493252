import type { ChargesRepository } from './charges/ports';
import { periodOf } from './schedule';
import type { SubscriptionsRepository } from './subscriptions-repository';

/**
 * Cancels a subscription on request (`DELETE /v1/subscriptions/{id}`), then releases the claim of the charge it
 * owed, if a run has claimed it and nobody has asked the gateway about it yet. The release is what makes "a cancel
 * that came first wins" hold however the charge's message is interleaved with it: the charge function marks a claim
 * asked (`firstAskedAt`) before its first ask, and a marked claim cannot be released, so either the cancel's release
 * comes first (no claim is left to charge: the message finds none) or the mark does (the ask came first). A claim
 * made after this release is released by the charge function itself, which reads the subscription before marking.
 */
export async function cancelSubscription(
  deps: {
    readonly subscriptions: Pick<SubscriptionsRepository, 'cancel'>;
    readonly charges: Pick<ChargesRepository, 'release'>;
  },
  storeId: string,
  subscriptionId: string,
  input: { readonly canceledAt: string; readonly eventId: string },
): ReturnType<SubscriptionsRepository['cancel']> {
  const result = await deps.subscriptions.cancel(storeId, subscriptionId, input);
  if (result.outcome === 'canceled') {
    await deps.charges.release({
      storeId,
      subscriptionId,
      period: periodOf(result.subscription.nextChargeAt),
      attempt: result.subscription.attempt,
    });
  }
  return result;
}
