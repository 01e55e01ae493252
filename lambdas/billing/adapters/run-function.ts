import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { DynamoEventsRepository } from '../../events/adapters/dynamo-events-repository';
import { createIndexGate } from '../../index-gate/adapters/gated-index-query';
import type { ConfigOf } from '../../platform/config';
import { documentClient } from '../../platform/dynamodb';
import { metrics } from '../../platform/metrics';
import { issueManageToken, manageLinkKeyring, manageUrl } from '../domain/manage-link';
import { parseRunsQueueMessage, type ReconcileMessage, type RunMessage } from '../domain/messages';
import {
  processReconcileMessage,
  type ReconcileDeps,
  scheduleReconciliation,
} from '../domain/reconciliation';
import { consumeRunMessage, type RunConsumerDeps } from '../domain/runs/step';
import { triggerRun } from '../domain/runs/trigger';
import type { RUN_FUNCTION_VARIABLES } from '../function-variables';
import { DynamoChargesRepository } from './dynamo-charges-repository';
import { DynamoDatafeedSubscriptions } from './dynamo-datafeed-subscriptions';
import { DynamoReconciliationReports } from './dynamo-reconciliation-reports';
import { DynamoRunsRepository } from './dynamo-runs-repository';
import { DynamoSubscriptionsRepository } from './dynamo-subscriptions-repository';
import { gatewayPace } from './gateway-limit';
import { runFunctionSettings } from './run-settings';
import { datafeedsS3Client, S3DatafeedStore } from './s3-datafeed-store';
import { SqsChargeQueue, SqsReconciliationQueue, SqsRunQueue } from './sqs-billing-queues';
import { StripePaymentGateway } from './stripe-payment-gateway';

/**
 * The run function (handlers/run.ts) put together. Invoked two ways, one code path: by the primary and backup
 * schedules (EventBridge Scheduler, input `{"trigger": "primary" | "backup"}`), which trigger the day's run, and by
 * RunsQueue, whose messages are the steps of a run and, as `{kind: 'reconcile', ...}`, the reconciliations of
 * completed runs with the gateway. A step works until shortly before the function's timeout, then sends its
 * continuation.
 */

export type RunFunctionConfig = ConfigOf<(typeof RUN_FUNCTION_VARIABLES)[number]>;

export interface RunFunction {
  /** A schedule's invocation: triggers the day's run. */
  trigger(event: unknown): Promise<{ runId: string; outcome: string }>;
  /** One record of RunsQueue; `remainingMs` tells how long the function has left. */
  receive(record: SQSRecord, remainingMs: () => number): Promise<void>;
}

const scheduledTrigger = z.object({ trigger: z.string().min(1).max(64) });

export function runFunction(
  config: RunFunctionConfig,
  logger: Logger,
  keys: {
    /** The gateway's API key (the reconciliation lists PaymentIntents). */
    readonly apiKey: () => string;
    /** The manage links' keyring (platform secret): the datafeeds carry each subscription's link. */
    readonly manageLinkKey: () => string;
  },
): RunFunction {
  const { apiKey } = keys;
  const settings = runFunctionSettings(config);
  const client = documentClient();
  const sqs = new SQSClient({});
  const runs = new DynamoRunsRepository({ client, tableName: config.RUNS_TABLE_NAME });
  const runQueue = new SqsRunQueue({ client: sqs, queueUrl: config.RUNS_QUEUE_URL });
  const reconciliationQueue = new SqsReconciliationQueue({ client: sqs, queueUrl: config.RUNS_QUEUE_URL });
  const subscriptions = new DynamoSubscriptionsRepository({
    client,
    tableName: config.SUBSCRIPTIONS_TABLE_NAME,
    gate: createIndexGate(client),
  });
  const deps: RunConsumerDeps = {
    queue: runQueue,
    pollSeconds: settings.pollSeconds,
    stepMarginMs: settings.stepMarginMs,
    runs,
    due: subscriptions,
    subscriptions,
    dunningFinalAction: config.DUNNING_FINAL_ACTION,
    charges: new DynamoChargesRepository({ client, tableName: config.CHARGES_TABLE_NAME }),
    chargeQueue: new SqsChargeQueue({ client: sqs, queueUrl: config.CHARGES_QUEUE_URL }),
    datafeeds: new S3DatafeedStore({ client: datafeedsS3Client(), bucket: config.DATAFEEDS_BUCKET_NAME }),
    datafeedSubscriptions: new DynamoDatafeedSubscriptions({
      client,
      tableName: config.SUBSCRIPTIONS_TABLE_NAME,
    }),
    events: new DynamoEventsRepository({ client, tableName: config.EVENTS_TABLE_NAME }),
    // A link signed when the datafeed is written, valid MANAGE_LINK_TTL from then.
    manageUrlOf: (storeId, subscriptionId) =>
      manageUrl(
        config.PUBLIC_API_URL,
        issueManageToken(
          { storeId, subscriptionId },
          {
            now: Date.now(),
            ttlMs: config.MANAGE_LINK_TTL,
            keyring: manageLinkKeyring(keys.manageLinkKey()),
          },
        ).token,
      ),
    now: Date.now,
    settings: settings.run,
    onProgress: (run, view) => {
      metrics.addMetric('RunPendingCharges', MetricUnit.Count, view.pending);
      metrics.addMetric('RunChargesPerMinute', MetricUnit.Count, view.ratePerMinute);
      metrics.addMetric('RunPastDeadline', MetricUnit.Count, Date.now() > Date.parse(run.deadlineAt) ? 1 : 0);
    },
    // RECONCILE_AFTER the completion, the run's PaymentIntents are compared with its charges.
    onCompleted: async (run) => {
      await scheduleReconciliation(
        { queue: reconciliationQueue, now: Date.now },
        run,
        config.RECONCILE_AFTER,
      );
    },
  };

  let reconciliation: ReconcileDeps | undefined;
  /** Made on first use: a run's own steps never need the gateway, and must not fail for want of its URL. */
  const reconciliationDeps = (): ReconcileDeps => {
    if (reconciliation) return reconciliation;
    if (!config.PAYMENT_GATEWAY_URL) {
      throw new Error(
        'PAYMENT_GATEWAY_URL is not set for the run function: a reconciliation reads the gateway.',
      );
    }
    reconciliation = {
      runs,
      charges: deps.charges,
      ledger: new StripePaymentGateway({
        url: config.PAYMENT_GATEWAY_URL,
        timeoutMs: config.PAYMENT_GATEWAY_TIMEOUT_MS,
        apiKey,
        // The list's pages count against the gateway's limit, with the charges'.
        pace: gatewayPace(config, client, logger),
      }),
      reports: new DynamoReconciliationReports({ client, tableName: config.RUNS_TABLE_NAME }),
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

  async function reconcileStep(message: ReconcileMessage): Promise<void> {
    const result = await processReconcileMessage(reconciliationDeps(), message);
    if (result.kind !== 'completed') {
      logger.info('reconcile message', { date: message.date, result: result.kind });
      return;
    }
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
  }

  async function runStep(message: RunMessage, remainingMs: number): Promise<void> {
    let result: Awaited<ReturnType<typeof consumeRunMessage>>;
    try {
      // Stops early enough to checkpoint and send the continuation within the function's timeout.
      result = await consumeRunMessage(deps, message, remainingMs);
    } catch (error) {
      // The message comes back after its visibility timeout and the step resumes from the checkpoint.
      logger.error('run step failed; it is retried from the checkpoint', { runId: message.runId, error });
      throw error;
    }
    logger.info('run step', { runId: message.runId, result });
  }

  return {
    async trigger(event) {
      const { trigger } = scheduledTrigger.parse(event);
      const { run, outcome } = await triggerRun(
        { runs, queue: runQueue, now: Date.now, newOwner: randomUUID, settings: settings.run },
        { source: trigger },
      );
      logger.info('run triggered', { runId: run.runId, trigger, outcome });
      return { runId: run.runId, outcome };
    },
    async receive(record, remainingMs) {
      const received = parseRunsQueueMessage(record.body);
      if (received.kind === 'reconcile') return reconcileStep(received.message);
      return runStep(received.message, remainingMs());
    },
  };
}

export function isSqsEvent(event: unknown): event is SQSEvent {
  return Array.isArray((event as { Records?: unknown } | undefined)?.Records);
}
