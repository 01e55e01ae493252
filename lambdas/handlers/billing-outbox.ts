import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoEventsRepository } from '../adapters/dynamo-events-repository';
import { DynamoRunsRepository } from '../adapters/dynamo-runs-repository';
import { documentClient } from '../adapters/dynamodb';
import { requireEnv } from '../adapters/environment';
import type { ChargeRecord } from '../domain/subscriptions/charges';
import {
  type CounterDelta,
  chargeChangeEffects,
  emptyEffects,
  subscriptionChangeEffects,
} from '../domain/subscriptions/outbox';
import type { Subscription } from '../domain/subscriptions/subscription';

/**
 * The billing outbox (docs/subscriptions-design.md), on the streams of the subscriptions and charges tables: each
 * change becomes its events (stored in the events table, whose stream fans them out to webhooks and emails) and
 * its run counters.
 *
 * Records are handled in order and the batch stops at the first failure, which is reported: the stream then
 * retries from that record, and the counters of the records before it (applied once, below) are not counted
 * again. (Powertools' BatchProcessor would go on past a failure, and the records after it would be re-delivered
 * and counted twice.)
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

export const handler = middy<DynamoDBStreamEvent>()
  .use(injectLambdaContext(logger))
  .handler(async (event): Promise<DynamoDBBatchResponse> => {
    const counters = new Map<string, CounterDelta>();
    let failedAt: string | undefined;
    for (const record of event.Records) {
      try {
        const own = emptyEffects();
        recordEffects(record, own);
        for (const pipelineEvent of own.events) await events.put(pipelineEvent, 'direct');
        // Counted only once its events are stored: a failed record counts nothing and is retried whole.
        for (const [runId, delta] of own.counters) {
          const sum = counters.get(runId) ?? { total: 0, succeeded: 0, failed: 0 };
          sum.total += delta.total;
          sum.succeeded += delta.succeeded;
          sum.failed += delta.failed;
          counters.set(runId, sum);
        }
      } catch (error) {
        logger.error('billing outbox record failed; the stream retries from it', {
          error,
          sequenceNumber: record.dynamodb?.SequenceNumber,
        });
        failedAt = record.dynamodb?.SequenceNumber ?? '';
        break;
      }
    }
    for (const [runId, delta] of counters) await runs.add(runId, delta);
    return { batchItemFailures: failedAt === undefined ? [] : [{ itemIdentifier: failedAt }] };
  });

function recordEffects(record: DynamoDBRecord, effects: ReturnType<typeof emptyEffects>): void {
  const image = (value: unknown) => (value ? unmarshall(value as Record<string, AttributeValue>) : undefined);
  const before = image(record.dynamodb?.OldImage);
  const after = image(record.dynamodb?.NewImage);
  const table = /:table\/([^/]+)\/stream\//.exec(record.eventSourceARN ?? '')?.[1];
  if (table === tables.subscriptions) {
    subscriptionChangeEffects(effects, before as Subscription | undefined, after as Subscription | undefined);
  } else if (table === tables.charges) {
    chargeChangeEffects(effects, before as ChargeRecord | undefined, after as ChargeRecord | undefined);
  } else {
    throw new Error(`A stream record from an unknown table: ${record.eventSourceARN}`);
  }
}
