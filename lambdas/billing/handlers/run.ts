import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { metrics } from '../../platform/metrics';
import { gatewayApiKeyFromSecrets } from '../adapters/gateway-api-key';
import { isSqsEvent, runFunction } from '../adapters/run-function';
import { RUN_FUNCTION_VARIABLES } from '../function-variables';

/**
 * Subscription runs (adapters/run-function.ts): the schedules' triggers, and RunsQueue's messages, each a step of
 * a run or a reconciliation of a completed one.
 */
const config = readConfig(RUN_FUNCTION_VARIABLES, process.env);
const logger = new Logger();
const gatewayKey = gatewayApiKeyFromSecrets();
const runs = runFunction(config, logger, gatewayKey.apiKey);
const processor = new BatchProcessor(EventType.SQS);

export const handler = middy<SQSEvent | unknown>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(gatewayKey.middleware)
  .handler(async (event, context) => {
    if (!isSqsEvent(event)) return runs.trigger(event);
    const receive = (record: SQSRecord) => runs.receive(record, () => context.getRemainingTimeInMillis());
    return processPartialResponse(event, receive, processor, { context });
  });
