import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  DELIVER_FUNCTION_VARIABLES,
  FANOUT_FUNCTION_VARIABLES,
  REPLAY_FUNCTION_VARIABLES,
} from '../../lambdas/webhooks/function-variables';
import { DurableQueue } from '../constructs/durable-queue';
import { addFunctionVariables, functionEnvironment } from '../constructs/function-environment';
import { METRICS_NAMESPACE, PipelineFunction } from '../constructs/pipeline-function';
import { PipelineTable } from '../constructs/pipeline-table';
import { keepStackLevelLogicalIds, stackLevelOutput } from '../constructs/stack-level-ids';
import { type DeploymentSettings, settingValue } from '../settings';
import type { ObservedFeature } from './observability';

export interface WebhooksProps {
  /** The deployment's checked settings; each function gets those its variable list names. */
  readonly settings: DeploymentSettings;
  /** Retention of the functions' log groups. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Whether the tables refuse deletion.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Concurrent invocations of DeliverFunction at most: bounds the parallel webhook POSTs (and the Lambda
   * concurrency they hold while endpoints answer). AWS accepts 2 to 1000.
   * @default 10
   */
  readonly deliveryConcurrency?: number;
}

/**
 * The webhook side (docs/webhooks-design.md): the transactions, events, endpoints and attempts tables; the
 * transactions and events streams into FanoutFunction; the deliveries and replays queues into DeliverFunction and
 * ReplayFunction; the delivery alarms, and the outputs `npx pipeline` reads.
 */
export class Webhooks extends Construct {
  /** The outbox of accepted transactions: its stream hands each to FanoutFunction. */
  public readonly transactionsTable: PipelineTable;
  /** Every event of every store; its stream fans them out to endpoints (and emails). */
  public readonly eventsTable: PipelineTable;
  /** The endpoint registry, with each endpoint's health. */
  public readonly webhooksTable: PipelineTable;
  /** The attempt log and each delivery's sending lease (kept 30 days). */
  public readonly attemptsTable: PipelineTable;
  public readonly deliveriesQueue: DurableQueue;
  public readonly replaysQueue: DurableQueue;
  public readonly fanoutFunction: PipelineFunction;
  public readonly deliverFunction: PipelineFunction;
  public readonly replayFunction: PipelineFunction;
  /** The share of failed deliveries: endpoints are failing broadly, or delivery itself is broken. */
  public readonly failingDeliveriesAlarm: cloudwatch.Alarm;
  /** A 2xx whose record could not be written nor handed to a follow-up: a copy may send it again. */
  public readonly deliveryRecordLostAlarm: cloudwatch.Alarm;
  /** The stream consumer falls behind or is stuck on a batch it keeps retrying. */
  public readonly streamIteratorAgeAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: WebhooksProps) {
    super(scope, id);
    const { settings, logRetention, deletionProtection } = props;
    const string = dynamodb.AttributeType.STRING;

    // The transactions table is the outbox: its stream hands every accepted transaction to FanoutFunction, so the
    // API's request is one write and nothing accepted is lost.
    this.transactionsTable = new PipelineTable(this, 'TransactionsTable', {
      partitionKey: { name: 'storeId', type: string },
      sortKey: { name: 'txnId', type: string },
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      deletionProtection,
    });
    this.eventsTable = new PipelineTable(this, 'EventsTable', {
      partitionKey: { name: 'storeId', type: string },
      sortKey: { name: 'eventId', type: string },
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      deletionProtection,
    });
    this.webhooksTable = new PipelineTable(this, 'WebhooksTable', {
      partitionKey: { name: 'storeId', type: string },
      sortKey: { name: 'endpointId', type: string },
      deletionProtection,
    });
    this.attemptsTable = new PipelineTable(this, 'AttemptsTable', {
      partitionKey: { name: 'endpointId', type: string },
      sortKey: { name: 'sk', type: string },
      // The attempt log is kept 30 days (the handler sets expiresAt), then DynamoDB deletes it for free.
      timeToLiveAttribute: 'expiresAt',
      deletionProtection,
    });

    // One attempt may take WEBHOOK_TIMEOUT_MS, and a batch may wait for an attempt of another endpoint's message
    // too (a batch is delivered concurrently, so twice the attempt timeout bounds it), plus the reads and writes
    // around it: the function must outlive its slowest attempt, or the message is retried while its attempt is
    // still open. Parsed as DeliverFunction parses it.
    const webhookTimeoutMs = settingValue(settings, 'WEBHOOK_TIMEOUT_MS');
    const deliverTimeout = Duration.seconds(Math.max(60, Math.ceil((2 * webhookTimeoutMs) / 1000) + 10));
    // Paging a replay window and sending its messages: longer than a delivery batch.
    const replayTimeout = Duration.minutes(2);
    this.deliveriesQueue = new DurableQueue(this, 'Deliveries', { consumerTimeout: deliverTimeout });
    this.replaysQueue = new DurableQueue(this, 'Replays', { consumerTimeout: replayTimeout });
    // Marked now, not only with the rest below: a consumer's mapping is named after its queue's deployed id.
    keepStackLevelLogicalIds(this.deliveriesQueue, this.replaysQueue);

    this.fanoutFunction = new PipelineFunction(this, 'FanoutFunction', {
      entry: 'lambdas/webhooks/handlers/fanout.ts',
      description:
        'Turns transactions and events from the table streams into events and one delivery message per endpoint.',
      timeout: Duration.minutes(1),
      logRetention,
      environment: functionEnvironment('FanoutFunction', FANOUT_FUNCTION_VARIABLES, {
        settings,
        values: {
          TRANSACTIONS_TABLE_NAME: this.transactionsTable.table.tableName,
          EVENTS_TABLE_NAME: this.eventsTable.table.tableName,
          WEBHOOKS_TABLE_NAME: this.webhooksTable.table.tableName,
          DELIVERIES_QUEUE_URL: this.deliveriesQueue.queue.queueUrl,
        },
      }),
    });
    // The event put is conditional (idempotent fan-out): a put, nothing else, on the events table.
    this.eventsTable.table.grant(this.fanoutFunction.fn, 'dynamodb:PutItem');
    this.webhooksTable.table.grantReadData(this.fanoutFunction.fn);
    this.deliveriesQueue.queue.grantSendMessages(this.fanoutFunction.fn);
    this.consumeStreams();

    this.deliverFunction = new PipelineFunction(this, 'DeliverFunction', {
      entry: 'lambdas/webhooks/handlers/deliver.ts',
      description: 'Signs and POSTs one webhook per message, logs the attempt and schedules the retry.',
      timeout: deliverTimeout,
      logRetention,
      environment: functionEnvironment('DeliverFunction', DELIVER_FUNCTION_VARIABLES, {
        settings,
        values: {
          EVENTS_TABLE_NAME: this.eventsTable.table.tableName,
          WEBHOOKS_TABLE_NAME: this.webhooksTable.table.tableName,
          ATTEMPTS_TABLE_NAME: this.attemptsTable.table.tableName,
          DELIVERIES_QUEUE_URL: this.deliveriesQueue.queue.queueUrl,
          DELIVERIES_DLQ_URL: this.deliveriesQueue.deadLetterQueue.queueUrl,
        },
      }),
    });
    this.eventsTable.table.grantReadData(this.deliverFunction.fn);
    // Announces a disabling (webhook_endpoint.disabled): a conditional put of the event, fanned out by its stream.
    this.eventsTable.table.grant(this.deliverFunction.fn, 'dynamodb:PutItem');
    // Endpoint health: failingSince, and disabling on 410 or after WEBHOOK_DISABLE_AFTER of failures.
    this.webhooksTable.table.grantReadWriteData(this.deliverFunction.fn);
    // Writes the attempt log, and takes the delivery's sending lease there (a conditional put) before a POST: a
    // delivery that succeeded, or that another copy is sending, is not sent again by a copy of its message.
    this.attemptsTable.table.grantReadWriteData(this.deliverFunction.fn);
    // Retries travel as new delayed messages; an exhausted delivery goes to the DLQ by the handler itself.
    this.deliveriesQueue.queue.grantSendMessages(this.deliverFunction.fn);
    this.deliveriesQueue.deadLetterQueue.grantSendMessages(this.deliverFunction.fn);
    this.deliveriesQueue.addConsumer(this.deliverFunction, {
      batchSize: 10,
      maxConcurrency: props.deliveryConcurrency ?? 10,
    });

    this.replayFunction = new PipelineFunction(this, 'ReplayFunction', {
      entry: 'lambdas/webhooks/handlers/replay.ts',
      description:
        "Refeeds a time window of a store's events to one endpoint (replay, recover), one delivery message per event; forwards resends and tests.",
      timeout: replayTimeout,
      logRetention,
      environment: functionEnvironment('ReplayFunction', REPLAY_FUNCTION_VARIABLES, {
        settings,
        values: {
          EVENTS_TABLE_NAME: this.eventsTable.table.tableName,
          ATTEMPTS_TABLE_NAME: this.attemptsTable.table.tableName,
          DELIVERIES_QUEUE_URL: this.deliveriesQueue.queue.queueUrl,
        },
      }),
    });
    this.eventsTable.table.grantReadData(this.replayFunction.fn);
    // A recover leaves out the events whose delivery succeeded: one key range of the endpoint's attempts per page.
    iam.Grant.addToPrincipal({
      grantee: this.replayFunction.fn,
      actions: ['dynamodb:Query'],
      resourceArns: [this.attemptsTable.table.tableArn],
    });
    this.deliveriesQueue.queue.grantSendMessages(this.replayFunction.fn);
    this.replaysQueue.addConsumer(this.replayFunction, { batchSize: 1, maxConcurrency: 2 });

    this.failingDeliveriesAlarm = failingDeliveriesAlarm(this, this.deliverFunction);
    // A delivery answered 2xx whose success could be neither recorded (after in-process retries) nor handed to a
    // record-only follow-up message: its lease still holds copies off for a while, then one may send it again. It
    // takes DynamoDB and SQS failing together; someone should know the same day.
    this.deliveryRecordLostAlarm = new cloudwatch.Alarm(this, 'DeliveryRecordLostAlarm', {
      alarmDescription:
        'A webhook delivery succeeded but its record could not be written or deferred: the receiver may get it a second time (same webhook-id). Check DynamoDB and SQS errors of DeliverFunction.',
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'DeliveryRecordLost',
        dimensionsMap: { service: this.deliverFunction.serviceName },
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // Lambda reports IteratorAge per function: one alarm covers both streams FanoutFunction reads. With unbounded
    // retries a batch that keeps failing blocks its shard instead of being skipped, so the age of the records it
    // holds back is the signal; 15 minutes leaves most of the stream's 24 h to fix the cause.
    this.streamIteratorAgeAlarm = new cloudwatch.Alarm(this, 'FanoutIteratorAgeAlarm', {
      alarmDescription:
        'FanoutFunction is more than 15 minutes behind a table stream: a batch keeps failing or the function cannot keep up. Stream records expire after 24 h, and then accepted transactions are lost.',
      metric: this.fanoutFunction.fn.metric('IteratorAge', {
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: Duration.minutes(15).toMilliseconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    stackLevelOutput(this, 'WebhooksTableName', {
      value: this.webhooksTable.table.tableName,
      description: 'The endpoint registry; `npx pipeline status --stack` reads failing endpoints from it.',
    });
    // `npx pipeline redrive <queue> --stack <name>` reads the queue pairs from these.
    stackLevelOutput(this, 'DeliveriesQueueUrl', {
      value: this.deliveriesQueue.queue.queueUrl,
      description: 'Queue of webhook deliveries.',
    });
    stackLevelOutput(this, 'DeliveriesDeadLetterQueueUrl', {
      value: this.deliveriesQueue.deadLetterQueue.queueUrl,
      description: 'Exhausted webhook deliveries; `npx pipeline redrive deliveries` moves them back.',
    });
    stackLevelOutput(this, 'ReplaysQueueUrl', {
      value: this.replaysQueue.queue.queueUrl,
      description: 'Queue of replay (refeed) requests.',
    });
    stackLevelOutput(this, 'ReplaysDeadLetterQueueUrl', {
      value: this.replaysQueue.deadLetterQueue.queueUrl,
      description: 'Failed replay requests; `npx pipeline redrive replays` moves them back.',
    });

    // Everything here was first deployed directly on the stack: it keeps those logical IDs (stack-level-ids.ts).
    keepStackLevelLogicalIds(...this.node.children);
  }

  /** The functions, queues and tables the dashboard shows. */
  public get observed(): ObservedFeature {
    return {
      functions: [this.fanoutFunction, this.deliverFunction, this.replayFunction],
      queues: { deliveries: this.deliveriesQueue, replays: this.replaysQueue },
      tables: [this.transactionsTable, this.eventsTable, this.webhooksTable, this.attemptsTable],
    };
  }

  /** The webhook side's variables of the API function (its list names them). */
  public get apiVariables() {
    return {
      TRANSACTIONS_TABLE_NAME: this.transactionsTable.table.tableName,
      EVENTS_TABLE_NAME: this.eventsTable.table.tableName,
      WEBHOOKS_TABLE_NAME: this.webhooksTable.table.tableName,
      ATTEMPTS_TABLE_NAME: this.attemptsTable.table.tableName,
      REPLAYS_QUEUE_URL: this.replaysQueue.queue.queueUrl,
    } as const;
  }

  /** What the API function needs of the webhook side: accepting transactions, the views, endpoints and replays. */
  public grantApi(api: PipelineFunction): void {
    // Accepting a transaction is a write (its condition answers a replayed POST); the API never reads it back.
    this.transactionsTable.table.grantWriteData(api.fn);
    // The events list and the attempt log are read-only views; the endpoint registry is the API's to manage.
    this.eventsTable.table.grantReadData(api.fn);
    this.attemptsTable.table.grantReadData(api.fn);
    this.webhooksTable.table.grantReadWriteData(api.fn);
    this.replaysQueue.queue.grantSendMessages(api.fn);
  }

  /** Subscription events are fanned out like every other event; three of their types are also emailed. */
  public fanOutNotificationsTo(notificationsQueue: DurableQueue): void {
    addFunctionVariables(this.fanoutFunction, FANOUT_FUNCTION_VARIABLES, {
      NOTIFICATIONS_QUEUE_URL: notificationsQueue.queue.queueUrl,
    });
    notificationsQueue.queue.grantSendMessages(this.fanoutFunction.fn);
  }

  /** FanoutFunction reads the transactions and events streams, retrying a failing batch until it goes through. */
  private consumeStreams(): void {
    // Lambda lists a table's streams to read them; ListStreams has no resource-level permissions, so it is in a
    // policy of its own, where the one wildcard is acknowledged and any other on the role is still reported.
    const streamListing = new iam.Policy(this, 'FanoutStreamListingPolicy', {
      roles: [this.fanoutFunction.fn.role as iam.IRole],
      statements: [new iam.PolicyStatement({ actions: ['dynamodb:ListStreams'], resources: ['*'] })],
    });
    Validations.of(streamListing).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams supports no resource-level permissions; the stream reads are scoped to the two streams.',
    });
    for (const table of [this.transactionsTable, this.eventsTable]) {
      table.table.grantStream(
        this.fanoutFunction.fn,
        'dynamodb:DescribeStream',
        'dynamodb:GetRecords',
        'dynamodb:GetShardIterator',
      );
      const mapping = this.fanoutFunction.fn.addEventSourceMapping(`${table.node.id}Stream`, {
        eventSourceArn: table.table.tableStreamArn as string,
        // Everything the stream still holds when the mapping is created, not only what comes after.
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        // Only the failed record and those after it come back; a failing batch is halved until the failing
        // record is alone, so one bad record does not hold the good ones of its batch.
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        // Unbounded: a stream batch that exhausts its retries is skipped, and an on-failure destination receives
        // only its sequence numbers, not the records; after the stream's 24 h they are gone. An accepted
        // transaction must never be dropped, so the batch is retried until it succeeds, and the IteratorAge
        // alarm calls a human long before the 24 h are up.
        retryAttempts: -1,
      });
      mapping.node.addDependency(streamListing);
    }
  }
}

/**
 * The share of failed delivery attempts, over DeliverFunction's Powertools EMF metrics (namespace
 * CommercePipeline, dimension `service` = its POWERTOOLS_SERVICE_NAME, which is how Powertools names it).
 * One dead endpoint is its owner's problem and ends disabled; a quarter of all attempts failing for 15 minutes
 * means endpoints are failing broadly or delivery itself is broken (egress, DNS, signing).
 */
function failingDeliveriesAlarm(scope: Construct, deliver: PipelineFunction): cloudwatch.Alarm {
  const metric = (metricName: string) =>
    new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: deliver.serviceName },
      period: Duration.minutes(5),
      statistic: cloudwatch.Stats.SUM,
    });
  return new cloudwatch.Alarm(scope, 'FailingDeliveriesAlarm', {
    alarmDescription:
      'More than 25% of webhook delivery attempts failed in three 5-minute periods in a row (with at least 20 attempts): endpoints are failing broadly, or delivery is broken.',
    metric: new cloudwatch.MathExpression({
      // Below 20 attempts in 5 minutes a few failures of one endpoint would make the share meaningless.
      expression:
        'IF((FILL(succeeded, 0) + FILL(failed, 0)) >= 20, FILL(failed, 0) / (FILL(succeeded, 0) + FILL(failed, 0)), 0)',
      usingMetrics: { succeeded: metric('DeliveriesSucceeded'), failed: metric('DeliveriesFailed') },
      label: 'Failed share of delivery attempts',
      period: Duration.minutes(5),
    }),
    threshold: 0.25,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 3,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}
