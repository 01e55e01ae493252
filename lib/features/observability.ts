import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { DurableQueue } from '../constructs/durable-queue';
import { METRICS_NAMESPACE, type PipelineFunction } from '../constructs/pipeline-function';
import type { PipelineTable } from '../constructs/pipeline-table';
import { stackLevelOutput } from '../constructs/stack-level-ids';

/** What a feature construct shows on the dashboard: its functions, queues and tables. */
export interface ObservedFeature {
  /** The feature's functions, for errors, throttles, concurrency and stream iterator ages. */
  readonly functions: readonly PipelineFunction[];
  /** The feature's queues, by the name the dashboard shows. */
  readonly queues: Readonly<Record<string, DurableQueue>>;
  /** The tables the feature owns, for table and index throttles. */
  readonly tables: readonly PipelineTable[];
}

export interface ObservabilityProps {
  /** The HTTP API, for the ingest widgets. */
  readonly httpApi: apigwv2.HttpApi;
  /** Its function, for accepted transactions. */
  readonly apiFunction: PipelineFunction;
  /** The webhook delivery function, for deliveries by outcome. */
  readonly deliverFunction: PipelineFunction;
  /** The subscription run function, for the run's progress. */
  readonly runFunction: PipelineFunction;
  /** The charge function, for charges by outcome. */
  readonly chargeFunction: PipelineFunction;
  /** Every feature of the pipeline: their functions, queues and tables, in the dashboard's order. */
  readonly features: readonly ObservedFeature[];
  /**
   * An address that receives every alarm by email (it must confirm the subscription).
   * @default - no subscription: subscribe to `alarmTopic` yourself
   */
  readonly alarmEmail?: string;
}

const PERIOD = Duration.minutes(1);

/**
 * One screen for the whole pipeline and one place for its alarms: a CloudWatch dashboard (ingest, queues and their
 * DLQs, deliveries, runs, table and index throttles, functions) and an SNS topic that every alarm of the stack
 * notifies, encrypted with a key CloudWatch may use, with an optional email subscription.
 */
export class Observability extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarmTopic: sns.Topic;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const functions = props.features.flatMap((feature) => feature.functions);
    const tables = props.features.flatMap((feature) => feature.tables);
    const queuesByName = Object.fromEntries(
      props.features.flatMap((feature) => Object.entries(feature.queues)),
    );

    // CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key: a customer managed key
    // whose policy lets CloudWatch use it.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the pipeline alarm topic; CloudWatch alarms may use it to publish.',
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'commerce-pipeline alarms',
      masterKey: key,
      enforceSSL: true,
    });
    if (props.alarmEmail)
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-pipeline`,
      defaultInterval: Duration.hours(3),
    });
    const service = (fn: PipelineFunction, metricName: string, statistic: string = cloudwatch.Stats.SUM) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: fn.serviceName },
        period: PERIOD,
        statistic,
      });
    const apiMetric = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: props.httpApi.apiId, Stage: '$default' },
        period: PERIOD,
        statistic,
        label,
      });
    const queueNames = Object.keys(queuesByName);
    const queues = Object.values(queuesByName);

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          '# commerce-pipeline\nIngest → outbox → fan-out → deliveries; runs → charges → outbox → emails and datafeeds. `npx pipeline status` shows the same from a terminal.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Ingest: requests and accepted transactions per minute',
        left: [
          apiMetric('Count', cloudwatch.Stats.SUM, 'requests'),
          service(props.apiFunction, 'TransactionsAccepted'),
        ],
        right: [
          apiMetric('4xx', cloudwatch.Stats.SUM, '4xx (429 included)'),
          apiMetric('5xx', cloudwatch.Stats.SUM, '5xx'),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Ingest latency (ms)',
        left: [
          apiMetric('Latency', cloudwatch.Stats.p(50), 'p50'),
          apiMetric('Latency', cloudwatch.Stats.p(99), 'p99'),
        ],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Queue depth (visible messages)',
        left: queues.map((queue, i) =>
          queue.queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, label: queueNames[i] }),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Oldest message age (s)',
        left: queues.map((queue, i) =>
          queue.queue.metricApproximateAgeOfOldestMessage({
            period: PERIOD,
            statistic: cloudwatch.Stats.MAXIMUM,
            label: queueNames[i],
          }),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queues (messages; redrive with npx pipeline redrive <queue>)',
        left: queues.map((queue, i) =>
          queue.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            period: PERIOD,
            statistic: cloudwatch.Stats.MAXIMUM,
            label: `${queueNames[i]} DLQ`,
          }),
        ),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Webhook deliveries by outcome',
        left: [
          service(props.deliverFunction, 'DeliveriesSucceeded'),
          service(props.deliverFunction, 'DeliveriesFailed'),
        ],
        right: [service(props.deliverFunction, 'DeliveryAttemptLatency', cloudwatch.Stats.p(99))],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Subscription run: pending charges and charges per minute',
        left: [service(props.runFunction, 'RunPendingCharges', cloudwatch.Stats.MAXIMUM)],
        right: [
          service(props.runFunction, 'RunChargesPerMinute', cloudwatch.Stats.MAXIMUM),
          service(props.chargeFunction, 'ChargesSucceeded'),
          service(props.chargeFunction, 'ChargesFailed'),
          service(props.chargeFunction, 'ChargesPending'),
        ],
        width: 12,
      }),
    );
    // Stream consumers are the functions with a mapping that has a starting position (queue mappings have none).
    // With unbounded retries a failing record holds its shard: the iterator age is where that shows.
    const streamConsumers = functions.filter((fn) =>
      fn.fn.node.children.some(
        (child) =>
          child instanceof lambda.EventSourceMapping &&
          (child.node.defaultChild as lambda.CfnEventSourceMapping).startingPosition !== undefined,
      ),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Table streams: iterator age of each consumer (ms; records expire after 24 h)',
        left: streamConsumers.map((fn) =>
          fn.fn.metric('IteratorAge', {
            period: PERIOD,
            statistic: cloudwatch.Stats.MAXIMUM,
            label: fn.node.id,
          }),
        ),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Table streams: records reported failed (each holds its shard until it goes through)',
        left: streamConsumers.map((fn) => service(fn, 'StreamRecordsFailed').with({ label: fn.node.id })),
        width: 12,
      }),
    );
    const tableThrottles = tables.flatMap((table) => [
      table.table.metric('ReadThrottleEvents', {
        period: PERIOD,
        statistic: 'Sum',
        label: `${table.node.id} reads`,
      }),
      table.table.metric('WriteThrottleEvents', {
        period: PERIOD,
        statistic: 'Sum',
        label: `${table.node.id} writes`,
      }),
    ]);
    const indexThrottles = tables.flatMap((table) =>
      table.indexNames.flatMap((index) =>
        ['ReadThrottleEvents', 'WriteThrottleEvents', 'OnlineIndexThrottleEvents'].map(
          (metricName) =>
            new cloudwatch.Metric({
              namespace: 'AWS/DynamoDB',
              metricName,
              dimensionsMap: { TableName: table.table.tableName, GlobalSecondaryIndexName: index },
              period: PERIOD,
              statistic: 'Sum',
              label: `${table.node.id}/${index} ${metricName}`,
            }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Table throttles', left: tableThrottles, width: 12 }),
      new cloudwatch.GraphWidget({
        title: 'GSI throttles (and online index builds)',
        left: indexThrottles,
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Function errors',
        left: functions.map((fn) => fn.fn.metricErrors({ period: PERIOD, label: fn.node.id })),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Function throttles',
        left: functions.map((fn) => fn.fn.metricThrottles({ period: PERIOD, label: fn.node.id })),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Concurrent executions',
        left: functions.map((fn) =>
          fn.fn.metric('ConcurrentExecutions', { period: PERIOD, statistic: 'Maximum', label: fn.node.id }),
        ),
        width: 8,
      }),
    );
    stackLevelOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'Every alarm of the pipeline notifies this topic; subscribe to it.',
    });
    stackLevelOutput(this, 'DashboardName', {
      value: this.dashboard.dashboardName,
      description: 'The CloudWatch dashboard of the pipeline.',
    });

    const alarms = stack.node.findAll().filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm);
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms,
        width: 24,
        height: Math.max(3, Math.ceil(alarms.length / 4) + 1),
      }),
    );
  }

  /** Sends every alarm of the stack to the alarm topic (call once, after every alarm exists). */
  public notifyOnEveryAlarm(): number {
    const alarms = Stack.of(this)
      .node.findAll()
      .filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm);
    for (const alarm of alarms) {
      alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
      alarm.addOkAction(new actions.SnsAction(this.alarmTopic));
    }
    return alarms.length;
  }
}
