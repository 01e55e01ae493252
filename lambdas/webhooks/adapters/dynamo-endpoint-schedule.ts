import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoGcraSchedule } from '../../platform/dynamo-gcra-schedule';
import type { EndpointSchedule } from '../domain/endpoint-pace';

/**
 * The shared schedule of each rate-limited endpoint (domain/endpoint-pace.ts, GCRA; the writes:
 * platform/dynamo-gcra-schedule.ts, as the gateway limit's), in the attempts table, which delivery already writes:
 * one item `{endpointId: "rate-limit#<endpointId>", sk: "schedule", kind: "endpoint-rate-limit", nextAt}`. Endpoint
 * ids are `ep_…`, so the partition is apart from every endpoint's attempts, and no reader lists it. One write per
 * delivery while a backlog queues, two after an idle spell; only endpoints with a `rateLimit` pay it.
 *
 * The item has no TTL: `nextAt` may be a backlog's length ahead (a day's recovery at 1/s), and a schedule deleted
 * before it passes would let new reservations overlap the ones messages carry. It is a few dozen bytes per endpoint
 * that ever had a limit.
 */
export class DynamoEndpointSchedule implements EndpointSchedule {
  private readonly schedule: DynamoGcraSchedule<{ endpointId: string; sk: string }>;

  constructor(props: { client: DynamoDBDocumentClient; tableName: string }) {
    this.schedule = new DynamoGcraSchedule({
      client: props.client,
      tableName: props.tableName,
      kind: 'endpoint-rate-limit',
      name: 'endpoint schedule',
    });
  }

  reserve(endpointId: string, now: number, intervalMs: number): Promise<number> {
    return this.schedule.reserve(endpointScheduleKey(endpointId), now, intervalMs);
  }
}

/** The attempts table's key of an endpoint's schedule: a partition no endpoint id (`ep_…`) can be. */
export function endpointScheduleKey(endpointId: string): { endpointId: string; sk: string } {
  return { endpointId: `rate-limit#${endpointId}`, sk: 'schedule' };
}
