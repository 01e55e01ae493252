import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSEvent } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { metrics } from '../../platform/metrics';
import { chargeConsumerDeps, chargeRecordHandler } from '../adapters/charge-function';
import { gatewayApiKeyFromSecrets } from '../adapters/gateway-api-key';
import { CHARGE_FUNCTION_VARIABLES } from '../function-variables';

/**
 * The charge consumer (ChargesQueue): one message is one claimed charge, asked at the gateway with its stable
 * Idempotency-Key (adapters/charge-function.ts), in its turn under the gateway's shared rate limit.
 */
const config = readConfig(CHARGE_FUNCTION_VARIABLES, process.env);
const logger = new Logger();
const gatewayKey = gatewayApiKeyFromSecrets();
const chargeRecord = chargeRecordHandler(chargeConsumerDeps(config, gatewayKey.apiKey, logger), logger);
const processor = new BatchProcessor(EventType.SQS);

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(gatewayKey.middleware)
  .handler((event, context) => processPartialResponse(event, chargeRecord, processor, { context }));
