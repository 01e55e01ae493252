import { newEventId } from '../../events/domain/events';
import {
  type AcceptOutcome,
  acceptTransaction,
  type TransactionInput,
  transactionInput,
} from '../../events/domain/transactions';
import { requestFingerprint } from '../domain/idempotency';
import type { ApiResponse } from '../http/api-types';
import { problems } from '../http/problem';
import { readJsonBody, validateBody } from '../http/request-body';
import type { Route } from '../http/router';
import type { RouteContext } from '../route-context';
import { type ApiServices, storeScope } from '../services';

const PATH = '/v1/transactions';

/**
 * `POST /v1/transactions`: one conditional write, then 202; the webhook side picks the transaction up from the
 * table's stream. The Idempotency-Key defaults to the transaction id, and then the transaction item itself is the
 * idempotency record (no second write on the hot path). Another explicit key goes through the generic store.
 */
export function transactionRoutes(services: ApiServices): Route<RouteContext>[] {
  return [
    {
      method: 'POST',
      path: PATH,
      handle: async (request) => {
        const storeId = await services.auth.store(request);
        const transaction = validateBody(transactionInput, readJsonBody(request));
        const key = request.headers['idempotency-key'];
        if (key === undefined || key === transaction.id) {
          const outcome = await accept(services, storeId, transaction);
          return answer(transaction.id, outcome, { replayHeader: true });
        }
        return services.idempotent(request, storeScope(storeId), transaction, async () =>
          answer(transaction.id, await accept(services, storeId, transaction), { replayHeader: false }),
        );
      },
    },
  ];
}

async function accept(
  services: ApiServices,
  storeId: string,
  transaction: TransactionInput,
): Promise<AcceptOutcome> {
  const now = services.now();
  const outcome = await acceptTransaction(services.deps.transactions, {
    storeId,
    transaction,
    // The fixed path, so that `/v1/transactions/` and `/v1/transactions` retries are the same request.
    fingerprint: requestFingerprint('POST', PATH, transaction),
    eventId: newEventId(now),
    acceptedAt: new Date(now).toISOString(),
  });
  if (outcome.outcome === 'accepted') services.deps.onTransactionAccepted?.(storeId);
  return outcome;
}

/**
 * A duplicate answers as the first acceptance did. On the default-key path it is a replay of that key, so it says
 * so; behind an explicit key the generic store marks its own replays.
 */
function answer(id: string, outcome: AcceptOutcome, options: { replayHeader: boolean }): ApiResponse {
  if (outcome.outcome === 'conflict') throw problems.idempotencyMismatch(id);
  return {
    status: 202,
    body: { id, status: 'accepted', eventId: outcome.eventId },
    ...(outcome.outcome === 'duplicate' && options.replayHeader
      ? { headers: { 'idempotent-replayed': 'true' } }
      : {}),
  };
}
