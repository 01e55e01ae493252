import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The repository root: handler entries are given relative to it, as the local runtime reads them. */
const REPO_ROOT = path.join(__dirname, '../..');

/** Template metadata keys the local runtime reads to find a function's handler (docs/conventions.md). */
export const ENTRY_METADATA_KEY = 'commerce-pipeline:entry';
export const HANDLER_METADATA_KEY = 'commerce-pipeline:handler';

/** Namespace of the Powertools metrics (EMF) every function emits. */
export const METRICS_NAMESPACE = 'CommercePipeline';

/**
 * The newest Node.js Lambda runtime this aws-cdk-lib knows; it must stay >= NODEJS_22_X.
 * A pinned runtime rather than NODEJS_LATEST, so that a CDK upgrade cannot change it silently.
 */
export const PIPELINE_RUNTIME = lambda.Runtime.NODEJS_24_X;

export interface PipelineFunctionProps {
  /**
   * Handler file, relative to the repository root, e.g. `lambdas/api/handlers/api.ts`.
   * Written into the template metadata as given, so the local runtime runs the same file.
   */
  readonly entry: string;
  /**
   * Name of the exported handler function in `entry`.
   * @default 'handler'
   */
  readonly handler?: string;
  /**
   * Description of the function.
   * @default - no description
   */
  readonly description?: string;
  /**
   * Function timeout. A queue consuming into this function needs a visibility timeout of at least 6x this.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Memory in MB (CPU grows with it).
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * The handler's variables, from its variable list (`functionEnvironment` in function-environment.ts builds and
   * checks them). Never secret values: pass a Secrets Manager ARN instead.
   * @default - only the variables every pipeline function gets
   */
  readonly environment?: Record<string, string>;
  /**
   * Reserved concurrency, to protect a downstream that cannot take more parallel calls.
   * @default - unreserved, uses the account's unreserved pool
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Retention of the function's log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Powertools service name, the `service` key of every log line and metric.
   * @default - the construct id in kebab-case
   */
  readonly serviceName?: string;
}

/** Which package.json entry points the bundler prefers: the local runtime bundles the same way. */
export const BUNDLE_MAIN_FIELDS = ['module', 'main'];

/**
 * A Node.js Lambda function as every pipeline handler runs: arm64, newest Node runtime, bundled with
 * esbuild (AWS SDK included), X-Ray tracing, its own log group, Powertools settings and an error alarm.
 *
 * It grants nothing beyond writing its own logs and traces: callers grant access with `fn.grant*`
 * or `resource.grant*(fn)`.
 */
export class PipelineFunction extends Construct {
  public readonly fn: nodejs.NodejsFunction;
  public readonly logGroup: logs.LogGroup;
  /** The configured timeout, for consumers that size visibility timeouts from it. */
  public readonly timeout: Duration;
  /** The handler file relative to the repository root. */
  public readonly entry: string;
  /**
   * The Powertools service name (POWERTOOLS_SERVICE_NAME): Powertools metrics carry it as their `service`
   * dimension, so alarms on the function's own metrics need it.
   */
  public readonly serviceName: string;
  /**
   * Any invocation error in 5 minutes. Handlers map expected failures to responses or partial batch
   * failures, so an error is a bug or an outage of a dependency and needs a human.
   */
  public readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);

    if (path.isAbsolute(props.entry)) {
      throw new Error(
        `PipelineFunction ${id}: entry must be relative to the repository root, got ${props.entry}`,
      );
    }
    this.entry = path.normalize(props.entry).split(path.sep).join('/');
    this.timeout = props.timeout ?? Duration.seconds(30);
    const handler = props.handler ?? 'handler';
    this.serviceName = props.serviceName ?? toKebabCase(id);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      // Logs are diagnostics, not records: they go with the stack.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // An explicit role instead of the AWSLambdaBasicExecutionRole managed policy: the function may write
    // to its own log group only, not create or write any log group in the account.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${this.node.path}`,
    });
    this.logGroup.grantWrite(role);

    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, this.entry),
      handler,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: PIPELINE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      timeout: this.timeout,
      memorySize: props.memorySize ?? 512,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      logGroup: this.logGroup,
      role,
      environment: {
        ...props.environment,
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: this.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: 'INFO',
      },
      bundling: {
        minify: true,
        sourceMap: true,
        target: PIPELINE_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, 'node$1'),
        // The runtime's own SDK v3 may be older than ours: bundle it, so what the tests ran is what runs.
        externalModules: [],
        // ES modules first, so esbuild can drop what a handler does not use (zod's locales, most of the SDK's
        // clients' commands): it keeps every bundle under 1 MB (scripts/bundle-sizes.ts reports them).
        mainFields: BUNDLE_MAIN_FIELDS,
      },
    });

    const cfnFunction = this.fn.node.defaultChild as lambda.CfnFunction;
    cfnFunction.addMetadata(ENTRY_METADATA_KEY, this.entry);
    cfnFunction.addMetadata(HANDLER_METADATA_KEY, handler);

    // Active tracing, with its permissions in a policy of their own: the one wildcard they need is
    // acknowledged there, so a wildcard that a caller grants later on the role is still reported.
    cfnFunction.tracingConfig = { mode: lambda.Tracing.ACTIVE };
    const tracingPolicy = new iam.Policy(this, 'TracingPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
          resources: ['*'],
        }),
      ],
    });
    this.fn.node.addDependency(tracingPolicy);
    Validations.of(tracingPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    });

    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: `${this.node.path}: invocation errors. Expected failures are responses or partial batch failures, so any error is a bug or a dependency outage.`,
      metric: this.fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}

function toKebabCase(id: string): string {
  return id
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase();
}
