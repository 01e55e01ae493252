import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { metrics } from '../../platform/metrics';
import { type ContextWithSecrets, loadSecrets } from '../../platform/secrets';
import { isSqsEvent, runFunction } from '../adapters/run-function';
import { RUN_FUNCTION_VARIABLES } from '../function-variables';

/**
 * Subscription runs (adapters/run-function.ts): the schedules' triggers, and RunsQueue's messages, each a step of
 * a run or a reconciliation of a completed one.
 */
const config = readConfig(RUN_FUNCTION_VARIABLES, process.env);
const logger = new Logger();
// One secrets middleware for both (they share middy's cache key): the gateway's key for the reconciliation, and
// the key that signs the datafeeds' manage links. Kept for the invocation; a rotated one is read after the cache.
const secretBindings = {
  paymentGatewayApiKey: 'PAYMENT_GATEWAY_API_KEY_SECRET_ARN',
  manageLinkKey: 'MANAGE_LINK_KEY_SECRET_ARN',
} as const;
let secrets: ContextWithSecrets<typeof secretBindings> | undefined;
const runs = runFunction(config, logger, {
  apiKey: () => secrets?.paymentGatewayApiKey ?? '',
  manageLinkKey: () => secrets?.manageLinkKey ?? '',
});
const processor = new BatchProcessor(EventType.SQS);

export const handler = middy<SQSEvent | unknown>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(loadSecrets(secretBindings))
  .before((request) => {
    secrets = request.context as ContextWithSecrets<typeof secretBindings>;
  })
  .handler(async (event, context) => {
    if (!isSqsEvent(event)) return runs.trigger(event);
    const receive = (record: SQSRecord) => runs.receive(record, () => context.getRemainingTimeInMillis());
    return processPartialResponse(event, receive, processor, { context });
  });
