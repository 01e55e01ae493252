import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSEvent } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { metrics } from '../../platform/metrics';
import { createDelivery } from '../adapters/deliver-dependencies';
import { deliverBatch } from '../domain/delivery-batch';
import { parseDeliveryRecord } from '../domain/messages';
import { DELIVER_FUNCTION_VARIABLES } from '../function-variables';

/**
 * Delivery: one DeliveriesQueue message is one attempt (or a reschedule) of one event to one endpoint. The consumer
 * is domain/delivery.ts `deliverBatch`; one Delivery per execution environment (adapters/deliver-dependencies.ts).
 */
const logger = new Logger();
const delivery = createDelivery(readConfig(DELIVER_FUNCTION_VARIABLES, process.env), logger);

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .handler((event, context) =>
    deliverBatch(delivery, event.Records.map(parseDeliveryRecord), {
      deadline: Date.now() + context.getRemainingTimeInMillis(),
    }),
  );
