import { CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { PipelineFunction } from './constructs/pipeline-function';
import { PipelineTable } from './constructs/pipeline-table';

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
}

/** The contract's defaults that differ in AWS from the local stack. */
const DEPLOYED_SETTINGS: PipelineSettings = {
  // Webhook endpoints must not reach into the VPC, the metadata service or loopback of the cloud account.
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false',
};

/** Configuration variables that hold secrets (CONTRACT.md section 2): never environment variables in AWS. */
const SECRET_SETTINGS = ['ADMIN_API_KEY', 'DEMO_STORE_API_KEY', 'PAYMENT_GATEWAY_API_KEY'];

/** The commerce pipeline in AWS: tables, datafeed bucket, secrets, the API function and its HTTP API. */
export class PipelineStack extends Stack {
  public readonly storesTable: PipelineTable;
  public readonly idempotencyTable: PipelineTable;
  public readonly datafeedsBucket: s3.Bucket;
  public readonly accessLogsBucket: s3.Bucket;
  public readonly adminApiKeySecret: secretsmanager.Secret;
  public readonly paymentGatewayApiKeySecret: secretsmanager.Secret;
  public readonly apiFunction: PipelineFunction;
  public readonly httpApi: apigwv2.HttpApi;
  public readonly httpApiStage: apigwv2.HttpStage;

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

    this.apiFunction = new PipelineFunction(this, 'ApiFunction', {
      entry: 'lambdas/handlers/api.ts',
      description: 'HTTP API of the commerce pipeline (/health, /v1/*).',
      logRetention,
      environment: {
        ...settings,
        STORES_TABLE_NAME: this.storesTable.table.tableName,
        IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.table.tableName,
        ADMIN_API_KEY_SECRET_ARN: this.adminApiKeySecret.secretArn,
      },
    });
    this.storesTable.table.grantReadWriteData(this.apiFunction.fn);
    this.idempotencyTable.table.grantReadWriteData(this.apiFunction.fn);
    this.adminApiKeySecret.grantRead(this.apiFunction.fn);

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

    new CfnOutput(this, 'ApiUrl', { value: this.httpApiStage.url, description: 'Base URL of the HTTP API.' });
    new CfnOutput(this, 'AdminApiKeySecretArn', {
      value: this.adminApiKeySecret.secretArn,
      description: 'Secret holding the admin bearer key.',
    });
    new CfnOutput(this, 'PaymentGatewayApiKeySecretArn', {
      value: this.paymentGatewayApiKeySecret.secretArn,
      description: 'Secret to put the payment gateway key into.',
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

function suppliedLocallyFrom(secret: secretsmanager.Secret, variable: string): void {
  (secret.node.defaultChild as secretsmanager.CfnSecret).addMetadata(LOCAL_VALUE_FROM_METADATA_KEY, variable);
}
