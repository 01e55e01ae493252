import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DurableQueue } from './constructs/durable-queue';
import { METRICS_NAMESPACE, PipelineFunction } from './constructs/pipeline-function';
import { PipelineTable } from './constructs/pipeline-table';

/** When the day's run is triggered (EventBridge Scheduler expressions, UTC). */
export interface RunSchedules {
  /** @default 'cron(5 0 * * ? *)' - 00:05 UTC every day */
  readonly primary?: string;
  /**
   * The backup trigger: it joins a live run (nothing is charged twice), resumes one whose holder died, or starts the
   * day's run if the primary never fired.
   * @default 'cron(5 2 * * ? *)' - 02:05 UTC every day
   */
  readonly backup?: string;
}

export interface BillingProps {
  /** The contract settings every function gets (non-secret). */
  readonly settings: Readonly<Record<string, string>>;
  readonly logRetention: logs.RetentionDays;
  readonly deletionProtection?: boolean;
  /** Where subscription events go; its stream fans them out to webhooks and emails. */
  readonly eventsTable: PipelineTable;
  /** Holds the emails' sent-once records (pk `pk`, TTL `expiresAt`). */
  readonly notificationLogTable: PipelineTable;
  readonly datafeedsBucket: s3.IBucket;
  readonly paymentGatewayApiKeySecret: secretsmanager.ISecret;
  /** @default - see RunSchedules */
  readonly runSchedules?: RunSchedules;
  /**
   * Concurrent invocations of ChargeFunction at most, so a run's burst cannot overrun the gateway (each invocation
   * works a batch of `chargeBatchSize` charges concurrently). AWS accepts 2 to 1000.
   * @default 5
   */
  readonly chargeConcurrency?: number;
  /**
   * Charges one ChargeFunction invocation works at once.
   * @default 10
   */
  readonly chargeBatchSize?: number;
  /**
   * How long after its `asOf` a run must be complete before the missed-deadline alarm fires.
   * @default Duration.hours(6)
   */
  readonly runDeadline?: Duration;
  /**
   * Concurrent invocations of NotifyFunction at most (protects the SMTP server or the SES sending rate).
   * @default 2
   */
  readonly notifyConcurrency?: number;
  /** The sender identity SES may send from (its domain or address). @default - the domain of EMAIL_FROM */
  readonly sesIdentity?: string;
}

/** CONTRACT.md section 2: the default timeout of one gateway request. */
const DEFAULT_GATEWAY_TIMEOUT_MS = 10_000;

/**
 * The subscription side (docs/subscriptions-design.md): the subscriptions, charges and runs tables; the runs,
 * charges and notifications queues; RunFunction (schedules and run steps), ChargeFunction, BillingOutboxFunction
 * (the two tables' streams into events and run counters) and NotifyFunction (emails); the run alarms.
 */
export class Billing extends Construct {
  public readonly subscriptionsTable: PipelineTable;
  public readonly chargesTable: PipelineTable;
  public readonly runsTable: PipelineTable;
  public readonly runsQueue: DurableQueue;
  public readonly chargesQueue: DurableQueue;
  public readonly notificationsQueue: DurableQueue;
  public readonly runFunction: PipelineFunction;
  public readonly chargeFunction: PipelineFunction;
  public readonly outboxFunction: PipelineFunction;
  public readonly notifyFunction: PipelineFunction;
  public readonly primarySchedule: scheduler.CfnSchedule;
  public readonly backupSchedule: scheduler.CfnSchedule;
  /** A run has charges pending and none resolved for 15 minutes: the gateway or the charge path is stuck. */
  public readonly runStalledAlarm: cloudwatch.Alarm;
  /** A run is still not complete past its deadline: the datafeed is late. */
  public readonly runDeadlineAlarm: cloudwatch.Alarm;
  /** BillingOutboxFunction is an hour behind a table stream: events and run counters wait, records near expiry. */
  public readonly outboxIteratorAgeAlarm: cloudwatch.Alarm;
  /** BillingOutboxFunction reported a stream record as failed: its shard waits until the record goes through. */
  public readonly outboxFailedRecordsAlarm: cloudwatch.Alarm;
  /** A run's reconciliation found money moved twice for one charge, or moved with nothing recorded. */
  public readonly reconciliationMismatchAlarm: cloudwatch.Alarm;
  /** The gateway refused the API key: every charge waits, unasked, until someone puts a working key in place. */
  public readonly gatewayAuthRefusedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BillingProps) {
    super(scope, id);
    const { settings, logRetention } = props;
    const string = dynamodb.AttributeType.STRING;
    const stack = Stack.of(this);

    this.subscriptionsTable = new PipelineTable(stack, 'SubscriptionsTable', {
      partitionKey: { name: 'storeId', type: string },
      sortKey: { name: 'subscriptionId', type: string },
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      deletionProtection: props.deletionProtection,
      // Sparse (only billed subscriptions carry dueShard) and sharded: one day's subscriptions spread over 16
      // partitions instead of sharing one. The run reads it through the readiness gate.
      globalSecondaryIndexes: [
        {
          indexName: 'due',
          partitionKey: { name: 'dueShard', type: string },
          sortKey: { name: 'dueAt', type: string },
          projection: dynamodb.ProjectionType.ALL,
        },
      ],
    });
    this.chargesTable = new PipelineTable(stack, 'ChargesTable', {
      partitionKey: { name: 'subscriptionKey', type: string },
      sortKey: { name: 'chargeKey', type: string },
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      deletionProtection: props.deletionProtection,
    });
    this.runsTable = new PipelineTable(stack, 'RunsTable', {
      partitionKey: { name: 'runId', type: string },
      sortKey: { name: 'sk', type: string },
      deletionProtection: props.deletionProtection,
    });

    // A run step works until shortly before its timeout, then checkpoints and sends its continuation.
    const runTimeout = Duration.minutes(5);
    const gatewayTimeoutMs = Number(settings.PAYMENT_GATEWAY_TIMEOUT_MS ?? DEFAULT_GATEWAY_TIMEOUT_MS);
    // A batch's charges run concurrently; each may take two gateway requests (the SDK's one retry) and the
    // writes around them. The function must outlive them, or the message comes back while its charge is open.
    const chargeTimeout = Duration.seconds(Math.max(30, Math.ceil((2 * gatewayTimeoutMs) / 1000) + 15));
    this.runsQueue = new DurableQueue(stack, 'Runs', { consumerTimeout: runTimeout });
    this.chargesQueue = new DurableQueue(stack, 'Charges', { consumerTimeout: chargeTimeout });
    this.notificationsQueue = new DurableQueue(stack, 'Notifications', {
      consumerTimeout: Duration.seconds(60),
    });

    const gatewaySettings = {
      // In AWS the gateway is Stripe unless the settings name another Stripe-compatible API.
      PAYMENT_GATEWAY_URL: 'https://api.stripe.com',
      ...settings,
    };
    this.runFunction = new PipelineFunction(stack, 'RunFunction', {
      entry: 'lambdas/billing/handlers/run.ts',
      description:
        "Subscription runs: the schedules' triggers, each run's steps (lease, due index, claims) and its reconciliation with the gateway.",
      timeout: runTimeout,
      logRetention,
      environment: {
        // The gateway's settings: the reconciliation lists the run's PaymentIntents.
        ...gatewaySettings,
        PAYMENT_GATEWAY_API_KEY_SECRET_ARN: props.paymentGatewayApiKeySecret.secretArn,
        RUNS_TABLE_NAME: this.runsTable.table.tableName,
        SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.table.tableName,
        CHARGES_TABLE_NAME: this.chargesTable.table.tableName,
        EVENTS_TABLE_NAME: props.eventsTable.table.tableName,
        RUNS_QUEUE_URL: this.runsQueue.queue.queueUrl,
        CHARGES_QUEUE_URL: this.chargesQueue.queue.queueUrl,
        DATAFEEDS_BUCKET_NAME: props.datafeedsBucket.bucketName,
        RUN_DEADLINE_MINUTES: String((props.runDeadline ?? Duration.hours(6)).toMinutes()),
      },
    });
    this.runsTable.table.grantReadWriteData(this.runFunction.fn);
    props.paymentGatewayApiKeySecret.grantRead(this.runFunction.fn);
    this.subscriptionsTable.grantIndexRead(this.runFunction);
    this.chargesTable.table.grantReadWriteData(this.runFunction.fn);
    props.eventsTable.table.grant(this.runFunction.fn, 'dynamodb:PutItem');
    this.runsQueue.queue.grantSendMessages(this.runFunction.fn);
    this.chargesQueue.queue.grantSendMessages(this.runFunction.fn);
    grantDatafeedObjects(this.runFunction, props.datafeedsBucket, 's3:PutObject');
    // One step at a time per run is the lease's job; two concurrent steps keep a backlog of runs moving.
    this.runsQueue.addConsumer(this.runFunction, { batchSize: 1, maxConcurrency: 2 });

    this.chargeFunction = new PipelineFunction(stack, 'ChargeFunction', {
      entry: 'lambdas/billing/handlers/charge.ts',
      description: 'Charges one claimed (subscription, period, attempt) at the gateway with its stable key.',
      timeout: chargeTimeout,
      logRetention,
      environment: {
        ...gatewaySettings,
        SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.table.tableName,
        CHARGES_TABLE_NAME: this.chargesTable.table.tableName,
        CHARGES_QUEUE_URL: this.chargesQueue.queue.queueUrl,
        CHARGES_DLQ_URL: this.chargesQueue.deadLetterQueue.queueUrl,
        PAYMENT_GATEWAY_API_KEY_SECRET_ARN: props.paymentGatewayApiKeySecret.secretArn,
      },
    });
    grantItemActions(this.subscriptionsTable, this.chargeFunction, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    this.chargesTable.table.grantReadWriteData(this.chargeFunction.fn);
    this.chargesQueue.queue.grantSendMessages(this.chargeFunction.fn);
    this.chargesQueue.deadLetterQueue.grantSendMessages(this.chargeFunction.fn);
    props.paymentGatewayApiKeySecret.grantRead(this.chargeFunction.fn);
    this.chargesQueue.addConsumer(this.chargeFunction, {
      batchSize: props.chargeBatchSize ?? 10,
      maxConcurrency: props.chargeConcurrency ?? 5,
    });

    this.outboxFunction = new PipelineFunction(stack, 'BillingOutboxFunction', {
      entry: 'lambdas/billing/handlers/billing-outbox.ts',
      description: 'Turns subscription and charge changes (table streams) into events and run counters.',
      timeout: Duration.minutes(1),
      logRetention,
      environment: {
        ...settings,
        SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.table.tableName,
        CHARGES_TABLE_NAME: this.chargesTable.table.tableName,
        EVENTS_TABLE_NAME: props.eventsTable.table.tableName,
        RUNS_TABLE_NAME: this.runsTable.table.tableName,
      },
    });
    props.eventsTable.table.grant(this.outboxFunction.fn, 'dynamodb:PutItem');
    this.runsTable.table.grant(this.outboxFunction.fn, 'dynamodb:UpdateItem');
    const streamListing = new iam.Policy(this, 'OutboxStreamListingPolicy', {
      roles: [this.outboxFunction.fn.role as iam.IRole],
      statements: [new iam.PolicyStatement({ actions: ['dynamodb:ListStreams'], resources: ['*'] })],
    });
    Validations.of(streamListing).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams supports no resource-level permissions; the stream reads are scoped to the two streams.',
    });
    for (const table of [this.subscriptionsTable, this.chargesTable]) {
      table.table.grantStream(
        this.outboxFunction.fn,
        'dynamodb:DescribeStream',
        'dynamodb:GetRecords',
        'dynamodb:GetShardIterator',
      );
      const mapping = this.outboxFunction.fn.addEventSourceMapping(`${table.node.id}Stream`, {
        eventSourceArn: table.table.tableStreamArn as string,
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        // The handler stops at its first failing record and reports it: the stream resumes there.
        reportBatchItemFailures: true,
        // Unbounded, with no maximum record age and no on-failure destination (which would receive only the
        // batch's sequence numbers, not its records): a skipped record would be a lost event or a miscounted run.
        // A record that keeps failing holds its shard instead; OutboxIteratorAgeAlarm calls a human long before
        // the stream's 24 h are up.
        retryAttempts: -1,
        // Only for the shard id it puts in the event: the run counters' fence is per shard (outbox.ts). The
        // window's state is not used; its length only sets how often Lambda closes a window (max: fewest calls).
        tumblingWindow: Duration.minutes(15),
        // One batch per shard at a time (the default), in order: the fence relies on it.
        parallelizationFactor: 1,
      });
      mapping.node.addDependency(streamListing);
    }
    // Lambda reports IteratorAge per function: one alarm covers both streams. A run's progress and completion wait
    // on these counters, but a big run's burst of records can keep the outbox minutes behind without anything
    // wrong: an hour still leaves most of the 24 h after which the stream drops what was not read.
    this.outboxIteratorAgeAlarm = new cloudwatch.Alarm(this, 'OutboxIteratorAgeAlarm', {
      alarmDescription:
        'BillingOutboxFunction is more than 1 hour behind the subscriptions or charges table stream: a record keeps failing (see OutboxFailedRecordsAlarm and its logs) or the function cannot keep up. Runs wait for their counters; stream records expire after 24 h, and then subscription events and counts are lost.',
      metric: this.outboxFunction.fn.metric('IteratorAge', {
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
    this.outboxFailedRecordsAlarm = new cloudwatch.Alarm(this, 'OutboxFailedRecordsAlarm', {
      alarmDescription:
        "BillingOutboxFunction reported a stream record as failed (StreamRecordsFailed): the record's shard is held until it goes through. Its error is in the function's log.",
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'StreamRecordsFailed',
        dimensionsMap: { service: this.outboxFunction.serviceName },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.notifyFunction = new PipelineFunction(stack, 'NotifyFunction', {
      entry: 'lambdas/notifications/handlers/notify.ts',
      description: 'Sends the receipt, payment-failed and cancellation emails, each once.',
      timeout: Duration.seconds(60),
      logRetention,
      environment: {
        ...settings,
        NOTIFICATIONS_LOG_TABLE_NAME: props.notificationLogTable.table.tableName,
      },
    });
    props.notificationLogTable.table.grantReadWriteData(this.notifyFunction.fn);
    const sesIdentity =
      props.sesIdentity ?? (settings.EMAIL_FROM ?? 'billing@example.com').split('@')[1] ?? '';
    this.notifyFunction.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendEmail', 'ses:SendRawEmail'],
        resources: [stack.formatArn({ service: 'ses', resource: 'identity', resourceName: sesIdentity })],
      }),
    );
    this.notificationsQueue.addConsumer(this.notifyFunction, {
      batchSize: 10,
      maxConcurrency: props.notifyConcurrency ?? 2,
    });

    const schedules = props.runSchedules ?? {};
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'Lets EventBridge Scheduler trigger the subscription runs.',
    });
    // The function itself, not its versions and aliases (`:*`): the schedules invoke $LATEST.
    schedulerRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [this.runFunction.fn.functionArn],
      }),
    );
    const schedule = (id: string, expression: string, trigger: string) => {
      const cfn = new scheduler.CfnSchedule(this, id, {
        description: `The ${trigger} trigger of the day's subscription run.`,
        scheduleExpression: expression,
        scheduleExpressionTimezone: 'UTC',
        flexibleTimeWindow: { mode: 'OFF' },
        target: {
          arn: this.runFunction.fn.functionArn,
          roleArn: schedulerRole.roleArn,
          input: JSON.stringify({ trigger }),
          retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
        },
      });
      // The run reads the due index: no schedule may fire before the index is ready.
      this.subscriptionsTable.waitForIndexes(cfn);
      return cfn;
    };
    this.primarySchedule = schedule(
      'PrimaryRunSchedule',
      schedules.primary ?? 'cron(5 0 * * ? *)',
      'primary',
    );
    this.backupSchedule = schedule('BackupRunSchedule', schedules.backup ?? 'cron(5 2 * * ? *)', 'backup');

    const runMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: this.runFunction.serviceName },
        period: Duration.minutes(5),
        statistic,
      });
    this.runStalledAlarm = new cloudwatch.Alarm(this, 'RunStalledAlarm', {
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
    this.runDeadlineAlarm = new cloudwatch.Alarm(this, 'RunDeadlineAlarm', {
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
    this.reconciliationMismatchAlarm = new cloudwatch.Alarm(this, 'ReconciliationMismatchAlarm', {
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
    this.gatewayAuthRefusedAlarm = new cloudwatch.Alarm(this, 'GatewayAuthRefusedAlarm', {
      alarmDescription:
        'The payment gateway refused the API key (401/403): charges stay pending and are not asked. Put a working key in the secret the stack output PaymentGatewayApiKeySecretArn names; the charge function picks it up within SECRETS_CACHE_SECONDS, then `npx pipeline redrive charges`.',
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'GatewayAuthRefused',
        dimensionsMap: { service: this.chargeFunction.serviceName },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** What the API function needs for the subscription, run and datafeed routes. */
  public grantApi(api: PipelineFunction, datafeedsBucket: s3.IBucket): Record<string, string> {
    grantItemActions(
      this.subscriptionsTable,
      api,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    );
    this.chargesTable.table.grantReadData(api.fn);
    this.runsTable.table.grantReadWriteData(api.fn);
    this.runsQueue.queue.grantSendMessages(api.fn);
    grantDatafeedObjects(api, datafeedsBucket, 's3:GetObject');
    return {
      SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.table.tableName,
      CHARGES_TABLE_NAME: this.chargesTable.table.tableName,
      RUNS_TABLE_NAME: this.runsTable.table.tableName,
      RUNS_QUEUE_URL: this.runsQueue.queue.queueUrl,
      DATAFEEDS_BUCKET_NAME: datafeedsBucket.bucketName,
    };
  }
}

/** Objects under the datafeeds' prefix, for one action, with the acknowledgement of its key wildcard. */
function grantDatafeedObjects(fn: PipelineFunction, bucket: s3.IBucket, action: string): void {
  const policy = new iam.Policy(fn, `Datafeeds${action.split(':')[1]}Policy`, {
    roles: [fn.fn.role as iam.IRole],
    statements: [
      new iam.PolicyStatement({ actions: [action], resources: [bucket.arnForObjects('subscriptions/*')] }),
    ],
  });
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::<DatafeedsBucketDE63A642.Arn>/subscriptions/*]',
    reason:
      'Datafeed objects are named by run, lease version and store (subscriptions/<runId>/<version>/<storeId>.xml), created daily: the grant is one action on that prefix only.',
  });
}

/**
 * Item actions on the table itself, not its indexes: `Table.grant` adds `index/*` as soon as a table has an index,
 * which functions that never read one should not get.
 */
function grantItemActions(table: PipelineTable, fn: PipelineFunction, ...actions: string[]): void {
  iam.Grant.addToPrincipal({ grantee: fn.fn, actions, resourceArns: [table.table.tableArn] });
}
