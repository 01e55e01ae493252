import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { DynamoChargesRepository } from '../adapters/dynamo-charges-repository';
import { DynamoSubscriptionsRepository } from '../adapters/dynamo-subscriptions-repository';
import { documentClient } from '../adapters/dynamodb';
import { requireEnv } from '../adapters/environment';
import { metrics } from '../adapters/metrics';
import { type ContextWithSecrets, loadSecrets } from '../adapters/secrets';
import { SqsChargeQueue } from '../adapters/sqs-billing-queues';
import { StripePaymentGateway } from '../adapters/stripe-payment-gateway';
import { loadConfig } from '../config';
import { eventIdFor } from '../domain/events';
import { ChargeStillPendingError, chargeRefToString, processCharge } from '../domain/subscriptions/charges';
import { digest } from '../domain/subscriptions/runs';

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
/** Delay before asking again about a charge whose answer is unknown: doubles per retry, at most SQS's 15 minutes. */
const retryBaseSeconds = Number(process.env.CHARGE_RETRY_BASE_SECONDS ?? '5');
const MAX_RETRIES = 10;
const dunning = { scheduleMs: config.dunningScheduleMs, finalAction: config.dunningFinalAction };
const processor = new BatchProcessor(EventType.SQS);

export const chargeMessage = z.object({
  runId: z.string().min(1),
  storeId: z.string().min(1),
  subscriptionId: z.string().min(1),
  period: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  attempt: z.number().int().min(0),
  /** How many times this charge was asked again after an unknown answer. */
  retries: z.number().int().min(0).default(0),
  /** The claim as the run made or found it (pending): asked about without reading it back, while fresh. */
  claim: z
    .object({
      amount: z.number().int().positive(),
      currency: z.string().min(3),
      paymentMethod: z.string().min(1),
      cycle: z.number().int().min(0),
      claimedAt: z.iso.datetime(),
    })
    .optional(),
});

async function charge(record: SQSRecord): Promise<void> {
  // A malformed message is a bug upstream: it fails, and after the queue's retries it waits on the DLQ.
  const message = chargeMessage.parse(JSON.parse(record.body));
  const result = await processCharge(
    {
      charges,
      subscriptions,
      gateway,
      dunning,
      // Fixed by the charge, so a resolution repeated after a crash announces under the same id.
      newEventId: (now) => eventIdFor(now, digest(`charge:${chargeRefToString(message)}`)),
      now: Date.now,
    },
    message,
  ).catch((error: unknown) => {
    // The message comes back after its visibility timeout; every step before the failure is safe to repeat.
    logger.error('charge failed; the message will be processed again', {
      charge: chargeRefToString(message),
      error,
    });
    throw error;
  });
  if (result.outcome === 'pending') {
    metrics.addMetric('ChargesPending', MetricUnit.Count, 1);
    logger.warn('charge still pending; it will be asked again with the same key', {
      charge: chargeRefToString(message),
      reason: result.reason,
    });
    // Asked again later with the same key, by a delayed copy: the retry does not wait for the visibility timeout,
    // and the backoff spares a gateway that is down. After the last retry the message waits on the DLQ.
    if (message.retries >= MAX_RETRIES) {
      await queue.sendToDeadLetter(message, new ChargeStillPendingError(message, result.reason).message);
      return;
    }
    await queue.retryLater(
      { ...message, retries: message.retries + 1 },
      retryBaseSeconds * 2 ** message.retries,
    );
    return;
  }
  if (result.outcome === 'missing-claim') {
    // Runs claim before they send, so the claim was withdrawn: a run holder that had lost its lease took back a
    // claim it made late, after a successor had found and sent it (runs.ts `claimAndSend`). Nothing to charge:
    // if the subscription is still due, the run claims it again under the same key.
    metrics.addMetric('ChargesWithdrawn', MetricUnit.Count, 1);
    logger.warn('charge message for a withdrawn claim: nothing to charge', {
      charge: chargeRefToString(message),
    });
    return;
  }
  if (!result.repeated) {
    metrics.addMetric(
      result.outcome === 'succeeded' ? 'ChargesSucceeded' : 'ChargesFailed',
      MetricUnit.Count,
      1,
    );
  }
  logger.debug('charge processed', { charge: chargeRefToString(message), ...result });
}

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(loadSecrets(secretBindings))
  .handler((event, context) => {
    gatewayKey = (context as ContextWithSecrets<typeof secretBindings>).paymentGatewayApiKey;
    return processPartialResponse(event, charge, processor, { context });
  });
