import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * The one way the pipeline sends many messages to a queue. SendMessageBatch takes at most 10 entries and 256 KiB in
 * all, so batches are cut at whichever comes first (a body larger than a whole batch goes alone, and SQS judges it).
 * Entries a batch refuses for a reason that is not the sender's fault (usually throttling) are sent again with a
 * short backoff; whatever still fails throws, so the caller's own message or stream record fails and is retried.
 * Every message the pipeline queues is safe to repeat (consumers are idempotent), so the entries that did go
 * through before the throw are harmless.
 */

export const MAX_BATCH_ENTRIES = 10;
export const MAX_BATCH_BYTES = 256 * 1024;
/** Entries refused for a reason other than the sender's fault are tried again this many times. */
const BATCH_RETRIES = 3;
const RETRY_BASE_MS = 50;
/** SQS's longest delivery delay. */
export const MAX_DELAY_SECONDS = 900;

/** One message to send: its body and, optionally, its delay in seconds. */
export interface OutgoingMessage {
  readonly body: string;
  readonly delaySeconds?: number;
}

/**
 * Sends `messages` to `queueUrl` in as few batches as the limits allow.
 * @param what names the messages in the error, e.g. "delivery messages".
 * @throws when SQS refuses an entry after the retries, or refuses one as the sender's fault.
 */
export async function sendMessages(
  client: SQSClient,
  queueUrl: string,
  messages: readonly OutgoingMessage[],
  what = 'messages',
): Promise<void> {
  for (const batch of batchesOf(messages)) {
    let pending: SendMessageBatchRequestEntry[] = batch.map((message, index) => ({
      Id: String(index),
      MessageBody: message.body,
      ...(message.delaySeconds !== undefined ? { DelaySeconds: clampDelay(message.delaySeconds) } : {}),
    }));
    for (let tries = 0; ; tries += 1) {
      const { Failed = [] } = await client.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }),
      );
      if (Failed.length === 0) break;
      const failedIds = new Set(Failed.map((failure) => failure.Id));
      pending = pending.filter((entry) => failedIds.has(entry.Id));
      // A sender fault (a malformed or oversized entry) fails the same way every time: no point trying again.
      if (tries >= BATCH_RETRIES || Failed.some((failure) => failure.SenderFault)) {
        const first = Failed[0];
        throw new Error(
          `SQS refused ${Failed.length} of the ${what}: ${first?.Code ?? 'unknown'} ${first?.Message ?? ''}`.trim(),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS * 2 ** tries));
    }
  }
}

/** Sends one message, with an optional delay (clamped to SQS's 0–900 s) and a `reason` attribute. */
export async function sendMessage(
  client: SQSClient,
  queueUrl: string,
  message: OutgoingMessage & { readonly reason?: string },
): Promise<void> {
  await client.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: message.body,
      ...(message.delaySeconds !== undefined ? { DelaySeconds: clampDelay(message.delaySeconds) } : {}),
      ...(message.reason === undefined
        ? {}
        : {
            MessageAttributes: { reason: { DataType: 'String', StringValue: message.reason.slice(0, 1000) } },
          }),
    }),
  );
}

/** A delay SQS accepts: whole seconds from 0 to 900. */
export function clampDelay(seconds: number): number {
  return Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.round(seconds)));
}

/** Messages cut into batches of at most 10 entries and 256 KiB of bodies in all (a larger body goes alone). */
export function batchesOf<T extends OutgoingMessage>(messages: readonly T[]): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = Buffer.byteLength(message.body);
    if (current.length === MAX_BATCH_ENTRIES || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
