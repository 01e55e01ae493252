import { Lazy, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { API_FUNCTION_VARIABLES } from '../../lambdas/api/function-variables';
import type { DurableQueue } from '../constructs/durable-queue';
import { addFunctionVariables, functionEnvironment } from '../constructs/function-environment';
import { suppliedLocallyFrom } from '../constructs/local-value';
import { PipelineFunction } from '../constructs/pipeline-function';
import { PipelineTable } from '../constructs/pipeline-table';
import { keepStackLevelLogicalIds, stackLevelOutput } from '../constructs/stack-level-ids';
import type { DeploymentSettings } from '../settings';
import type { Billing } from './billing';
import type { ObservedFeature } from './observability';
import type { Webhooks } from './webhooks';

/** Steady-state and burst request rates. */
export interface HttpApiThrottle {
  /** Requests per second, averaged over time. */
  readonly rateLimit: number;
  /** Requests allowed in a short burst above the rate. */
  readonly burstLimit: number;
}

export interface ApiProps {
  /** The deployment's checked settings; ApiFunction gets those its variable list names. */
  readonly settings: DeploymentSettings;
  /** Retention of the function and access log groups. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Whether the tables refuse deletion.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /** The webhook side, whose transactions, events, endpoints, attempts and replays the API serves. */
  readonly webhooks: Webhooks;
  /** The subscription side, whose subscriptions, runs and datafeeds the API serves. */
  readonly billing: Billing;
  /**
   * Throttle of the HTTP API's default stage, across all clients: past it, clients get 429 instead of a cascade of
   * timeouts.
   * @default { rateLimit: 1000, burstLimit: 2000 }
   */
  readonly httpApiThrottle?: HttpApiThrottle;
  /**
   * Concurrency reserved for ApiFunction, so that consumers can never take the executions the storefronts'
   * requests need; also the API's ceiling. Needs that much unreserved concurrency in the account.
   * @default 50
   */
  readonly reservedConcurrency?: number;
  /**
   * Each store's request rate through the API, across all API execution environments (STORE_RATE_LIMIT and
   * STORE_BURST_LIMIT of the function, checked with their schemas at synth).
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly storeThrottle?: HttpApiThrottle;
}

/**
 * The HTTP API (docs/api.md): the stores and idempotency tables, the admin key's secret, ApiFunction (which routes
 * every request itself) and the HTTP API in front of it with a throttled, access-logged default stage.
 */
export class Api extends Construct {
  public readonly storesTable: PipelineTable;
  /** Idempotency records and per-store rate windows; the emails' sent-once records too. */
  public readonly idempotencyTable: PipelineTable;
  public readonly adminApiKeySecret: secretsmanager.Secret;
  /** The keyring that signs customers' manage links (lambdas/billing/domain/manage-link.ts); generated. */
  public readonly manageLinkKeySecret: secretsmanager.Secret;
  public readonly apiFunction: PipelineFunction;
  public readonly httpApi: apigwv2.HttpApi;
  public readonly httpApiStage: apigwv2.HttpStage;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { settings, logRetention, webhooks, billing } = props;

    this.storesTable = new PipelineTable(this, 'StoresTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      deletionProtection: props.deletionProtection,
    });
    this.idempotencyTable = new PipelineTable(this, 'IdempotencyTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
      deletionProtection: props.deletionProtection,
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

    // No local value: the local stack generates one at each start, as AWS does at creation.
    this.manageLinkKeySecret = new secretsmanager.Secret(this, 'ManageLinkKeySecret', {
      description:
        "Keyring that signs customers' manage links (HMAC-SHA256): keys separated by spaces, the first signs, every one verifies.",
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    Validations.of(this.manageLinkKeySecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the manage link key would break the links already emailed unless the old key stays beside the new one for MANAGE_LINK_TTL: an operator puts "<new> <old>", then "<new>" (docs/api.md); functions pick it up without a deploy.',
    });

    const storeThrottle = props.storeThrottle ?? { rateLimit: 100, burstLimit: 200 };
    this.apiFunction = new PipelineFunction(this, 'ApiFunction', {
      entry: 'lambdas/api/handlers/api.ts',
      description: 'HTTP API of the commerce pipeline (/health, /v1/*).',
      logRetention,
      reservedConcurrentExecutions: props.reservedConcurrency ?? 50,
      environment: functionEnvironment('ApiFunction', API_FUNCTION_VARIABLES, {
        settings,
        values: {
          STORE_RATE_LIMIT: String(storeThrottle.rateLimit),
          STORE_BURST_LIMIT: String(storeThrottle.burstLimit),
          STORES_TABLE_NAME: this.storesTable.table.tableName,
          IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.table.tableName,
          ADMIN_API_KEY_SECRET_ARN: this.adminApiKeySecret.secretArn,
          MANAGE_LINK_KEY_SECRET_ARN: this.manageLinkKeySecret.secretArn,
          // The HTTP API in front of this function is made below; manage links start with its endpoint.
          PUBLIC_API_URL: Lazy.string({ produce: () => this.publicUrl }),
          ...webhooks.apiVariables,
          ...billing.apiVariables,
          // The work queues the admin routes show and redrive (GET /v1/admin/queues); notifications' come later.
          DELIVERIES_QUEUE_URL: webhooks.deliveriesQueue.queue.queueUrl,
          DELIVERIES_DLQ_URL: webhooks.deliveriesQueue.deadLetterQueue.queueUrl,
          REPLAYS_DLQ_URL: webhooks.replaysQueue.deadLetterQueue.queueUrl,
          CHARGES_QUEUE_URL: billing.chargesQueue.queue.queueUrl,
          CHARGES_DLQ_URL: billing.chargesQueue.deadLetterQueue.queueUrl,
          RUNS_DLQ_URL: billing.runsQueue.deadLetterQueue.queueUrl,
        },
      }),
    });
    this.storesTable.table.grantReadWriteData(this.apiFunction.fn);
    this.idempotencyTable.table.grantReadWriteData(this.apiFunction.fn);
    this.adminApiKeySecret.grantRead(this.apiFunction.fn);
    this.manageLinkKeySecret.grantRead(this.apiFunction.fn);
    webhooks.grantApi(this.apiFunction);
    billing.grantApi(this.apiFunction);
    for (const queue of [
      webhooks.deliveriesQueue,
      webhooks.replaysQueue,
      billing.chargesQueue,
      billing.runsQueue,
    ]) {
      this.grantQueueOperations(queue);
    }
    // The queues' oldest ages: CloudWatch's ApproximateAgeOfOldestMessage (SQS has no attribute for it).
    const queueAges = new iam.Policy(this.apiFunction, 'QueueAgesPolicy', {
      roles: [this.apiFunction.fn.role as iam.IRole],
      statements: [new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] })],
    });
    Validations.of(queueAges).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:GetMetricData supports no resource-level permissions; it only reads metrics (the queues’ ApproximateAgeOfOldestMessage for GET /v1/admin/queues).',
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

    stackLevelOutput(this, 'ApiUrl', {
      value: this.httpApiStage.url,
      description: 'Base URL of the HTTP API.',
    });
    stackLevelOutput(this, 'AdminApiKeySecretArn', {
      value: this.adminApiKeySecret.secretArn,
      description: 'Secret holding the admin bearer key.',
    });

    // Everything here was first deployed directly on the stack: it keeps those logical IDs (stack-level-ids.ts).
    keepStackLevelLogicalIds(...this.node.children);
  }

  /**
   * Lets the admin routes show and redrive the notifications queue (`notifications` in GET /v1/admin/queues). The
   * queue is made after the API (its function uses the API's tables and manage link key), so the stack hands it
   * over once it exists.
   */
  public operateNotificationsQueue(queue: DurableQueue): void {
    addFunctionVariables(this.apiFunction, API_FUNCTION_VARIABLES, {
      NOTIFICATIONS_QUEUE_URL: queue.queue.queueUrl,
      NOTIFICATIONS_DLQ_URL: queue.deadLetterQueue.queueUrl,
    });
    this.grantQueueOperations(queue);
  }

  /**
   * The queue routes' permissions on one work queue: the depths of both queues (sqs:GetQueueAttributes, in both
   * grants), and the redrive (receive and delete on the dead-letter queue, send to the source queue).
   */
  private grantQueueOperations(queue: DurableQueue): void {
    queue.queue.grantSendMessages(this.apiFunction.fn);
    queue.deadLetterQueue.grantConsumeMessages(this.apiFunction.fn);
  }

  /** The API's public base URL, without a trailing slash: the HTTP API's endpoint (its stage is `$default`). */
  public get publicUrl(): string {
    return this.httpApi.apiEndpoint;
  }

  /** The functions and tables the dashboard shows. */
  public get observed(): ObservedFeature {
    return { functions: [this.apiFunction], queues: {}, tables: [this.storesTable, this.idempotencyTable] };
  }
}
