import type { ChargesRepository } from './charges/ports';
import { periodOf } from './schedule';
import type { Subscription } from './subscription';
import { applyPatch, type PatchRefusal, type SubscriptionPatch } from './subscription-changes';
import type { SubscriptionsRepository } from './subscriptions-repository';

/** How many times a patch is redone on a fresh read when a concurrent change came first. */
const MAX_TRIES = 8;

export type UpdateResult =
  | { readonly outcome: 'updated'; readonly subscription: Subscription; readonly changed: boolean }
  | { readonly outcome: 'missing' }
  | {
      readonly outcome: 'conflict';
      readonly reason: string;
      readonly field?: string;
      readonly status: 400 | 409;
    };

/**
 * `PATCH /v1/subscriptions/{id}` and the manage page's payment-method form: the patch (subscription-changes.ts
 * `applyPatch`) applied to the subscription as read, written only if nothing changed it since (`replace`); a
 * concurrent charge outcome or change makes it read again and redo. A pause then releases the claim of the charge
 * the subscription owed, if a run claimed it and nobody asked the gateway yet, exactly as a cancel does
 * (cancel.ts): a pause that comes before the ask wins over it. A change of amount, plan or payment method needs no
 * release: the charge function reads the subscription after marking the claim asked, and a claim never sent takes
 * the subscription's values then (charges/process.ts).
 */
export async function updateSubscription(
  deps: {
    readonly subscriptions: Pick<SubscriptionsRepository, 'get' | 'replace'>;
    readonly charges: Pick<ChargesRepository, 'release'>;
  },
  storeId: string,
  subscriptionId: string,
  patch: SubscriptionPatch,
  input: { readonly now: number; readonly eventId: string },
): Promise<UpdateResult> {
  for (let tries = 0; tries < MAX_TRIES; tries += 1) {
    const current = await deps.subscriptions.get(storeId, subscriptionId);
    if (!current) return { outcome: 'missing' };
    const result = applyPatch(current, patch, input.now, input.eventId);
    if (result.kind === 'refused') return conflict(result.refusal);
    if (result.kind === 'unchanged') return { outcome: 'updated', subscription: current, changed: false };
    if (!(await deps.subscriptions.replace(current, result.next))) continue;
    if (current.status !== 'paused' && result.next.status === 'paused') {
      await deps.charges.release({
        storeId,
        subscriptionId,
        period: periodOf(current.nextChargeAt),
        attempt: current.attempt,
      });
    }
    return { outcome: 'updated', subscription: result.next, changed: true };
  }
  throw new Error(
    `Subscription ${subscriptionId}: changed by others ${MAX_TRIES} times while this update was made; try again.`,
  );
}

function conflict(refusal: PatchRefusal): UpdateResult {
  return { outcome: 'conflict', ...refusal };
}
