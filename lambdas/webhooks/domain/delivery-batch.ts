import type { Delivery } from './delivery';
import { type BatchResponse, type ReceivedDelivery, settleBatch } from './messages';

/**
 * The delivery consumer of one SQS batch (ReportBatchItemFailures): its messages run concurrently, so a slow
 * endpoint's attempt holds up no other message of the batch (each is bounded by WEBHOOK_TIMEOUT_MS). A message that
 * could not be parsed or whose processing threw is reported: SQS makes it visible again after its visibility
 * timeout, and moves it to the dead-letter queue after the queue's maxReceiveCount. Retries of failed attempts and
 * exhausted deliveries are not failures here: they are new delayed messages and the handler's own DLQ send.
 *
 * @param invocation.deadline epoch ms at which the invocation ends: no holder of a lease outlives it.
 */
export async function deliverBatch(
  delivery: Delivery,
  batch: readonly ReceivedDelivery[],
  invocation: { readonly deadline: number },
): Promise<BatchResponse> {
  const response = await settleBatch(
    batch,
    async (received) => {
      if ('invalid' in received) throw new Error(`Not a delivery message: ${received.invalid}`);
      const { message } = received;
      const result = await delivery.deliver(message, {
        messageId: received.messageId,
        receiveCount: received.receiveCount,
        deadline: invocation.deadline,
      });
      delivery.logger.debug?.('delivery processed', {
        endpointId: message.endpointId,
        eventId: message.eventId,
        attempt: message.attempt,
        result: result.kind,
      });
    },
    (received, error) => {
      delivery.logger.error('delivery message failed; the queue retries it', {
        messageId: received.messageId,
        receiveCount: received.receiveCount,
        ...('message' in received
          ? { endpointId: received.message.endpointId, eventId: received.message.eventId }
          : {}),
        error,
      });
      return received.messageId;
    },
  );
  // Stats tallies are written every few seconds; an environment may be frozen after this batch (endpoint-stats.ts).
  await delivery.flushDueStats();
  return response;
}
