import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE, type PipelineFunction } from '../constructs/pipeline-function';

/** The billing functions the alarms watch. */
export interface BillingAlarmSources {
  readonly runFunction: PipelineFunction;
  readonly chargeFunction: PipelineFunction;
  readonly outboxFunction: PipelineFunction;
}

/** The billing side's alarms, each saying what is wrong and what to do. */
export interface BillingAlarms {
  /** BillingOutboxFunction is an hour behind a table stream: events and run counters wait, records near expiry. */
  readonly outboxIteratorAge: cloudwatch.Alarm;
  /** BillingOutboxFunction reported a stream record as failed: its shard waits until the record goes through. */
  readonly outboxFailedRecords: cloudwatch.Alarm;
  /** A run has charges pending and none resolved for 15 minutes: the gateway or the charge path is stuck. */
  readonly runStalled: cloudwatch.Alarm;
  /** A run is still not complete past its deadline: the datafeed is late. */
  readonly runDeadline: cloudwatch.Alarm;
  /** A run's reconciliation found money moved twice for one charge, or moved with nothing recorded. */
  readonly reconciliationMismatch: cloudwatch.Alarm;
  /** The gateway refused the API key: every charge waits, unasked, until someone puts a working key in place. */
  readonly gatewayAuthRefused: cloudwatch.Alarm;
}

/**
 * Creates the billing alarms in `scope` (the Billing construct, so that their logical IDs are those they have always
 * had there).
 */
export function billingAlarms(scope: Construct, functions: BillingAlarmSources): BillingAlarms {
  // Lambda reports IteratorAge per function: one alarm covers both streams. A run's progress and completion wait
  // on these counters, but a big run's burst of records can keep the outbox minutes behind without anything
  // wrong: an hour still leaves most of the 24 h after which the stream drops what was not read.
  const outboxIteratorAge = new cloudwatch.Alarm(scope, 'OutboxIteratorAgeAlarm', {
    alarmDescription:
      'BillingOutboxFunction is more than 1 hour behind the subscriptions or charges table stream: a record keeps failing (see OutboxFailedRecordsAlarm and its logs) or the function cannot keep up. Runs wait for their counters; stream records expire after 24 h, and then subscription events and counts are lost.',
    metric: functions.outboxFunction.fn.metric('IteratorAge', {
      period: Duration.minutes(1),
      statistic: cloudwatch.Stats.MAXIMUM,
    }),
    threshold: Duration.hours(1).toMilliseconds(),
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  // A reported record is retried until it goes through, and every later record of its shard waits for it. Any
  // report alarms: a transient error (a throttle) clears within a retry or two and the alarm returns to OK;
  // anything else holds the shard until someone fixes its cause, better found now than by the iterator age.
  const outboxFailedRecords = new cloudwatch.Alarm(scope, 'OutboxFailedRecordsAlarm', {
    alarmDescription:
      "BillingOutboxFunction reported a stream record as failed (StreamRecordsFailed): the record's shard is held until it goes through. Its error is in the function's log.",
    metric: new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'StreamRecordsFailed',
      dimensionsMap: { service: functions.outboxFunction.serviceName },
      period: Duration.minutes(1),
      statistic: cloudwatch.Stats.SUM,
    }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });

  const runMetric = (metricName: string, statistic: string) =>
    new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: functions.runFunction.serviceName },
      period: Duration.minutes(5),
      statistic,
    });
  const runStalled = new cloudwatch.Alarm(scope, 'RunStalledAlarm', {
    alarmDescription:
      'A subscription run has pending charges and resolved none for 15 minutes: the gateway or the charge path is stuck (a slow run still shows a rate above zero).',
    metric: new cloudwatch.MathExpression({
      expression: 'IF(FILL(pending, 0) > 0 AND FILL(rate, 0) <= 0, 1, 0)',
      usingMetrics: {
        pending: runMetric('RunPendingCharges', cloudwatch.Stats.MINIMUM),
        rate: runMetric('RunChargesPerMinute', cloudwatch.Stats.MAXIMUM),
      },
      label: 'Run stalled',
      period: Duration.minutes(5),
    }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 3,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  const runDeadline = new cloudwatch.Alarm(scope, 'RunDeadlineAlarm', {
    alarmDescription:
      "A subscription run is past its deadline and not complete: the day's datafeed is late. Check `npx pipeline runs <date>`.",
    metric: runMetric('RunPastDeadline', cloudwatch.Stats.MAXIMUM),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  // In 2018 customers saw their duplicate charges before the platform did. Each run is reconciled with the
  // gateway RECONCILE_AFTER its completion (and on demand); a duplicate (two PaymentIntents that moved money for one
  // charge) or an orphan (money moved, no record names it) must reach a human the same day, with refunds to make.
  // Each reconciliation publishes its counts once: one non-zero datapoint is enough, and no data is no finding.
  const reconciliationMismatch = new cloudwatch.Alarm(scope, 'ReconciliationMismatchAlarm', {
    alarmDescription:
      'A run reconciliation found duplicate or orphan PaymentIntents at the gateway: money moved twice for one charge, or without a record. `npx pipeline reconcile <date>` lists them; refund the extra ones.',
    metric: new cloudwatch.MathExpression({
      expression: 'FILL(duplicates, 0) + FILL(orphans, 0)',
      usingMetrics: {
        duplicates: runMetric('ReconciliationDuplicates', cloudwatch.Stats.MAXIMUM),
        orphans: runMetric('ReconciliationOrphans', cloudwatch.Stats.MAXIMUM),
      },
      label: 'Duplicate and orphan PaymentIntents',
      period: Duration.minutes(5),
    }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  // A refused key (401/403) is not retried: the charge function stops asking with it (each environment asks once)
  // and the charges wait on the DLQ and in the runs' stall sweeps. Nothing moves until an operator rotates the key
  // in Secrets Manager, so the first refusal must reach someone.
  const gatewayAuthRefused = new cloudwatch.Alarm(scope, 'GatewayAuthRefusedAlarm', {
    alarmDescription:
      'The payment gateway refused the API key (401/403): charges stay pending and are not asked. Put a working key in the secret the stack output PaymentGatewayApiKeySecretArn names; the charge function picks it up within SECRETS_CACHE_SECONDS, then `npx pipeline redrive charges`.',
    metric: new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'GatewayAuthRefused',
      dimensionsMap: { service: functions.chargeFunction.serviceName },
      period: Duration.minutes(1),
      statistic: cloudwatch.Stats.SUM,
    }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  return {
    outboxIteratorAge,
    outboxFailedRecords,
    runStalled,
    runDeadline,
    reconciliationMismatch,
    gatewayAuthRefused,
  };
}
