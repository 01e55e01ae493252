import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { QueueOperations } from '../domain/queue-operations';
import type { OldestAgeReader, QueueName, QueuePair } from '../domain/queues';
import { cloudWatchAges } from './cloudwatch-ages';
import { fauxqsAges } from './fauxqs-ages';
import { SqsQueueDepths, SqsRedriveQueues } from './sqs-queues';

/**
 * Where the oldest messages' ages come from: locally (the SDK pointed at the emulator by AWS_ENDPOINT_URL_SQS,
 * which only the local runtime sets) fauxqs's inspection endpoint, in AWS CloudWatch's
 * ApproximateAgeOfOldestMessage. Either way an age that cannot be read is left out, never an error.
 */
export function queueAgeReader(
  environment: Readonly<Record<string, string | undefined>> = process.env,
): OldestAgeReader {
  const emulator = environment.AWS_ENDPOINT_URL_SQS;
  if (emulator) return fauxqsAges(emulator, 2_000);
  // Made on the first read, not at the API's cold start: only the admin's queue view reads ages.
  let cloudwatch: CloudWatchClient | undefined;
  return cloudWatchAges({
    send: (command) => {
      cloudwatch ??= new CloudWatchClient({ maxAttempts: 2 });
      return cloudwatch.send(command);
    },
  });
}

/** The queue operations on SQS, for `pairs`. */
export function sqsQueueOperations(
  sqs: SQSClient,
  pairs: Readonly<Partial<Record<QueueName, QueuePair>>>,
  ages: OldestAgeReader,
): QueueOperations {
  return { pairs, depths: new SqsQueueDepths(sqs), ages, redrive: new SqsRedriveQueues(sqs) };
}
