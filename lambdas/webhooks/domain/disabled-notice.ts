import { createHash } from 'node:crypto';
import { eventIdFor, type PipelineEvent } from '../../events/domain/events';
import type { Endpoint } from './endpoints';

/**
 * `webhook_endpoint.disabled` (docs/api.md section 4): the event that tells a store's other endpoints that one was
 * disabled as `gone` or `failing`. It goes through the events table like any other (stored, listed, fanned out to
 * the endpoints that want it; the disabled one is no longer enabled, so it is not among them).
 *
 * Its id is a function of the endpoint and the disabling (its time), so every repetition of the announcement of one
 * disabling is stored once; a later disabling (after a re-enable) is a new event.
 */
export function disabledNotice(endpoint: Endpoint, reason: 'gone' | 'failing', at: number): PipelineEvent {
  const createdAt = new Date(at).toISOString();
  const digest = createHash('sha256')
    .update(`webhook_endpoint.disabled\n${endpoint.storeId}\n${endpoint.id}\n${createdAt}`)
    .digest();
  return {
    id: eventIdFor(at, digest),
    type: 'webhook_endpoint.disabled',
    createdAt,
    storeId: endpoint.storeId,
    data: { endpointId: endpoint.id, url: endpoint.url, reason },
  };
}
