import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { StreamRecordInput, StreamTable } from '../domain/fanout';

/** The names of the two tables whose streams fan-out reads. */
export interface StreamTableNames {
  readonly transactions: string;
  readonly events: string;
}

/** The table named in a stream ARN (`arn:...:table/<name>/stream/<label>`), if it is one of the two. */
export function streamTableNamed(
  eventSourceArn: string | undefined,
  tables: StreamTableNames,
): StreamTable | undefined {
  const name = /:table\/([^/]+)\/stream\//.exec(eventSourceArn ?? '')?.[1];
  if (name === tables.transactions) return 'transactions';
  if (name === tables.events) return 'events';
  return undefined;
}

/** A DynamoDB stream record as fan-out reads it: its images unmarshalled, its table told from its source ARN. */
export function streamRecordInput(record: DynamoDBRecord, tables: StreamTableNames): StreamRecordInput {
  const { dynamodb } = record;
  let newImage: Record<string, unknown> | undefined;
  try {
    newImage = dynamodb?.NewImage
      ? unmarshall(dynamodb.NewImage as Record<string, AttributeValue>)
      : undefined;
  } catch {
    // Reported by the consumer as a record without a readable image.
  }
  const table = streamTableNamed(record.eventSourceARN, tables);
  return {
    sequenceNumber: dynamodb?.SequenceNumber ?? '',
    ...(record.eventName ? { eventName: record.eventName } : {}),
    ...(table ? { table } : {}),
    ...(dynamodb?.Keys ? { keys: unmarshall(dynamodb.Keys as Record<string, AttributeValue>) } : {}),
    ...(newImage ? { newImage } : {}),
  };
}
