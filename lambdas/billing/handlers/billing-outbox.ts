import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { readConfig } from '../../platform/config';
import {
  billingOutbox,
  type OutboxStreamEvent,
  type OutboxStreamResponse,
} from '../adapters/billing-outbox-function';
import { BILLING_OUTBOX_FUNCTION_VARIABLES } from '../function-variables';

/**
 * The billing outbox (docs/subscriptions-design.md), on the streams of the subscriptions and charges tables
 * (adapters/billing-outbox-function.ts): each change turned into its events and run counters.
 */
const config = readConfig(BILLING_OUTBOX_FUNCTION_VARIABLES, process.env);
const logger = new Logger();
const processBatch = billingOutbox(config, logger);

export const handler = middy<OutboxStreamEvent, OutboxStreamResponse>()
  .use(injectLambdaContext(logger))
  .handler((event) => processBatch(event));
