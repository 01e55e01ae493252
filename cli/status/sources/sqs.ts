import type { SQSClient } from '@aws-sdk/client-sqs';
import { SqsQueueDepths } from '../../../lambdas/operations/adapters/sqs-queues';
import {
  type OldestAgeReader,
  type QueuePair,
  type QueueStatus,
  readQueues as readQueueStatus,
} from '../../../lambdas/operations/domain/queues';
import type { QueueName } from '../../redrive';

// The queues' reading lives with the API's queue routes (lambdas/operations/): one implementation for both.
export type {
  OldestAgeReader,
  OldestAges,
  QueueDepth,
  QueueState,
  QueueStatus,
} from '../../../lambdas/operations/domain/queues';
export { queueNameOf } from '../../../lambdas/operations/domain/queues';

/** Where the queues are read from. */
export interface QueueSource {
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly pairs: Readonly<Record<QueueName, QueuePair | undefined>>;
  readonly ages: OldestAgeReader;
}

/** Every known queue of the pipeline and its dead-letter queue: their depths and oldest messages. */
export function readQueues({ sqs, pairs, ages }: QueueSource, now: number): Promise<QueueStatus[]> {
  return readQueueStatus({ depths: new SqsQueueDepths(sqs), pairs, ages }, now);
}
