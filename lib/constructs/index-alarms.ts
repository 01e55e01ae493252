import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export interface IndexAlarmsProps {
  /** The table the index belongs to. */
  readonly table: dynamodb.ITable;
  /** Name of the global secondary index. */
  readonly indexName: string;
}

/**
 * The alarms of one global secondary index. They are created with the index, in the same deployment: in 2018
 * a new index was built and read with no alarm on it yet. CloudFormation finishes a table update once the index
 * exists, not once it is backfilled (aws-cloudformation/cloudformation-coverage-roadmap#1075), so these alarms
 * exist while the backfill still runs.
 */
export class IndexAlarms extends Construct {
  /**
   * Throttled reads or writes of the index. A throttled index write throttles the base table's write with it,
   * and a throttled index read is a query that callers retry: the index cannot keep up with its traffic.
   */
  public readonly throttleAlarm: cloudwatch.Alarm;
  /**
   * Throttled backfill while the index is built: the build slows down (capacity is not scaled during it), and
   * until it ends nothing may read the index.
   */
  public readonly onlineIndexThrottleAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: IndexAlarmsProps) {
    super(scope, id);

    const indexPath = `${scope.node.path} index ${props.indexName}`;
    const metric = (metricName: string) =>
      props.table.metric(metricName, {
        dimensionsMap: { TableName: props.table.tableName, GlobalSecondaryIndexName: props.indexName },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.SUM,
      });
    const whenAnyInAMinute = {
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    } satisfies Partial<cloudwatch.AlarmProps>;

    this.throttleAlarm = new cloudwatch.Alarm(this, 'ThrottleAlarm', {
      alarmDescription: `${indexPath}: throttled reads or writes of the index. Throttled index writes throttle the table's writes; look for a hot index key or too little index capacity.`,
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(readThrottles, 0) + FILL(writeThrottles, 0)',
        usingMetrics: {
          readThrottles: metric('ReadThrottleEvents'),
          writeThrottles: metric('WriteThrottleEvents'),
        },
        label: `Throttle events of ${props.indexName}`,
        period: Duration.minutes(1),
      }),
      ...whenAnyInAMinute,
    });

    this.onlineIndexThrottleAlarm = new cloudwatch.Alarm(this, 'OnlineIndexThrottleAlarm', {
      alarmDescription: `${indexPath}: the backfill of the index being built is throttled. The build takes longer and readers wait for it; raise the index's warm throughput or write capacity.`,
      metric: metric('OnlineIndexThrottleEvents'),
      ...whenAnyInAMinute,
    });
  }
}
