import { randomUUID } from 'node:crypto';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { createIndexGate } from '../../index-gate/adapters/gated-index-query';
import { loadConfig } from '../../platform/config';
import { documentClient } from '../../platform/dynamodb';
import { requireEnv } from '../../platform/environment';
import { metrics } from '../../platform/metrics';
import { type ContextWithSecrets, loadSecrets } from '../../platform/secrets';
import { DynamoChargesRepository } from '../adapters/dynamo-charges-repository';
import { DynamoReconciliationReports } from '../adapters/dynamo-reconciliation-reports';
import { DynamoRunsRepository } from '../adapters/dynamo-runs-repository';
import { DynamoSubscriptionsRepository } from '../adapters/dynamo-subscriptions-repository';
import { runSettingsFromEnv } from '../adapters/run-settings';
import { S3DatafeedStore } from '../adapters/s3-datafeed-store';
import { SqsChargeQueue, SqsReconciliationQueue, SqsRunQueue } from '../adapters/sqs-billing-queues';
import { StripePaymentGateway } from '../adapters/stripe-payment-gateway';
import type { PaymentIntentLedger } from '../domain/charges';
import {
  processReconcileMessage,
  type ReconcileDeps,
  reconcileMessageSchema,
  scheduleReconciliation,
} from '../domain/reconciliation';
import {
  consumeRunMessage,
  type RunConsumerDeps,
  type RunMessage,
  runMessage,
  triggerRun,
} from '../domain/runs';

/**
 * Subscription runs. Invoked two ways, one code path: by the primary and backup schedules (EventBridge Scheduler,
 * input `{"trigger": "primary" | "backup"}`), which trigger the day's run, and by RunsQueue, whose messages are
 * the steps of a run. A step works until shortly before the function's timeout, then sends its continuation.
 */
const logger = new Logger();
const sqs = new SQSClient({});
const settings = runSettingsFromEnv(process.env);
const runs = new DynamoRunsRepository({ client: documentClient(), tableName: requireEnv('RUNS_TABLE_NAME') });
const runQueue = new SqsRunQueue({ client: sqs, queueUrl: requireEnv('RUNS_QUEUE_URL') });
const reconciliationQueue = new SqsReconciliationQueue({
  client: sqs,
  queueUrl: requireEnv('RUNS_QUEUE_URL'),
});
// Reconciliations of completed runs with the gateway come on the same queue, as `{kind: 'reconcile', ...}`.
const config = loadConfig(process.env, 'aws');
const deps: RunConsumerDeps = {
  queue: runQueue,
  pollSeconds: settings.pollSeconds,
  stepMarginMs: settings.stepMarginMs,
  runs,
  due: new DynamoSubscriptionsRepository({
    client: documentClient(),
    tableName: requireEnv('SUBSCRIPTIONS_TABLE_NAME'),
    gate: createIndexGate(documentClient()),
  }),
  charges: new DynamoChargesRepository({
    client: documentClient(),
    tableName: requireEnv('CHARGES_TABLE_NAME'),
  }),
  chargeQueue: new SqsChargeQueue({ client: sqs, queueUrl: requireEnv('CHARGES_QUEUE_URL') }),
  datafeeds: new S3DatafeedStore({
    // Path-style addressing for the local S3 emulator; virtual-hosted (the default) in AWS.
    client: new S3Client({ forcePathStyle: process.env.AWS_ENDPOINT_URL_S3 !== undefined }),
    bucket: requireEnv('DATAFEEDS_BUCKET_NAME'),
  }),
  events: new DynamoEventsRepository({
    client: documentClient(),
    tableName: requireEnv('EVENTS_TABLE_NAME'),
  }),
  now: Date.now,
  settings: settings.run,
  onProgress: (run, view) => {
    metrics.addMetric('RunPendingCharges', MetricUnit.Count, view.pending);
    metrics.addMetric('RunChargesPerMinute', MetricUnit.Count, view.ratePerMinute);
    metrics.addMetric('RunPastDeadline', MetricUnit.Count, Date.now() > Date.parse(run.deadlineAt) ? 1 : 0);
  },
  // RECONCILE_AFTER the completion, the run's PaymentIntents are compared with its charges.
  onCompleted: async (run) => {
    await scheduleReconciliation({ queue: reconciliationQueue, now: Date.now }, run, config.reconcileAfterMs);
  },
};
const processor = new BatchProcessor(EventType.SQS);

const secretBindings = { paymentGatewayApiKey: 'PAYMENT_GATEWAY_API_KEY_SECRET_ARN' } as const;
let gatewayKey = '';
let reconciliation: ReconcileDeps | undefined;
/** Made on first use: a run's own steps never need the gateway, and must not fail for want of its URL. */
const reconciliationDeps = (): ReconcileDeps => {
  if (reconciliation) return reconciliation;
  if (!config.paymentGatewayUrl) {
    throw new Error(
      'PAYMENT_GATEWAY_URL is not set for the run function: a reconciliation reads the gateway.',
    );
  }
  const ledger: PaymentIntentLedger = new StripePaymentGateway({
    url: config.paymentGatewayUrl,
    timeoutMs: config.paymentGatewayTimeoutMs,
    apiKey: () => gatewayKey,
  });
  reconciliation = {
    runs,
    charges: deps.charges,
    ledger,
    reports: new DynamoReconciliationReports({
      client: documentClient(),
      tableName: requireEnv('RUNS_TABLE_NAME'),
    }),
    queue: reconciliationQueue,
    now: Date.now,
    onReport: (report) => {
      // ReconciliationMismatchAlarm watches the first two.
      metrics.addMetric('ReconciliationDuplicates', MetricUnit.Count, report.counts.duplicates);
      metrics.addMetric('ReconciliationOrphans', MetricUnit.Count, report.counts.orphans);
      metrics.addMetric('ReconciliationMissing', MetricUnit.Count, report.counts.missing);
    },
  };
  return reconciliation;
};

async function reconcileStep(body: unknown): Promise<void> {
  const message = reconcileMessageSchema.parse(body);
  const result = await processReconcileMessage(reconciliationDeps(), message);
  if (result.kind === 'completed') {
    const { report } = result;
    const summary = {
      date: report.date,
      gatewayPaymentIntents: report.gatewayPaymentIntents,
      recordedCharges: report.recordedCharges,
      matched: report.matched,
      ...report.counts,
    };
    // Money moved twice, or without a record: the alarm fires on the metric, the log says which run.
    if (report.counts.duplicates > 0 || report.counts.orphans > 0) logger.error('run reconciled', summary);
    else logger.info('run reconciled', summary);
  } else {
    logger.info('reconcile message', { date: message.date, result: result.kind });
  }
}
const scheduledTrigger = z.object({ trigger: z.string().min(1).max(64) });

async function step(record: SQSRecord, context: Context): Promise<void> {
  const body: unknown = JSON.parse(record.body);
  if ((body as { kind?: unknown } | null)?.kind === 'reconcile') return reconcileStep(body);
  const message: RunMessage = runMessage.parse(body);
  let result: Awaited<ReturnType<typeof consumeRunMessage>>;
  try {
    // Stops early enough to checkpoint and send the continuation within the function's timeout.
    result = await consumeRunMessage(deps, message, context.getRemainingTimeInMillis());
  } catch (error) {
    // The message comes back after its visibility timeout and the step resumes from the checkpoint.
    logger.error('run step failed; it is retried from the checkpoint', { runId: message.runId, error });
    throw error;
  }
  logger.info('run step', { runId: message.runId, result });
}

export const handler = middy<SQSEvent | unknown>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(loadSecrets(secretBindings))
  .handler(async (event, context) => {
    gatewayKey = (context as ContextWithSecrets<typeof secretBindings>).paymentGatewayApiKey;
    if (isSqsEvent(event)) {
      return processPartialResponse(event, (record: SQSRecord) => step(record, context), processor, {
        context,
      });
    }
    const { trigger } = scheduledTrigger.parse(event);
    const { run, outcome } = await triggerRun(
      { runs, queue: runQueue, now: Date.now, newOwner: randomUUID, settings: settings.run },
      { source: trigger },
    );
    logger.info('run triggered', { runId: run.runId, trigger, outcome });
    return { runId: run.runId, outcome };
  });

function isSqsEvent(event: unknown): event is SQSEvent {
  return Array.isArray((event as { Records?: unknown } | undefined)?.Records);
}
