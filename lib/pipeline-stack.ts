import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { Billing, type RunSchedules } from './billing';
import { DurableQueue } from './constructs/durable-queue';
import { METRICS_NAMESPACE, PipelineFunction } from './constructs/pipeline-function';
import { PipelineTable } from './constructs/pipeline-table';
import { Observability } from './observability';

/** Template metadata naming the local configuration variable that supplies a secret's value (docs/conventions.md). */
export const LOCAL_VALUE_FROM_METADATA_KEY = 'commerce-pipeline:local-value-from';

/** Steady-state and burst request rates of the HTTP API, across all clients. */
export interface HttpApiThrottle {
  /** Requests per second, averaged over time. */
  readonly rateLimit: number;
  /** Requests allowed in a short burst above the rate. */
  readonly burstLimit: number;
}

/**
 * Non-secret contract configuration (CONTRACT.md section 2) given to the functions as environment variables.
 * Secret values are refused: they live in Secrets Manager.
 */
export type PipelineSettings = Partial<Record<string, string>>;

export interface PipelineStackProps extends StackProps {
  /**
   * Whether the tables refuse deletion. Turn off only for throw-away stacks.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Retention of the function and access log groups.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Throttle of the HTTP API's default stage: past it, clients get 429 instead of a cascade of timeouts.
   * @default { rateLimit: 1000, burstLimit: 2000 }
   */
  readonly httpApiThrottle?: HttpApiThrottle;
  /**
   * Contract settings for the deployed functions, over the deployed defaults
   * (`WEBHOOK_ALLOW_PRIVATE_TARGETS=false`).
   * @default - the deployed defaults only
   */
  readonly settings?: PipelineSettings;
  /**
   * Concurrent invocations of DeliverFunction at most: bounds the parallel webhook POSTs (and the Lambda
   * concurrency they hold while endpoints answer). AWS accepts 2 to 1000.
   * @default 10
   */
  readonly deliveryConcurrency?: number;
  /**
   * When the day's subscription run is triggered.
   * @default - primary 00:05 UTC, backup 02:05 UTC
   */
  readonly runSchedules?: RunSchedules;
  /**
   * Concurrent invocations of ChargeFunction at most: protects the payment gateway from a run's burst.
   * @default 5
   */
  readonly chargeConcurrency?: number;
  /**
   * Concurrency reserved for ApiFunction, so that consumers (fan-out, deliveries, charges) can never take the
   * executions the storefronts' requests need. It is also the API's ceiling: with the stage throttle it bounds
   * what a spike can reach. Needs that much unreserved concurrency in the account.
   * @default 50
   */
  readonly apiReservedConcurrency?: number;
  /**
   * Each store's request rate through the API, across all API execution environments: each keeps a token bucket
   * per store and syncs its per-window counts to the idempotency table every 250 ms at most (no write per request;
   * a failed sync falls back to the environment's bucket). Over it a store gets 429 with Retry-After, whatever the
   * others do; the account-wide ceiling is the stage throttle.
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly storeThrottle?: HttpApiThrottle;
  /**
   * An email address subscribed to the alarm topic (it must confirm the subscription).
   * @default - none: subscribe to the AlarmTopicArn output yourself
   */
  readonly alarmEmail?: string;
}

/** The contract's defaults that differ in AWS from the local stack. */
const DEPLOYED_SETTINGS: PipelineSettings = {
  // Webhook endpoints must not reach into the VPC, the metadata service or loopback of the cloud account.
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false',
};

/** Configuration variables that hold secrets (CONTRACT.md section 2): never environment variables in AWS. */
const SECRET_SETTINGS = ['ADMIN_API_KEY', 'DEMO_STORE_API_KEY', 'PAYMENT_GATEWAY_API_KEY'];

/** CONTRACT.md section 2: the default timeout of one delivery attempt. */
const DEFAULT_WEBHOOK_TIMEOUT_MS = 15_000;

/**
 * The commerce pipeline in AWS: tables, datafeed bucket, secrets, the API function and its HTTP API, and the
 * webhook side (docs/webhooks-design.md): the transactions and events streams into FanoutFunction, the
 * deliveries and replays queues into DeliverFunction and ReplayFunction.
 */
export class PipelineStack extends Stack {
  public readonly storesTable: PipelineTable;
  public readonly idempotencyTable: PipelineTable;
  public readonly transactionsTable: PipelineTable;
  public readonly eventsTable: PipelineTable;
  public readonly webhooksTable: PipelineTable;
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
  public readonly datafeedsBucket: s3.Bucket;
  public readonly accessLogsBucket: s3.Bucket;
  public readonly adminApiKeySecret: secretsmanager.Secret;
  public readonly paymentGatewayApiKeySecret: secretsmanager.Secret;
  public readonly apiFunction: PipelineFunction;
  /** The subscription side: tables, queues, functions, schedules and run alarms. */
  public readonly billing: Billing;
  public readonly httpApi: apigwv2.HttpApi;
  public readonly httpApiStage: apigwv2.HttpStage;
  /** The dashboard and the topic every alarm notifies. */
  public readonly observability: Observability;

  constructor(scope: Construct, id: string, props: PipelineStackProps = {}) {
    super(scope, id, props);

    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const settings = contractSettings(props.settings);

    this.storesTable = new PipelineTable(this, 'StoresTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      deletionProtection: props.deletionProtection,
    });
    this.idempotencyTable = new PipelineTable(this, 'IdempotencyTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
      deletionProtection: props.deletionProtection,
    });

    // The webhook side (docs/webhooks-design.md). The transactions table is the outbox: its stream hands every
    // accepted transaction to FanoutFunction, so the API's request is one write and nothing accepted is lost.
    const string = dynamodb.AttributeType.STRING;
    this.transactionsTable = new PipelineTable(this, 'TransactionsTable', {
      partitionKey: { name: 'storeId', type: string },
      sortKey: { name: 'txnId', type: string },
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      deletionProtection: props.deletionProtection,
    });
    this.eventsTable = new PipelineTable(this, 'EventsTable', {
      partitionKey: { name: 'storeId', type: string },
      sortKey: { name: 'eventId', type: string },
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      deletionProtection: props.deletionProtection,
    });
    this.webhooksTable = new PipelineTable(this, 'WebhooksTable', {
      partitionKey: { name: 'storeId', type: string },
      sortKey: { name: 'endpointId', type: string },
      deletionProtection: props.deletionProtection,
    });
    this.attemptsTable = new PipelineTable(this, 'AttemptsTable', {
      partitionKey: { name: 'endpointId', type: string },
      sortKey: { name: 'sk', type: string },
      // The attempt log is kept 30 days (the handler sets expiresAt), then DynamoDB deletes it for free.
      timeToLiveAttribute: 'expiresAt',
      deletionProtection: props.deletionProtection,
    });

    // One attempt may take WEBHOOK_TIMEOUT_MS, and a batch may wait for an attempt of another endpoint's
    // message too (a batch is delivered concurrently, so twice the attempt timeout bounds it), plus the
    // reads and writes around it: the function must outlive its slowest attempt, or the message is retried
    // while its attempt is still open.
    const deliverTimeout = Duration.seconds(
      Math.max(60, Math.ceil((2 * webhookTimeoutMs(settings)) / 1000) + 10),
    );
    // Paging a replay window and sending its messages: longer than a delivery batch.
    const replayTimeout = Duration.minutes(2);
    this.deliveriesQueue = new DurableQueue(this, 'Deliveries', { consumerTimeout: deliverTimeout });
    this.replaysQueue = new DurableQueue(this, 'Replays', { consumerTimeout: replayTimeout });

    // The target of DatafeedsBucket's server access logs; as a log target it logs nothing itself (cdk-nag S1
    // recognises this).
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Server access log delivery writes only to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.datafeedsBucket = new s3.Bucket(this, 'DatafeedsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'datafeeds/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.adminApiKeySecret = new secretsmanager.Secret(this, 'AdminApiKeySecret', {
      description: 'Bearer key of /v1/admin/* on the commerce pipeline API.',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    suppliedLocallyFrom(this.adminApiKeySecret, 'ADMIN_API_KEY');
    Validations.of(this.adminApiKeySecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The admin key is held by operators, so rotating it is an operator action (put a new value); functions read it through a cached Secrets Manager read and pick it up without a deploy.',
    });

    this.paymentGatewayApiKeySecret = new secretsmanager.Secret(this, 'PaymentGatewayApiKeySecret', {
      description:
        'Secret key of the payment gateway. Generated as a placeholder: put the real key here after the first deploy.',
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    suppliedLocallyFrom(this.paymentGatewayApiKeySecret, 'PAYMENT_GATEWAY_API_KEY');
    Validations.of(this.paymentGatewayApiKeySecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The gateway key is issued and rotated at the payment provider; the operator puts the new key here and functions pick it up through the cached Secrets Manager read.',
    });

    const storeThrottle = props.storeThrottle ?? { rateLimit: 100, burstLimit: 200 };
    this.apiFunction = new PipelineFunction(this, 'ApiFunction', {
      entry: 'lambdas/api/handlers/api.ts',
      description: 'HTTP API of the commerce pipeline (/health, /v1/*).',
      logRetention,
      reservedConcurrentExecutions: props.apiReservedConcurrency ?? 50,
      environment: {
        ...settings,
        STORE_RATE_LIMIT: String(storeThrottle.rateLimit),
        STORE_BURST_LIMIT: String(storeThrottle.burstLimit),
        STORES_TABLE_NAME: this.storesTable.table.tableName,
        IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.table.tableName,
        ADMIN_API_KEY_SECRET_ARN: this.adminApiKeySecret.secretArn,
        TRANSACTIONS_TABLE_NAME: this.transactionsTable.table.tableName,
        EVENTS_TABLE_NAME: this.eventsTable.table.tableName,
        WEBHOOKS_TABLE_NAME: this.webhooksTable.table.tableName,
        ATTEMPTS_TABLE_NAME: this.attemptsTable.table.tableName,
        REPLAYS_QUEUE_URL: this.replaysQueue.queue.queueUrl,
      },
    });
    this.storesTable.table.grantReadWriteData(this.apiFunction.fn);
    this.idempotencyTable.table.grantReadWriteData(this.apiFunction.fn);
    this.adminApiKeySecret.grantRead(this.apiFunction.fn);
    // Accepting a transaction is a write (its condition answers a replayed POST); the API never reads it back.
    this.transactionsTable.table.grantWriteData(this.apiFunction.fn);
    // The events list and the attempt log are read-only views; the endpoint registry is the API's to manage.
    this.eventsTable.table.grantReadData(this.apiFunction.fn);
    this.attemptsTable.table.grantReadData(this.apiFunction.fn);
    this.webhooksTable.table.grantReadWriteData(this.apiFunction.fn);
    this.replaysQueue.queue.grantSendMessages(this.apiFunction.fn);

    this.fanoutFunction = new PipelineFunction(this, 'FanoutFunction', {
      entry: 'lambdas/webhooks/handlers/fanout.ts',
      description:
        'Turns transactions and events from the table streams into events and one delivery message per endpoint.',
      timeout: Duration.minutes(1),
      logRetention,
      environment: {
        ...settings,
        TRANSACTIONS_TABLE_NAME: this.transactionsTable.table.tableName,
        EVENTS_TABLE_NAME: this.eventsTable.table.tableName,
        WEBHOOKS_TABLE_NAME: this.webhooksTable.table.tableName,
        DELIVERIES_QUEUE_URL: this.deliveriesQueue.queue.queueUrl,
        DELIVERIES_DLQ_URL: this.deliveriesQueue.deadLetterQueue.queueUrl,
      },
    });
    // The event put is conditional (idempotent fan-out): a put, nothing else, on the events table.
    this.eventsTable.table.grant(this.fanoutFunction.fn, 'dynamodb:PutItem');
    this.webhooksTable.table.grantReadData(this.fanoutFunction.fn);
    this.deliveriesQueue.queue.grantSendMessages(this.fanoutFunction.fn);
    // Lambda lists a table's streams to read them; ListStreams has no resource-level permissions, so it is in
    // a policy of its own, where the one wildcard is acknowledged and any other on the role is still reported.
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
        // Only the failed record and those after it come back; a failing batch is halved until the
        // failing record is alone, so one bad record does not hold the good ones of its batch.
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        // Unbounded: a stream batch that exhausts its retries is skipped, and an on-failure destination
        // receives only its sequence numbers, not the records; after the stream's 24 h they are gone. An
        // accepted transaction must never be dropped, so the batch is retried until it succeeds, and the
        // IteratorAge alarm below calls a human long before the 24 h are up.
        retryAttempts: -1,
      });
      mapping.node.addDependency(streamListing);
    }

    this.deliverFunction = new PipelineFunction(this, 'DeliverFunction', {
      entry: 'lambdas/webhooks/handlers/deliver.ts',
      description: 'Signs and POSTs one webhook per message, logs the attempt and schedules the retry.',
      timeout: deliverTimeout,
      logRetention,
      environment: {
        ...settings,
        EVENTS_TABLE_NAME: this.eventsTable.table.tableName,
        WEBHOOKS_TABLE_NAME: this.webhooksTable.table.tableName,
        ATTEMPTS_TABLE_NAME: this.attemptsTable.table.tableName,
        DELIVERIES_QUEUE_URL: this.deliveriesQueue.queue.queueUrl,
        DELIVERIES_DLQ_URL: this.deliveriesQueue.deadLetterQueue.queueUrl,
      },
    });
    this.eventsTable.table.grantReadData(this.deliverFunction.fn);
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
        "Refeeds a time window of a store's events to one endpoint, one delivery message per event.",
      timeout: replayTimeout,
      logRetention,
      environment: {
        ...settings,
        EVENTS_TABLE_NAME: this.eventsTable.table.tableName,
        WEBHOOKS_TABLE_NAME: this.webhooksTable.table.tableName,
        DELIVERIES_QUEUE_URL: this.deliveriesQueue.queue.queueUrl,
        DELIVERIES_DLQ_URL: this.deliveriesQueue.deadLetterQueue.queueUrl,
      },
    });
    this.eventsTable.table.grantReadData(this.replayFunction.fn);
    this.webhooksTable.table.grantReadData(this.replayFunction.fn);
    this.deliveriesQueue.queue.grantSendMessages(this.replayFunction.fn);
    this.replaysQueue.addConsumer(this.replayFunction, { batchSize: 1, maxConcurrency: 2 });

    this.billing = new Billing(this, 'Billing', {
      settings,
      logRetention,
      deletionProtection: props.deletionProtection,
      eventsTable: this.eventsTable,
      notificationLogTable: this.idempotencyTable,
      datafeedsBucket: this.datafeedsBucket,
      paymentGatewayApiKeySecret: this.paymentGatewayApiKeySecret,
      runSchedules: props.runSchedules,
      chargeConcurrency: props.chargeConcurrency,
    });
    for (const [name, value] of Object.entries(
      this.billing.grantApi(this.apiFunction, this.datafeedsBucket),
    )) {
      this.apiFunction.fn.addEnvironment(name, value);
    }
    // Subscription events are fanned out like every other event; three of their types are also emailed.
    this.fanoutFunction.fn.addEnvironment(
      'NOTIFICATIONS_QUEUE_URL',
      this.billing.notificationsQueue.queue.queueUrl,
    );
    this.billing.notificationsQueue.queue.grantSendMessages(this.fanoutFunction.fn);

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
    // Lambda reports IteratorAge per function: one alarm covers both streams FanoutFunction reads. With
    // unbounded retries a batch that keeps failing blocks its shard instead of being skipped, so the age of
    // the records it holds back is the signal; 15 minutes leaves most of the stream's 24 h to fix the cause.
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

    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Commerce pipeline API: every route and method goes to ApiFunction, which routes itself.',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', this.apiFunction.fn, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
      // The default stage is added below with access logs and throttling, which HttpApiProps cannot set.
      createDefaultStage: false,
    });
    Validations.of(this.httpApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Auth is per-store bearer keys and the admin key, checked in ApiFunction against hashed keys in DynamoDB, which also scopes every request to its store; GET /health is public by contract.',
    });
    const accessLogGroup = new logs.LogGroup(this, 'HttpApiAccessLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.httpApiStage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: props.httpApiThrottle ?? { rateLimit: 1000, burstLimit: 2000 },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogGroup),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    this.observability = new Observability(this, 'Observability', {
      httpApi: this.httpApi,
      apiFunction: this.apiFunction,
      deliverFunction: this.deliverFunction,
      runFunction: this.billing.runFunction,
      chargeFunction: this.billing.chargeFunction,
      functions: [
        this.apiFunction,
        this.fanoutFunction,
        this.deliverFunction,
        this.replayFunction,
        this.billing.runFunction,
        this.billing.chargeFunction,
        this.billing.outboxFunction,
        this.billing.notifyFunction,
      ],
      queues: {
        deliveries: this.deliveriesQueue,
        replays: this.replaysQueue,
        charges: this.billing.chargesQueue,
        runs: this.billing.runsQueue,
        notifications: this.billing.notificationsQueue,
      },
      tables: [
        this.storesTable,
        this.idempotencyTable,
        this.transactionsTable,
        this.eventsTable,
        this.webhooksTable,
        this.attemptsTable,
        this.billing.subscriptionsTable,
        this.billing.chargesTable,
        this.billing.runsTable,
      ],
      alarmEmail: props.alarmEmail,
    });
    this.observability.notifyOnEveryAlarm();
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.observability.alarmTopic.topicArn,
      description: 'Every alarm of the pipeline notifies this topic; subscribe to it.',
    });
    new CfnOutput(this, 'DashboardName', {
      value: this.observability.dashboard.dashboardName,
      description: 'The CloudWatch dashboard of the pipeline.',
    });
    new CfnOutput(this, 'WebhooksTableName', {
      value: this.webhooksTable.table.tableName,
      description: 'The endpoint registry; `npx pipeline status --stack` reads failing endpoints from it.',
    });

    new CfnOutput(this, 'ApiUrl', { value: this.httpApiStage.url, description: 'Base URL of the HTTP API.' });
    new CfnOutput(this, 'AdminApiKeySecretArn', {
      value: this.adminApiKeySecret.secretArn,
      description: 'Secret holding the admin bearer key.',
    });
    new CfnOutput(this, 'PaymentGatewayApiKeySecretArn', {
      value: this.paymentGatewayApiKeySecret.secretArn,
      description: 'Secret to put the payment gateway key into.',
    });
    // `npx pipeline redrive <queue> --stack <name>` reads the queue pairs from these.
    new CfnOutput(this, 'DeliveriesQueueUrl', {
      value: this.deliveriesQueue.queue.queueUrl,
      description: 'Queue of webhook deliveries.',
    });
    new CfnOutput(this, 'DeliveriesDeadLetterQueueUrl', {
      value: this.deliveriesQueue.deadLetterQueue.queueUrl,
      description: 'Exhausted webhook deliveries; `npx pipeline redrive deliveries` moves them back.',
    });
    new CfnOutput(this, 'ReplaysQueueUrl', {
      value: this.replaysQueue.queue.queueUrl,
      description: 'Queue of replay (refeed) requests.',
    });
    for (const [id, queue, what] of [
      ['Charges', this.billing.chargesQueue, 'subscription charges'],
      ['Runs', this.billing.runsQueue, 'subscription run steps'],
      ['Notifications', this.billing.notificationsQueue, 'emails'],
    ] as const) {
      new CfnOutput(this, `${id}QueueUrl`, { value: queue.queue.queueUrl, description: `Queue of ${what}.` });
      new CfnOutput(this, `${id}DeadLetterQueueUrl`, {
        value: queue.deadLetterQueue.queueUrl,
        description: `Failed ${what}; \`npx pipeline redrive ${id.toLowerCase()}\` moves them back.`,
      });
    }
    new CfnOutput(this, 'ReplaysDeadLetterQueueUrl', {
      value: this.replaysQueue.deadLetterQueue.queueUrl,
      description: 'Failed replay requests; `npx pipeline redrive replays` moves them back.',
    });
  }
}

function contractSettings(settings: PipelineSettings = {}): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...DEPLOYED_SETTINGS, ...settings })) {
    if (SECRET_SETTINGS.includes(name)) {
      throw new Error(
        `PipelineStack settings: ${name} is a secret; it belongs in Secrets Manager, not in settings.`,
      );
    }
    if (value !== undefined) merged[name] = value;
  }
  return merged;
}

/** WEBHOOK_TIMEOUT_MS of the settings (CONTRACT.md section 2), which sizes DeliverFunction's timeout. */
function webhookTimeoutMs(settings: Record<string, string>): number {
  const text = settings.WEBHOOK_TIMEOUT_MS;
  if (text === undefined) return DEFAULT_WEBHOOK_TIMEOUT_MS;
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || value <= 0) {
    throw new Error(
      `PipelineStack settings: WEBHOOK_TIMEOUT_MS must be a whole number of milliseconds, got "${text}".`,
    );
  }
  return value;
}

/**
 * The share of failed delivery attempts, over DeliverFunction's Powertools EMF metrics (namespace
 * CommercePipeline, dimension `service` = its POWERTOOLS_SERVICE_NAME, which is how Powertools names it).
 * One dead endpoint is its owner's problem and ends disabled; a quarter of all attempts failing for 15 minutes
 * means endpoints are failing broadly or delivery itself is broken (egress, DNS, signing).
 */
function failingDeliveriesAlarm(scope: Stack, deliver: PipelineFunction): cloudwatch.Alarm {
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

function suppliedLocallyFrom(secret: secretsmanager.Secret, variable: string): void {
  (secret.node.defaultChild as secretsmanager.CfnSecret).addMetadata(LOCAL_VALUE_FROM_METADATA_KEY, variable);
}
