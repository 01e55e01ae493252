import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { documentClient } from '../../platform/dynamodb';
import { requireEnv } from '../../platform/environment';
import { publishCount } from '../../platform/metrics';
import { DynamoRunsRepository } from '../adapters/dynamo-runs-repository';
import type { ChargeRecord } from '../domain/charges';
import { type OutboxRecord, processOutboxBatch } from '../domain/outbox';
import type { Subscription } from '../domain/subscription';

/**
 * The billing outbox (docs/subscriptions-design.md), on the streams of the subscriptions and charges tables:
 * `processOutboxBatch` turns each change into its events and run counters, and names the record the stream retries
 * from.
 */
const logger = new Logger();
const tables = {
  subscriptions: requireEnv('SUBSCRIPTIONS_TABLE_NAME'),
  charges: requireEnv('CHARGES_TABLE_NAME'),
};
const events = new DynamoEventsRepository({
  client: documentClient(),
  tableName: requireEnv('EVENTS_TABLE_NAME'),
});
const runs = new DynamoRunsRepository({ client: documentClient(), tableName: requireEnv('RUNS_TABLE_NAME') });

/**
 * The event of a mapping with a tumbling window (lib/billing.ts): Lambda names the records' shard only then, and
 * expects a `state` back.
 */
export type OutboxStreamEvent = DynamoDBStreamEvent & { readonly shardId?: string };
export type OutboxStreamResponse = DynamoDBBatchResponse & { readonly state: Record<string, never> };

export const handler = middy<OutboxStreamEvent, OutboxStreamResponse>()
  .use(injectLambdaContext(logger))
  .handler(async (event): Promise<OutboxStreamResponse> => {
    const result = await processOutboxBatch(
      {
        events,
        counters: runs,
        onFailure: ({ sequenceNumber, stage, runId, error }) =>
          logger.error('billing outbox record failed; the stream retries from it', {
            sequenceNumber,
            stage,
            runId,
            error,
          }),
      },
      { shard: shardOf(event), records: event.Records.map(outboxRecordOf) },
    );
    // Every report holds its shard back until the record goes through: the alarm on it calls someone.
    if (result.batchItemFailures.length > 0)
      publishCount('StreamRecordsFailed', result.batchItemFailures.length);
    return { ...result, state: {} };
  });

/**
 * The counters' fence is per shard. Without a shard in the event (the local runtime on DynamoDB Local, which keeps
 * one shard per stream at a time and numbers its records stream-wide), the stream stands for its shard.
 */
function shardOf(event: OutboxStreamEvent): string {
  return event.shardId ?? event.Records[0]?.eventSourceARN ?? 'none';
}

function outboxRecordOf(record: DynamoDBRecord): OutboxRecord {
  const image = (value: unknown) => (value ? unmarshall(value as Record<string, AttributeValue>) : undefined);
  const before = image(record.dynamodb?.OldImage);
  const after = image(record.dynamodb?.NewImage);
  const sequenceNumber = record.dynamodb?.SequenceNumber ?? '';
  const table = /:table\/([^/]+)\/stream\//.exec(record.eventSourceARN ?? '')?.[1];
  if (table === tables.subscriptions) {
    return {
      sequenceNumber,
      change: {
        table: 'subscriptions',
        before: before as Subscription | undefined,
        after: after as Subscription | undefined,
      },
    };
  }
  if (table === tables.charges) {
    return {
      sequenceNumber,
      change: {
        table: 'charges',
        before: before as ChargeRecord | undefined,
        after: after as ChargeRecord | undefined,
      },
    };
  }
  return { sequenceNumber, change: { table: 'unknown', source: record.eventSourceARN ?? '' } };
}
