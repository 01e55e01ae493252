import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { documentClient } from '../../platform/dynamodb';
import type { WebhookLogger } from '../domain/delivery';
import type { replayMessage } from '../domain/replay';
import type { ReplayConfig } from '../function-variables';
import { DynamoAttemptsRepository } from './dynamo-attempts-repository';
import { SqsDeliveryQueue } from './sqs-delivery-queue';

/** What a replay, recover, resend or test job needs (domain/replay.ts), built once per execution environment. */
export function replayDependencies(
  config: ReplayConfig,
  logger: WebhookLogger,
): Parameters<typeof replayMessage>[1] {
  return {
    events: new DynamoEventsRepository({ client: documentClient(), tableName: config.EVENTS_TABLE_NAME }),
    // A recover leaves out what was delivered: it reads the attempts, never writes them.
    attempts: new DynamoAttemptsRepository({
      client: documentClient(),
      tableName: config.ATTEMPTS_TABLE_NAME,
    }),
    // Replay only sends first attempts: the dead-letter queue is delivery's.
    queue: new SqsDeliveryQueue({ client: new SQSClient({}), queueUrl: config.DELIVERIES_QUEUE_URL }),
    logger,
  };
}
