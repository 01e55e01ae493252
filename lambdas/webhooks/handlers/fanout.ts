import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { fanoutConsumer } from '../adapters/fanout-dependencies';
import { FANOUT_FUNCTION_VARIABLES } from '../function-variables';

/**
 * Fan-out, attached to the streams of the transactions table and of the events table (ReportBatchItemFailures):
 * the consumer is domain/fanout.ts `fanOutBatch`, wired in adapters/fanout-dependencies.ts.
 */
const logger = new Logger();
const fanOut = fanoutConsumer(readConfig(FANOUT_FUNCTION_VARIABLES, process.env), logger);

export const handler = middy<DynamoDBStreamEvent>()
  .use(injectLambdaContext(logger))
  .handler((event) => fanOut(event));
