import { Duration, Lazy, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  BILLING_OUTBOX_FUNCTION_VARIABLES,
  CHARGE_FUNCTION_VARIABLES,
  RUN_FUNCTION_VARIABLES,
} from '../../lambdas/billing/function-variables';
import { DurableQueue } from '../constructs/durable-queue';
import { functionEnvironment } from '../constructs/function-environment';
import { suppliedLocallyFrom } from '../constructs/local-value';
import { PipelineFunction } from '../constructs/pipeline-function';
import { PipelineTable } from '../constructs/pipeline-table';
import { keepStackLevelLogicalIds, stackLevelOutput } from '../constructs/stack-level-ids';
import { type DeploymentSettings, settingValue } from '../settings';
import { billingAlarms } from './billing-alarms';
import { type RunSchedules, scheduleRuns } from './billing-schedules';
import type { ObservedFeature } from './observability';

export interface BillingProps {
  /** The deployment's checked settings; each function gets those its variable list names. */
  readonly settings: DeploymentSettings;
  /** Retention of the functions' log groups. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Whether the tables refuse deletion.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /** Where subscription events go (the webhook side's events table); its stream fans them out to webhooks and emails. */
  readonly eventsTable: PipelineTable;
  /**
   * When the day's subscription run is triggered.
   * @default - see RunSchedules
   */
  readonly runSchedules?: RunSchedules;
  /**
   * Concurrent invocations of ChargeFunction at most, fixed: overrides the concurrency computed from the gateway's
   * rate limit (`paymentGatewayLatency`, `chargeConcurrencyCap`). The gateway is protected by the shared rate limit
   * (PAYMENT_GATEWAY_RATE_LIMIT) either way; this only bounds how many charges wait for their turn at once. AWS
   * accepts 2 to 1000.
   * @default - computed, see `paymentGatewayLatency`
   */
  readonly chargeConcurrency?: number;
  /**
   * How long the gateway takes to answer a charge (Stripe: 300 to 500 ms for a PaymentIntent). It sizes the charge
   * consumer: an invocation works a batch of `CHARGE_BATCH_SIZE` (10) charges at once, so reaching the rate limit
   * takes `limit × latency` requests in flight (Little's law), which is
   *
   *     maximumConcurrency = min(chargeConcurrencyCap, max(2, ceil(limit × latency / 10) + 2))
   *
   * invocations, where `limit` is the PAYMENT_GATEWAY_RATE_LIMIT setting (default 80/s) and the two more cover the
   * turnover of batches: an invocation asks its ten charges in turn, then waits for its slowest answer and its
   * writes, then receives the next batch, and meanwhile others must be asking (measured: `npm run bench`'s gateway
   * rate section reaches 19.3/s of 20 with 3 invocations, 17.7/s with 2). Enough to reach the rate; past it,
   * charges would only wait for their turn, holding Lambda concurrency. At the defaults: 6.
   * @default Duration.millis(400)
   */
  readonly paymentGatewayLatency?: Duration;
  /**
   * The most concurrent ChargeFunction invocations the computed concurrency may reach (a raised gateway limit, a
   * slow gateway). AWS accepts 2 to 1000.
   * @default 100
   */
  readonly chargeConcurrencyCap?: number;
}

/** Charges one ChargeFunction invocation works at once (the charges queue's batch size). */
export const CHARGE_BATCH_SIZE = 10;

/**
 * The charge consumer's maximum concurrency for a gateway rate limit (requests per second): see
 * BillingProps.paymentGatewayLatency.
 */
export function chargeConcurrencyFor(props: {
  readonly rateLimit: number;
  readonly latency: Duration;
  readonly cap: number;
  readonly batchSize?: number;
}): number {
  const inFlight = props.rateLimit * (props.latency.toMilliseconds() / 1000);
  const invocations = Math.ceil(inFlight / (props.batchSize ?? CHARGE_BATCH_SIZE)) + 2;
  return Math.min(props.cap, Math.max(2, invocations));
}

/**
 * The runs table's partition holding the gateway limit's shared schedule (lambdas/billing/adapters/
 * dynamo-gateway-schedule.ts `gatewayScheduleKey`): the only one ChargeFunction may write.
 */
export const GATEWAY_COUNTS_PARTITION = 'rate-limit#payment-gateway';

/** How long after its `asOf` a run must be complete before the missed-deadline alarm fires. */
const RUN_DEADLINE = Duration.hours(6);

/**
 * The subscription side (docs/subscriptions-design.md): the subscriptions, charges and runs tables; the runs and
 * charges queues; the datafeeds bucket (and the bucket of its access logs); the payment gateway's key; RunFunction
 * (schedules and run steps), ChargeFunction and BillingOutboxFunction (the two tables' streams into events and run
 * counters); the schedules, the run alarms and the outputs `npx pipeline` reads.
 */
export class Billing extends Construct {
  public readonly subscriptionsTable: PipelineTable;
  public readonly chargesTable: PipelineTable;
  public readonly runsTable: PipelineTable;
  public readonly runsQueue: DurableQueue;
  public readonly chargesQueue: DurableQueue;
  /** The day's datafeeds (`subscriptions/<runId>/...`): RunFunction writes them, the API serves them. */
  public readonly datafeedsBucket: s3.Bucket;
  /** The target of the datafeeds bucket's server access logs. */
  public readonly accessLogsBucket: s3.Bucket;
  /** The payment gateway's secret key; a placeholder until an operator puts the real one. */
  public readonly paymentGatewayApiKeySecret: secretsmanager.Secret;
  public readonly runFunction: PipelineFunction;
  private manageLinks?: ManageLinks;
  public readonly chargeFunction: PipelineFunction;
  public readonly outboxFunction: PipelineFunction;
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
    const { settings, logRetention, deletionProtection } = props;
    const string = dynamodb.AttributeType.STRING;

    this.subscriptionsTable = new PipelineTable(this, 'SubscriptionsTable', {
      partitionKey: { name: 'storeId', type: string },
      sortKey: { name: 'subscriptionId', type: string },
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      deletionProtection,
      // Sparse (only billed subscriptions carry dueShard) and sharded: one day's subscriptions spread over 16
      // partitions instead of sharing one. The run reads it through the readiness gate.
      globalSecondaryIndexes: [
        {
          indexName: 'due',
          partitionKey: { name: 'dueShard', type: string },
          sortKey: { name: 'dueAt', type: string },
          projection: dynamodb.ProjectionType.ALL,
        },
        // A store's subscriptions newest first (GET /v1/subscriptions): every subscription has createdAt from its
        // first write, so the index covers them all. Keys and status only: the list filters on status here and
        // reads the items by key. Read through the readiness gate.
        {
          indexName: 'created',
          partitionKey: { name: 'storeId', type: string },
          sortKey: { name: 'createdAt', type: string },
          projection: dynamodb.ProjectionType.INCLUDE,
          nonKeyAttributes: ['status'],
        },
      ],
    });
    this.chargesTable = new PipelineTable(this, 'ChargesTable', {
      partitionKey: { name: 'subscriptionKey', type: string },
      sortKey: { name: 'chargeKey', type: string },
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      deletionProtection,
    });
    this.runsTable = new PipelineTable(this, 'RunsTable', {
      partitionKey: { name: 'runId', type: string },
      sortKey: { name: 'sk', type: string },
      deletionProtection,
    });

    // A run step works until shortly before its timeout, then checkpoints and sends its continuation.
    const runTimeout = Duration.minutes(5);
    // Parsed as ChargeFunction parses it: a value it would refuse fails synth here, naming the variable.
    const gatewayTimeoutMs = settingValue(settings, 'PAYMENT_GATEWAY_TIMEOUT_MS');
    // A batch's charges run concurrently; each may take two gateway requests (the SDK's one retry) and the
    // writes around them. The function must outlive them, or the message comes back while its charge is open.
    const chargeTimeout = Duration.seconds(Math.max(30, Math.ceil((2 * gatewayTimeoutMs) / 1000) + 15));
    this.runsQueue = new DurableQueue(this, 'Runs', { consumerTimeout: runTimeout });
    this.chargesQueue = new DurableQueue(this, 'Charges', { consumerTimeout: chargeTimeout });
    // Marked now, not only with the rest below: a consumer's mapping is named after its queue's deployed id.
    keepStackLevelLogicalIds(this.runsQueue, this.chargesQueue);

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

    // In AWS the gateway is Stripe unless the settings name another Stripe-compatible API (they win over this).
    const stripe = 'https://api.stripe.com';
    this.runFunction = new PipelineFunction(this, 'RunFunction', {
      entry: 'lambdas/billing/handlers/run.ts',
      description:
        "Subscription runs: the schedules' triggers, each run's steps (lease, due index, claims) and its reconciliation with the gateway.",
      timeout: runTimeout,
      logRetention,
      environment: functionEnvironment('RunFunction', RUN_FUNCTION_VARIABLES, {
        settings,
        values: {
          // The gateway's settings: the reconciliation lists the run's PaymentIntents.
          PAYMENT_GATEWAY_URL: stripe,
          PAYMENT_GATEWAY_API_KEY_SECRET_ARN: this.paymentGatewayApiKeySecret.secretArn,
          RUNS_TABLE_NAME: this.runsTable.table.tableName,
          SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.table.tableName,
          CHARGES_TABLE_NAME: this.chargesTable.table.tableName,
          EVENTS_TABLE_NAME: props.eventsTable.table.tableName,
          RUNS_QUEUE_URL: this.runsQueue.queue.queueUrl,
          CHARGES_QUEUE_URL: this.chargesQueue.queue.queueUrl,
          DATAFEEDS_BUCKET_NAME: this.datafeedsBucket.bucketName,
          RUN_DEADLINE_MINUTES: String(RUN_DEADLINE.toMinutes()),
          // The datafeeds carry each subscription's manage link: the API owns its key (`useManageLinks`).
          MANAGE_LINK_KEY_SECRET_ARN: Lazy.string({
            produce: () => this.requireManageLinks().keySecret.secretArn,
          }),
          PUBLIC_API_URL: Lazy.string({ produce: () => this.requireManageLinks().baseUrl }),
        },
      }),
    });
    this.runsTable.table.grantReadWriteData(this.runFunction.fn);
    this.paymentGatewayApiKeySecret.grantRead(this.runFunction.fn);
    this.subscriptionsTable.grantIndexRead(this.runFunction);
    // The datafeeds: the run's subscriptions (BatchGetItem) and each store's partition (Query), on the table only.
    grantItemActions(this.subscriptionsTable, this.runFunction, 'dynamodb:BatchGetItem', 'dynamodb:Query');
    this.chargesTable.table.grantReadWriteData(this.runFunction.fn);
    props.eventsTable.table.grant(this.runFunction.fn, 'dynamodb:PutItem');
    this.runsQueue.queue.grantSendMessages(this.runFunction.fn);
    this.chargesQueue.queue.grantSendMessages(this.runFunction.fn);
    grantDatafeedObjects(this.runFunction, this.datafeedsBucket, 's3:PutObject');
    // One step at a time per run is the lease's job; two concurrent steps keep a backlog of runs moving.
    this.runsQueue.addConsumer(this.runFunction, { batchSize: 1, maxConcurrency: 2 });

    this.chargeFunction = new PipelineFunction(this, 'ChargeFunction', {
      entry: 'lambdas/billing/handlers/charge.ts',
      description: 'Charges one claimed (subscription, period, attempt) at the gateway with its stable key.',
      timeout: chargeTimeout,
      logRetention,
      environment: functionEnvironment('ChargeFunction', CHARGE_FUNCTION_VARIABLES, {
        settings,
        values: {
          PAYMENT_GATEWAY_URL: stripe,
          SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.table.tableName,
          CHARGES_TABLE_NAME: this.chargesTable.table.tableName,
          RUNS_TABLE_NAME: this.runsTable.table.tableName,
          CHARGES_QUEUE_URL: this.chargesQueue.queue.queueUrl,
          CHARGES_DLQ_URL: this.chargesQueue.deadLetterQueue.queueUrl,
          PAYMENT_GATEWAY_API_KEY_SECRET_ARN: this.paymentGatewayApiKeySecret.secretArn,
        },
      }),
    });
    grantItemActions(this.subscriptionsTable, this.chargeFunction, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    this.chargesTable.table.grantReadWriteData(this.chargeFunction.fn);
    this.chargesQueue.queue.grantSendMessages(this.chargeFunction.fn);
    this.chargesQueue.deadLetterQueue.grantSendMessages(this.chargeFunction.fn);
    this.paymentGatewayApiKeySecret.grantRead(this.chargeFunction.fn);
    // The gateway limit's shared schedule: one item of the runs table, the only partition this function may write.
    this.chargeFunction.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [this.runsTable.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [GATEWAY_COUNTS_PARTITION] } },
      }),
    );
    this.chargesQueue.addConsumer(this.chargeFunction, {
      batchSize: CHARGE_BATCH_SIZE,
      maxConcurrency: chargeConsumerConcurrency(props, settingValue(settings, 'PAYMENT_GATEWAY_RATE_LIMIT')),
    });

    this.outboxFunction = new PipelineFunction(this, 'BillingOutboxFunction', {
      entry: 'lambdas/billing/handlers/billing-outbox.ts',
      description: 'Turns subscription and charge changes (table streams) into events and run counters.',
      timeout: Duration.minutes(1),
      logRetention,
      environment: functionEnvironment('BillingOutboxFunction', BILLING_OUTBOX_FUNCTION_VARIABLES, {
        settings,
        values: {
          SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.table.tableName,
          CHARGES_TABLE_NAME: this.chargesTable.table.tableName,
          EVENTS_TABLE_NAME: props.eventsTable.table.tableName,
          RUNS_TABLE_NAME: this.runsTable.table.tableName,
        },
      }),
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
    const schedules = scheduleRuns(this, this.runFunction, this.subscriptionsTable, props.runSchedules);
    this.primarySchedule = schedules.primary;
    this.backupSchedule = schedules.backup;

    const alarms = billingAlarms(this, this);
    this.outboxIteratorAgeAlarm = alarms.outboxIteratorAge;
    this.outboxFailedRecordsAlarm = alarms.outboxFailedRecords;
    this.runStalledAlarm = alarms.runStalled;
    this.runDeadlineAlarm = alarms.runDeadline;
    this.reconciliationMismatchAlarm = alarms.reconciliationMismatch;
    this.gatewayAuthRefusedAlarm = alarms.gatewayAuthRefused;

    for (const [id, queue, what] of [
      ['Charges', this.chargesQueue, 'subscription charges'],
      ['Runs', this.runsQueue, 'subscription run steps'],
    ] as const) {
      stackLevelOutput(this, `${id}QueueUrl`, {
        value: queue.queue.queueUrl,
        description: `Queue of ${what}.`,
      });
      stackLevelOutput(this, `${id}DeadLetterQueueUrl`, {
        value: queue.deadLetterQueue.queueUrl,
        description: `Failed ${what}; \`npx pipeline redrive ${id.toLowerCase()}\` moves them back.`,
      });
    }
    stackLevelOutput(this, 'PaymentGatewayApiKeySecretArn', {
      value: this.paymentGatewayApiKeySecret.secretArn,
      description: 'Secret to put the payment gateway key into.',
    });

    // These were first deployed directly on the stack and keep those logical IDs (stack-level-ids.ts); the
    // schedules, their role, the stream listing policy and the run alarms have always been under Billing.
    keepStackLevelLogicalIds(
      this.subscriptionsTable,
      this.chargesTable,
      this.runsTable,
      this.accessLogsBucket,
      this.datafeedsBucket,
      this.paymentGatewayApiKeySecret,
      this.runFunction,
      this.chargeFunction,
      this.outboxFunction,
    );
  }

  /** The functions, queues and tables the dashboard shows. */
  public get observed(): ObservedFeature {
    return {
      functions: [this.runFunction, this.chargeFunction, this.outboxFunction],
      queues: { charges: this.chargesQueue, runs: this.runsQueue },
      tables: [this.subscriptionsTable, this.chargesTable, this.runsTable],
    };
  }

  /** The subscription side's variables of the API function (its list names them). */
  public get apiVariables() {
    return {
      SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.table.tableName,
      CHARGES_TABLE_NAME: this.chargesTable.table.tableName,
      RUNS_TABLE_NAME: this.runsTable.table.tableName,
      RUNS_QUEUE_URL: this.runsQueue.queue.queueUrl,
      DATAFEEDS_BUCKET_NAME: this.datafeedsBucket.bucketName,
    } as const;
  }

  /** What the API function needs for the subscription, run and datafeed routes. */
  public grantApi(api: PipelineFunction): void {
    grantItemActions(
      this.subscriptionsTable,
      api,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    );
    // The list reads the created index (through the gate: DescribeTable) and the items (BatchGetItem).
    this.subscriptionsTable.grantIndexRead(api);
    this.chargesTable.table.grantReadData(api.fn);
    // A cancel or a pause releases the claim of a charge nobody asked the gateway for (a conditional delete).
    grantItemActions(this.chargesTable, api, 'dynamodb:DeleteItem');
    this.runsTable.table.grantReadWriteData(api.fn);
    this.runsQueue.queue.grantSendMessages(api.fn);
    grantDatafeedObjects(api, this.datafeedsBucket, 's3:GetObject');
  }

  /**
   * The customer's manage links, which the datafeeds carry (`<manage_url>`): the key that signs them and the API's
   * public URL. The API owns both and is made after billing, so the stack hands them over once it exists.
   */
  public useManageLinks(links: ManageLinks): void {
    this.manageLinks = links;
    links.keySecret.grantRead(this.runFunction.fn);
  }

  private requireManageLinks(): ManageLinks {
    if (!this.manageLinks) {
      throw new Error(
        'Billing: useManageLinks() was not called; the run function signs the datafeeds’ manage links.',
      );
    }
    return this.manageLinks;
  }
}

/** What signs a customer's manage link, and where it points. */
export interface ManageLinks {
  readonly keySecret: secretsmanager.ISecret;
  readonly baseUrl: string;
}

/** The charge consumer's maximum concurrency: the prop when set, else computed from the gateway's rate limit. */
function chargeConsumerConcurrency(props: BillingProps, rateLimit: number): number {
  const inRange = (name: string, value: number | undefined) => {
    if (value !== undefined && !(Number.isInteger(value) && value >= 2 && value <= 1000)) {
      throw new Error(`Billing: ${name} must be a whole number from 2 to 1000 (got ${value}).`);
    }
  };
  inRange('chargeConcurrency', props.chargeConcurrency);
  inRange('chargeConcurrencyCap', props.chargeConcurrencyCap);
  if (props.chargeConcurrency !== undefined) return props.chargeConcurrency;
  const latency = props.paymentGatewayLatency ?? Duration.millis(400);
  if (!(latency.toMilliseconds() > 0))
    throw new Error('Billing: paymentGatewayLatency must be longer than 0.');
  return chargeConcurrencyFor({ rateLimit, latency, cap: props.chargeConcurrencyCap ?? 100 });
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
