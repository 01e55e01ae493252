import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { ConfigOf } from '../../platform/config';
import { documentClient } from '../../platform/dynamodb';
import { metrics } from '../../platform/metrics';
import { chargeRefToString } from '../domain/charges/charge';
import {
  type ChargeConsumerDeps,
  type ChargeConsumerResult,
  consumeChargeMessage,
} from '../domain/charges/consumer';
import { searchSettleFor } from '../domain/charges/process';
import { chargeMessage } from '../domain/messages';
import type { CHARGE_FUNCTION_VARIABLES } from '../function-variables';
import { DynamoChargesRepository } from './dynamo-charges-repository';
import { DynamoSubscriptionsRepository } from './dynamo-subscriptions-repository';
import { gatewayPace } from './gateway-limit';
import { SqsChargeQueue } from './sqs-billing-queues';
import { StripePaymentGateway } from './stripe-payment-gateway';

/**
 * The charge function (handlers/charge.ts) put together: the charge consumer's dependencies in AWS, and what it
 * does with one record of ChargesQueue, metrics and log lines included.
 */

export type ChargeFunctionConfig = ConfigOf<(typeof CHARGE_FUNCTION_VARIABLES)[number]>;

export function chargeConsumerDeps(
  config: ChargeFunctionConfig,
  apiKey: () => string,
  logger?: Logger,
): ChargeConsumerDeps {
  if (!config.PAYMENT_GATEWAY_URL) throw new Error('PAYMENT_GATEWAY_URL is not set for the charge function.');
  const client = documentClient();
  return {
    charges: new DynamoChargesRepository({ client, tableName: config.CHARGES_TABLE_NAME }),
    subscriptions: new DynamoSubscriptionsRepository({ client, tableName: config.SUBSCRIPTIONS_TABLE_NAME }),
    gateway: new StripePaymentGateway({
      url: config.PAYMENT_GATEWAY_URL,
      timeoutMs: config.PAYMENT_GATEWAY_TIMEOUT_MS,
      apiKey,
      pace: gatewayPace(config, client, logger),
    }),
    queue: new SqsChargeQueue({
      client: new SQSClient({}),
      queueUrl: config.CHARGES_QUEUE_URL,
      deadLetterQueueUrl: config.CHARGES_DLQ_URL,
    }),
    dunning: {
      scheduleMs: config.DUNNING_SCHEDULE,
      finalAction: config.DUNNING_FINAL_ACTION,
      hardDeclines: config.DUNNING_HARD_DECLINES,
    },
    now: Date.now,
    // A search that finds nothing is believed once every ask has surely ended: this function's timeout, sized in
    // lib/features/billing.ts from the gateway timeout, bounds how late an ask can be sent.
    settings: { searchSettleMs: searchSettleFor(config.PAYMENT_GATEWAY_TIMEOUT_MS) },
    consumer: {
      processingPollMs: config.PAYMENT_PROCESSING_POLL,
      retryBaseSeconds: config.CHARGE_RETRY_BASE_SECONDS,
    },
  };
}

/**
 * One message is one claimed charge. A pending claim goes to the gateway with its stable Idempotency-Key; an
 * answer that cannot be trusted fails the message, which comes back after the visibility timeout and asks again
 * with the same key.
 */
export function chargeRecordHandler(
  deps: ChargeConsumerDeps,
  logger: Logger,
): (record: SQSRecord) => Promise<void> {
  return async (record) => {
    // A malformed message is a bug upstream: it fails, and after the queue's retries it waits on the DLQ.
    const message = chargeMessage.parse(JSON.parse(record.body));
    const ref = chargeRefToString(message);
    const result = await consumeChargeMessage(deps, message).catch((error: unknown) => {
      // The message comes back after its visibility timeout; every step before the failure is safe to repeat.
      logger.error('charge failed; the message will be processed again', { charge: ref, error });
      throw error;
    });
    reportCharge(logger, ref, result);
  };
}

function reportCharge(logger: Logger, ref: string, result: ChargeConsumerResult): void {
  if (result.kind === 'deferred') return;
  const { outcome, next } = result;
  switch (outcome.outcome) {
    case 'pending':
      metrics.addMetric('ChargesPending', MetricUnit.Count, 1);
      if (outcome.rateLimited) {
        // A 429, or no turn under the shared limit: not an untrusted answer, no answer at all.
        metrics.addMetric(
          outcome.cause === 'rate-limited' ? 'GatewayRateLimited' : 'GatewayLimitWaits',
          MetricUnit.Count,
          1,
        );
        logger.info('charge waits for the gateway: asked again with the same key', {
          charge: ref,
          cause: outcome.cause,
          reason: outcome.reason,
          next,
        });
        return;
      }
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
