import { type OldestAgeReader, queueNameOf } from '../domain/queues';

/**
 * Locally: fauxqs's inspection endpoint (`GET /_fauxqs/queues/<name>`), which lists every message (ready,
 * delayed, in flight) without receiving it. A ReceiveMessage "peek" with VisibilityTimeout 0 is not used: every
 * receive counts towards maxReceiveCount (fauxqs counts them as SQS does), so peeking would push messages to
 * their dead-letter queue. The age is that of the oldest message in any of the three states, by SentTimestamp.
 */
export function fauxqsAges(sqsEndpoint: string, timeoutMs = 10_000): OldestAgeReader {
  return {
    source: 'fauxqs',
    read: async (queueUrls, now) => {
      const seconds = new Map<string, number>();
      let unknownReason = 'not found in the fauxqs inspection';
      await Promise.all(
        queueUrls.map(async (url) => {
          const response = await fetch(
            new URL(`/_fauxqs/queues/${encodeURIComponent(queueNameOf(url))}`, sqsEndpoint),
            { signal: AbortSignal.timeout(timeoutMs) },
          );
          if (!response.ok) {
            unknownReason = `no fauxqs inspection (HTTP ${response.status})`;
            await response.body?.cancel();
            return;
          }
          const sent = sentTimestamps((await response.json()) as FauxqsQueue);
          if (sent.length > 0) seconds.set(url, ageSeconds(now, Math.min(...sent)));
        }),
      );
      return { seconds, unknownReason };
    },
  };
}

interface FauxqsMessage {
  readonly sentTimestamp?: number;
}

interface FauxqsQueue {
  readonly messages?: {
    readonly ready?: readonly FauxqsMessage[];
    readonly delayed?: readonly FauxqsMessage[];
    readonly inflight?: readonly { readonly message?: FauxqsMessage }[];
  };
}

function sentTimestamps(queue: FauxqsQueue): number[] {
  const { ready = [], delayed = [], inflight = [] } = queue.messages ?? {};
  return [...ready, ...delayed, ...inflight.map((entry) => entry.message ?? {})]
    .map((message) => Number(message.sentTimestamp))
    .filter((sent) => Number.isFinite(sent));
}

function ageSeconds(now: number, since: number): number {
  return Math.max(0, Math.floor((now - since) / 1000));
}
