import type { Logger } from '@aws-lambda-powertools/logger';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import type { ConfigOf } from '../../platform/config';
import { documentClient } from '../../platform/dynamodb';
import { publishCount } from '../../platform/metrics';
import type { ChargeRecord } from '../domain/charges/charge';
import { type OutboxDeps, type OutboxRecord, processOutboxBatch } from '../domain/outbox';
import type { Subscription } from '../domain/subscription';
import type { BILLING_OUTBOX_FUNCTION_VARIABLES } from '../function-variables';
import { DynamoRunsRepository } from './dynamo-runs-repository';

/**
 * The billing outbox function (handlers/billing-outbox.ts) put together, on the streams of the subscriptions and
 * charges tables: `processOutboxBatch` turns each change into its events and run counters, and names the record
 * the stream retries from.
 */

export type BillingOutboxConfig = ConfigOf<(typeof BILLING_OUTBOX_FUNCTION_VARIABLES)[number]>;

/**
 * The event of a mapping with a tumbling window (lib/features/billing.ts): Lambda names the records' shard only then, and
 * expects a `state` back.
 */
export type OutboxStreamEvent = DynamoDBStreamEvent & { readonly shardId?: string };
export type OutboxStreamResponse = DynamoDBBatchResponse & { readonly state: Record<string, never> };

export function billingOutbox(
  config: BillingOutboxConfig,
  logger: Logger,
): (event: OutboxStreamEvent) => Promise<OutboxStreamResponse> {
  const deps: OutboxDeps = {
    events: new DynamoEventsRepository({ client: documentClient(), tableName: config.EVENTS_TABLE_NAME }),
    counters: new DynamoRunsRepository({ client: documentClient(), tableName: config.RUNS_TABLE_NAME }),
    onFailure: ({ sequenceNumber, stage, runId, error }) =>
      logger.error('billing outbox record failed; the stream retries from it', {
        sequenceNumber,
        stage,
        runId,
        error,
      }),
  };
  const tables = { subscriptions: config.SUBSCRIPTIONS_TABLE_NAME, charges: config.CHARGES_TABLE_NAME };
  return async (event) => {
    const result = await processOutboxBatch(deps, {
      shard: shardOf(event),
      records: event.Records.map((record) => outboxRecordOf(record, tables)),
    });
    // Every report holds its shard back until the record goes through: the alarm on it calls someone.
    if (result.batchItemFailures.length > 0)
      publishCount('StreamRecordsFailed', result.batchItemFailures.length);
    return { ...result, state: {} };
  };
}

/**
 * The counters' fence is per shard. Without a shard in the event (the local runtime on DynamoDB Local, which keeps
 * one shard per stream at a time and numbers its records stream-wide), the stream stands for its shard.
 */
function shardOf(event: OutboxStreamEvent): string {
  return event.shardId ?? event.Records[0]?.eventSourceARN ?? 'none';
}

/** A stream record as the outbox reads it: which table's item changed, from what to what. */
function outboxRecordOf(
  record: DynamoDBRecord,
  tables: { readonly subscriptions: string; readonly charges: string },
): OutboxRecord {
  const image = (value: unknown) => (value ? unmarshall(value as Record<string, AttributeValue>) : undefined);
  const sequenceNumber = record.dynamodb?.SequenceNumber ?? '';
  const table = /:table\/([^/]+)\/stream\//.exec(record.eventSourceARN ?? '')?.[1];
  const images = { before: image(record.dynamodb?.OldImage), after: image(record.dynamodb?.NewImage) };
  if (table === tables.subscriptions) {
    return {
      sequenceNumber,
      change: { table: 'subscriptions', ...(images as { before?: Subscription; after?: Subscription }) },
    };
  }
  if (table === tables.charges) {
    return {
      sequenceNumber,
      change: { table: 'charges', ...(images as { before?: ChargeRecord; after?: ChargeRecord }) },
    };
  }
  return { sequenceNumber, change: { table: 'unknown', source: record.eventSourceARN ?? '' } };
}
