import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { loadConfig } from '../../platform/config';
import { documentClient } from '../../platform/dynamodb';
import { requireEnv } from '../../platform/environment';
import { metrics } from '../../platform/metrics';
import { type ContextWithSecrets, loadSecrets } from '../../platform/secrets';
import { DynamoChargesRepository } from '../adapters/dynamo-charges-repository';
import { DynamoSubscriptionsRepository } from '../adapters/dynamo-subscriptions-repository';
import { SqsChargeQueue } from '../adapters/sqs-billing-queues';
import { StripePaymentGateway } from '../adapters/stripe-payment-gateway';
import { chargeMessage, consumeChargeMessage } from '../domain/charge-consumer';
import { chargeRefToString, searchSettleFor } from '../domain/charges';

/**
 * The charge consumer (ChargesQueue): one message is one claimed charge. A pending claim goes to the gateway with
 * its stable Idempotency-Key; an answer that cannot be trusted fails the message, which comes back after the
 * visibility timeout and asks again with the same key. Its maximum concurrency protects the gateway.
 */
const logger = new Logger();
const config = loadConfig(process.env, 'aws');
const secretBindings = { paymentGatewayApiKey: 'PAYMENT_GATEWAY_API_KEY_SECRET_ARN' } as const;
if (!config.paymentGatewayUrl) throw new Error('PAYMENT_GATEWAY_URL is not set for the charge function.');
let gatewayKey = '';
const gateway = new StripePaymentGateway({
  url: config.paymentGatewayUrl,
  timeoutMs: config.paymentGatewayTimeoutMs,
  apiKey: () => gatewayKey,
});
const charges = new DynamoChargesRepository({
  client: documentClient(),
  tableName: requireEnv('CHARGES_TABLE_NAME'),
});
const subscriptions = new DynamoSubscriptionsRepository({
  client: documentClient(),
  tableName: requireEnv('SUBSCRIPTIONS_TABLE_NAME'),
});
const queue = new SqsChargeQueue({
  client: new SQSClient({}),
  queueUrl: requireEnv('CHARGES_QUEUE_URL'),
  deadLetterQueueUrl: requireEnv('CHARGES_DLQ_URL'),
});
const processor = new BatchProcessor(EventType.SQS);
const deps = {
  charges,
  subscriptions,
  gateway,
  queue,
  dunning: { scheduleMs: config.dunningScheduleMs, finalAction: config.dunningFinalAction },
  now: Date.now,
  // A search that finds nothing is believed once every ask has surely ended: this function's timeout, sized in
  // lib/billing.ts from the gateway timeout, bounds how late an ask can be sent.
  settings: { searchSettleMs: searchSettleFor(config.paymentGatewayTimeoutMs) },
  consumer: {
    processingPollMs: config.paymentProcessingPollMs,
    ...(process.env.CHARGE_RETRY_BASE_SECONDS
      ? { retryBaseSeconds: Number(process.env.CHARGE_RETRY_BASE_SECONDS) }
      : {}),
  },
};

async function charge(record: SQSRecord): Promise<void> {
  // A malformed message is a bug upstream: it fails, and after the queue's retries it waits on the DLQ.
  const message = chargeMessage.parse(JSON.parse(record.body));
  const ref = chargeRefToString(message);
  const result = await consumeChargeMessage(deps, message).catch((error: unknown) => {
    // The message comes back after its visibility timeout; every step before the failure is safe to repeat.
    logger.error('charge failed; the message will be processed again', { charge: ref, error });
    throw error;
  });
  if (result.kind === 'deferred') return;
  const { outcome, next } = result;
  switch (outcome.outcome) {
    case 'pending':
      metrics.addMetric('ChargesPending', MetricUnit.Count, 1);
      // Not JSON, an unknown status, another charge's metadata, a 5xx, a timeout: the log names which.
      if (outcome.cause !== 'search-not-settled')
        metrics.addMetric('GatewayAnswersUntrusted', MetricUnit.Count, 1);
      logger.warn('charge still pending: no trustworthy answer yet', {
        charge: ref,
        cause: outcome.cause,
        reason: outcome.reason,
        next,
      });
      return;
    case 'refused':
      metrics.addMetric('GatewayAuthRefused', MetricUnit.Count, 1);
      logger.error('the gateway refused the API key: the charge stays pending, unasked, on the DLQ', {
        charge: ref,
        reason: outcome.reason,
      });
      return;
    case 'missing-claim':
      // Runs claim before they send, so the claim was withdrawn before anyone asked: a run holder that had lost
      // its lease took back a claim it made late. Nothing to charge; if still due, the run claims it again.
      metrics.addMetric('ChargesWithdrawn', MetricUnit.Count, 1);
      logger.warn('charge message for a withdrawn claim: nothing to charge', { charge: ref });
      return;
    case 'released':
      metrics.addMetric('ChargesReleased', MetricUnit.Count, 1);
      logger.info('charge released: the subscription no longer owes it (canceled before the ask)', {
        charge: ref,
      });
      return;
    case 'processing':
      if (!outcome.repeated) metrics.addMetric('ChargesProcessing', MetricUnit.Count, 1);
      return;
    default:
      if (!outcome.repeated) {
        metrics.addMetric(
          outcome.outcome === 'succeeded' ? 'ChargesSucceeded' : 'ChargesFailed',
          MetricUnit.Count,
          1,
        );
      }
      logger.debug('charge processed', { charge: ref, ...outcome });
  }
}

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(loadSecrets(secretBindings))
  .handler((event, context) => {
    gatewayKey = (context as ContextWithSecrets<typeof secretBindings>).paymentGatewayApiKey;
    return processPartialResponse(event, charge, processor, { context });
  });
