import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ConfigOf } from '../../platform/config';
import type { documentClient } from '../../platform/dynamodb';
import { metrics } from '../../platform/metrics';
import { GATEWAY_LIMIT_KEY, type GatewayPace, GatewayPacer } from '../domain/gateway-pace';
import { DynamoGatewaySchedule } from './dynamo-gateway-schedule';

/**
 * The shared gateway limit (PAYMENT_GATEWAY_RATE_LIMIT), its schedule in the runs table: one pacer per execution
 * environment, one schedule shared by every environment that asks the gateway. A failed write to it is logged and
 * counted; the limit then falls back to this environment's own pace (domain/gateway-pace.ts).
 */
export function gatewayPace(
  config: ConfigOf<'PAYMENT_GATEWAY_RATE_LIMIT' | 'RUNS_TABLE_NAME'>,
  client: ReturnType<typeof documentClient>,
  logger?: Logger,
): GatewayPace {
  return new GatewayPacer(
    config.PAYMENT_GATEWAY_RATE_LIMIT,
    new DynamoGatewaySchedule({ client, tableName: config.RUNS_TABLE_NAME, key: GATEWAY_LIMIT_KEY }),
    {
      onSyncFailure: (error) => {
        metrics.addMetric('GatewayLimitSyncFailures', MetricUnit.Count, 1);
        logger?.warn('gateway limit: the shared schedule failed; pacing on this environment alone', {
          error,
        });
      },
    },
  );
}
