import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ConfigOf } from '../../platform/config';
import type { documentClient } from '../../platform/dynamodb';
import { metrics } from '../../platform/metrics';
import { type GatewayPace, GatewayPacer } from '../domain/gateway-pace';
import { DynamoGatewayWindowCounters } from './dynamo-gateway-window-counters';

/**
 * The shared gateway limit (PAYMENT_GATEWAY_RATE_LIMIT), its counts in the runs table: one per execution
 * environment, shared by every environment that asks the gateway. A failed sync is logged and counted; the limit
 * then falls back to this environment's own pace (domain/gateway-pace.ts).
 */
export function gatewayPace(
  config: ConfigOf<'PAYMENT_GATEWAY_RATE_LIMIT' | 'RUNS_TABLE_NAME'>,
  client: ReturnType<typeof documentClient>,
  logger?: Logger,
): GatewayPace {
  return new GatewayPacer(
    config.PAYMENT_GATEWAY_RATE_LIMIT,
    new DynamoGatewayWindowCounters({ client, tableName: config.RUNS_TABLE_NAME }),
    {
      onSyncFailure: (error) => {
        metrics.addMetric('GatewayLimitSyncFailures', MetricUnit.Count, 1);
        logger?.warn('gateway limit: sync of the shared counts failed; pacing on this environment alone', {
          error,
        });
      },
    },
  );
}
