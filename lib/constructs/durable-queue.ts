import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { PipelineFunction } from './pipeline-function';
import { deployedUniqueId } from './stack-level-ids';

/**
 * AWS's advice for Lambda consumers: a visibility timeout of at least six times the function timeout,
 * so that a message is not handed to a second consumer while the first (with its retries) still works on it.
 */
const VISIBILITY_TO_CONSUMER_TIMEOUT_RATIO = 6;

export interface DurableQueueProps {
  /**
   * Timeout of the function that consumes the queue; sizes the default visibility timeout.
   * @default Duration.seconds(30)
   */
  readonly consumerTimeout?: Duration;
  /**
   * Visibility timeout of the queue; must be at least 6x `consumerTimeout`.
   * @default - 6x `consumerTimeout`
   */
  readonly visibilityTimeout?: Duration;
  /**
   * Receives of a message before it moves to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Age of the oldest message above which the queue counts as stalled.
   * @default Duration.minutes(15)
   */
  readonly oldestMessageAgeAlarmThreshold?: Duration;
}

export interface DurableQueueConsumerOptions {
  /**
   * Messages per invocation.
   * @default 10
   */
  readonly batchSize?: number;
  /**
   * Concurrent invocations at most, to protect what the consumer calls (AWS accepts 2 to 1000).
   * @default 5
   */
  readonly maxConcurrency?: number;
}

/**
 * An encrypted, TLS-only SQS queue whose failing messages end in a dead-letter queue instead of being
 * dropped, with alarms on dead letters and on stalled consumption, and a way to add a Lambda consumer
 * with partial batch responses and bounded concurrency.
 */
export class DurableQueue extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly visibilityTimeout: Duration;
  /**
   * A message in the dead-letter queue is an accepted event that was not processed: nothing accepted may be
   * dropped, so someone has to look at it and redrive it.
   */
  public readonly deadLetterDepthAlarm: cloudwatch.Alarm;
  /**
   * The consumers fall behind or have stopped (throttled, failing, disabled mapping): the backlog is delay
   * that users see, and it should be noticed before the messages approach their retention period.
   */
  public readonly oldestMessageAgeAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: DurableQueueProps = {}) {
    super(scope, id);

    const consumerTimeout = props.consumerTimeout ?? Duration.seconds(30);
    this.visibilityTimeout =
      props.visibilityTimeout ??
      Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_TO_CONSUMER_TIMEOUT_RATIO);
    assertVisibilityCovers(this.visibilityTimeout, consumerTimeout, `DurableQueue ${this.node.path}`);

    const required = {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
    } satisfies sqs.QueueProps;

    // Long enough to investigate a dead letter and redrive it.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      ...required,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      // SQS's default: a message nobody consumed for 4 days is gone (the age alarm fires long before).
      retentionPeriod: Duration.days(4),
      visibilityTimeout: this.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
      ...required,
    });

    this.deadLetterDepthAlarm = new cloudwatch.Alarm(this, 'DeadLetterDepthAlarm', {
      alarmDescription: `${this.node.path}: messages in the dead-letter queue. Each is an accepted event that was not processed; investigate and redrive.`,
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const ageThreshold = props.oldestMessageAgeAlarmThreshold ?? Duration.minutes(15);
    this.oldestMessageAgeAlarm = new cloudwatch.Alarm(this, 'OldestMessageAgeAlarm', {
      alarmDescription: `${this.node.path}: oldest message older than ${ageThreshold.toHumanString()}. Consumers are behind or stopped.`,
      metric: this.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: ageThreshold.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * Makes `consumer` process this queue: partial batch responses (only the failed messages come back),
   * bounded concurrency, and the permission to receive and delete messages.
   * Throws if the queue's visibility timeout is shorter than 6x the consumer's timeout.
   */
  public addConsumer(
    consumer: PipelineFunction,
    options: DurableQueueConsumerOptions = {},
  ): lambda.EventSourceMapping {
    assertVisibilityCovers(
      this.visibilityTimeout,
      consumer.timeout,
      `DurableQueue ${this.node.path} consumer ${consumer.node.path}`,
    );
    // What `SqsEventSource` does, under the id it would give the mapping had the queue not moved into a feature
    // construct (it names the mapping after the queue's unique id): the deployed mapping is kept, not replaced.
    const mapping = consumer.fn.addEventSourceMapping(`SqsEventSource:${deployedUniqueId(this.queue)}`, {
      eventSourceArn: this.queue.queueArn,
      batchSize: options.batchSize ?? 10,
      maxConcurrency: options.maxConcurrency ?? 5,
      reportBatchItemFailures: true,
    });
    this.queue.grantConsumeMessages(consumer.fn);
    return mapping;
  }
}

function assertVisibilityCovers(visibilityTimeout: Duration, consumerTimeout: Duration, what: string): void {
  const minimum = consumerTimeout.toSeconds() * VISIBILITY_TO_CONSUMER_TIMEOUT_RATIO;
  if (visibilityTimeout.toSeconds() < minimum) {
    throw new Error(
      `${what}: visibility timeout ${visibilityTimeout.toHumanString()} is shorter than ` +
        `${VISIBILITY_TO_CONSUMER_TIMEOUT_RATIO}x the consumer timeout ${consumerTimeout.toHumanString()} (${minimum} seconds); ` +
        'a message would be delivered again while it is still being processed.',
    );
  }
}
