import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export interface PipelineTableProps {
  /** Partition key of the table. */
  readonly partitionKey: dynamodb.Attribute;
  /**
   * Sort key of the table.
   * @default - no sort key
   */
  readonly sortKey?: dynamodb.Attribute;
  /**
   * Attribute holding the epoch-seconds expiry after which DynamoDB deletes the item.
   * @default - items never expire
   */
  readonly timeToLiveAttribute?: string;
  /**
   * What the table's stream carries.
   * @default - no stream
   */
  readonly stream?: dynamodb.StreamViewType;
  /**
   * Whether deleting the table is refused until this is turned off.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * What happens to the table when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A DynamoDB table as the pipeline keeps its records: on-demand (no capacity to run out of while
 * autoscaling lags), point-in-time recovery, AWS-managed encryption, and an alarm on throttling.
 *
 * Uses `dynamodb.Table` (AWS::DynamoDB::Table), which the local runtime provisions from.
 */
export class PipelineTable extends Construct {
  public readonly table: dynamodb.Table;
  /**
   * Throttled reads or writes. On-demand tables still throttle (hot partitions, a new table's initial
   * throughput, an index that cannot keep up): a throttled write is a request that callers have to retry.
   */
  public readonly throttleAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: PipelineTableProps) {
    super(scope, id);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: props.partitionKey,
      sortKey: props.sortKey,
      timeToLiveAttribute: props.timeToLiveAttribute,
      stream: props.stream,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
    });

    const metric = (metricName: string) =>
      this.table.metric(metricName, { period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM });
    this.throttleAlarm = new cloudwatch.Alarm(this, 'ThrottleAlarm', {
      alarmDescription: `${this.node.path}: throttled reads or writes. Callers are slowed down and retry; look for a hot key or an index that cannot keep up.`,
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(readThrottles, 0) + FILL(writeThrottles, 0)',
        usingMetrics: {
          readThrottles: metric('ReadThrottleEvents'),
          writeThrottles: metric('WriteThrottleEvents'),
        },
        label: 'Throttle events',
        period: Duration.minutes(1),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
