import type { QueueOperations } from '../../../lambdas/operations/domain/queue-operations';
import {
  type OldestAgeReader,
  QUEUE_NAMES,
  type QueueDepth,
  type QueueDepthReader,
  type QueueName,
  type QueuePair,
} from '../../../lambdas/operations/domain/queues';
import type { RedriveQueues } from '../../../lambdas/operations/domain/redrive';

export interface FakeMessage {
  readonly id: string;
  readonly body: string;
  readonly sentAt: number;
  /** Received and not deleted: hidden until then. */
  invisibleUntil?: number;
  delayedUntil?: number;
}

/**
 * SQS queues in memory, by URL, as the queue routes and the redrive see them: depths, oldest ages by send time,
 * receive (hides), send, delete. `failSendsOf` makes sends of bodies fail; `ageReaderFails` the age reader.
 */
export class InMemoryQueues implements QueueDepthReader, OldestAgeReader, RedriveQueues<FakeMessage> {
  readonly source = 'fauxqs' as const;
  readonly queues = new Map<string, FakeMessage[]>();
  readonly failSendsOf = new Set<string>();
  ageReaderFails = false;
  /** Ages known to the reader: false makes every age unknown (CloudWatch without a datapoint). */
  agesKnown = true;
  receives = 0;
  /** Milliseconds each receive takes (on `clock`): what a redrive's time budget counts. */
  receiveTakesMs = 0;
  private sequence = 0;

  constructor(readonly clock: { now: number }) {}

  put(queueUrl: string, body: string, options: { ageSeconds?: number; delaySeconds?: number } = {}) {
    this.sequence += 1;
    const message: FakeMessage = {
      id: `m${this.sequence}`,
      body,
      sentAt: this.clock.now - (options.ageSeconds ?? 0) * 1000,
      ...(options.delaySeconds ? { delayedUntil: this.clock.now + options.delaySeconds * 1000 } : {}),
    };
    this.queue(queueUrl).push(message);
    return message;
  }

  queue(queueUrl: string): FakeMessage[] {
    let queue = this.queues.get(queueUrl);
    if (!queue) {
      queue = [];
      this.queues.set(queueUrl, queue);
    }
    return queue;
  }

  bodies(queueUrl: string): string[] {
    return this.queue(queueUrl).map((message) => message.body);
  }

  async depth(queueUrl: string): Promise<QueueDepth> {
    const now = this.clock.now;
    const messages = this.queue(queueUrl);
    const delayed = messages.filter((m) => (m.delayedUntil ?? 0) > now).length;
    const inFlight = messages.filter((m) => (m.invisibleUntil ?? 0) > now).length;
    return { visible: messages.length - delayed - inFlight, inFlight, delayed };
  }

  async read(queueUrls: readonly string[], now: number) {
    if (this.ageReaderFails) throw new Error('inspection unavailable');
    const seconds = new Map<string, number>();
    for (const url of queueUrls) {
      const sent = this.queue(url).map((message) => message.sentAt);
      if (this.agesKnown && sent.length > 0) seconds.set(url, Math.floor((now - Math.min(...sent)) / 1000));
    }
    return { seconds, unknownReason: 'no age known' };
  }

  async receive(queueUrl: string, options: { visibilityTimeoutSeconds: number }) {
    this.receives += 1;
    this.clock.now += this.receiveTakesMs;
    const now = this.clock.now;
    const ready = this.queue(queueUrl)
      .filter((m) => (m.invisibleUntil ?? 0) <= now && (m.delayedUntil ?? 0) <= now)
      .slice(0, 10);
    for (const message of ready) message.invisibleUntil = now + options.visibilityTimeoutSeconds * 1000;
    return ready.map((message) => ({ ...message }));
  }

  async send(queueUrl: string, messages: readonly FakeMessage[]) {
    const sent = messages.filter((message) => !this.failSendsOf.has(message.body));
    for (const message of sent) this.put(queueUrl, message.body);
    return sent;
  }

  async delete(queueUrl: string, messages: readonly FakeMessage[]) {
    const ids = new Set(messages.map((message) => message.id));
    const queue = this.queue(queueUrl);
    this.queues.set(
      queueUrl,
      queue.filter((message) => !ids.has(message.id)),
    );
    return queue.length - (this.queues.get(queueUrl)?.length ?? 0);
  }
}

/** The pipeline's five queue pairs at fake URLs (`https://sqs.test/<name>` and `<name>-dlq`). */
export function fakeQueuePairs(
  names: readonly QueueName[] = QUEUE_NAMES,
): Partial<Record<QueueName, QueuePair>> {
  return Object.fromEntries(
    names.map((name) => [
      name,
      {
        sourceUrl: `https://sqs.test/000000000000/${name}`,
        deadLetterUrl: `https://sqs.test/000000000000/${name}-dlq`,
      },
    ]),
  );
}

/** Queue operations over `queues`, for the API's `operations` dependency. */
export function fakeQueueOperations(
  queues: InMemoryQueues,
  options: { names?: readonly QueueName[]; redriveBudgetMs?: number } = {},
): QueueOperations {
  return {
    pairs: fakeQueuePairs(options.names),
    depths: queues,
    ages: queues,
    redrive: queues,
    ...(options.redriveBudgetMs !== undefined ? { redriveBudgetMs: options.redriveBudgetMs } : {}),
  };
}
