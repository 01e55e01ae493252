import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoGcraSchedule } from '../../platform/dynamo-gcra-schedule';
import type { GatewaySchedule } from '../domain/gateway-pace';

/**
 * The gateway limit's shared schedule (domain/gateway-pace.ts, GCRA; the writes: platform/dynamo-gcra-schedule.ts)
 * in the runs table, which billing owns: one item `{runId: "rate-limit#<key>", sk: "schedule", kind:
 * "gateway-rate-limit", nextAt: <epoch ms>}`. Run ids are UTC dates (`YYYY-MM-DD`), so the partition `rate-limit#…`
 * is apart from every run, its manifest pages and its reconciliation report; no reader of the table lists
 * partitions. The charge function may update this partition only (a `dynamodb:LeadingKeys` condition in
 * lib/features/billing.ts). The item is a few dozen bytes, one write unit per request; the runs table has no TTL,
 * and needs none here.
 */
export class DynamoGatewaySchedule implements GatewaySchedule {
  private readonly schedule: DynamoGcraSchedule<{ runId: string; sk: string }>;
  private readonly key: { runId: string; sk: string };

  constructor(props: { client: DynamoDBDocumentClient; tableName: string; key: string }) {
    this.schedule = new DynamoGcraSchedule({
      client: props.client,
      tableName: props.tableName,
      kind: 'gateway-rate-limit',
      name: 'gateway schedule',
    });
    this.key = gatewayScheduleKey(props.key);
  }

  reserve(now: number, intervalMs: number, latest: number): Promise<number> {
    return this.schedule.reserve(this.key, now, intervalMs, latest);
  }
}

/** The runs table's key of the shared schedule of `key`: a partition no run id (a UTC date) can be. */
export function gatewayScheduleKey(key: string): { runId: string; sk: string } {
  return { runId: `rate-limit#${key}`, sk: 'schedule' };
}
