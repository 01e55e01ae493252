import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { NOTIFY_FUNCTION_VARIABLES } from '../../lambdas/notifications/function-variables';
import { DurableQueue } from '../constructs/durable-queue';
import { functionEnvironment } from '../constructs/function-environment';
import { PipelineFunction } from '../constructs/pipeline-function';
import type { PipelineTable } from '../constructs/pipeline-table';
import { keepStackLevelLogicalIds, stackLevelOutput } from '../constructs/stack-level-ids';
import { type DeploymentSettings, settingValue } from '../settings';
import type { ObservedFeature } from './observability';

export interface NotificationsProps {
  /** The deployment's checked settings; NotifyFunction gets those its variable list names (EMAIL_FROM, SMTP_URL). */
  readonly settings: DeploymentSettings;
  /** Retention of the function's log group. */
  readonly logRetention: logs.RetentionDays;
  /** Holds the emails' sent-once records (pk `pk`, TTL `expiresAt`): the API's idempotency table. */
  readonly logTable: PipelineTable;
  /** Receipts and payment-failed notices carry a manage link: the key that signs it, and the API's public URL. */
  readonly manageLinks: { readonly keySecret: secretsmanager.ISecret; readonly baseUrl: string };
}

/** Concurrent invocations of NotifyFunction at most: protects the SMTP server or the SES sending rate. */
const NOTIFY_CONCURRENCY = 2;

/**
 * The emails (docs/subscriptions-design.md): the notifications queue, which the fan-out fills with the subscription
 * events that are emailed, and NotifyFunction, which sends the receipt, payment-failed and cancellation emails once
 * each through SES (or SMTP_URL), with the queue's outputs for `npx pipeline redrive`.
 */
export class Notifications extends Construct {
  public readonly queue: DurableQueue;
  public readonly notifyFunction: PipelineFunction;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const { settings } = props;
    const timeout = Duration.seconds(60);

    this.queue = new DurableQueue(this, 'Notifications', { consumerTimeout: timeout });
    // Marked now, not only with the rest below: its consumer's mapping is named after the queue's deployed id.
    keepStackLevelLogicalIds(this.queue);
    this.notifyFunction = new PipelineFunction(this, 'NotifyFunction', {
      entry: 'lambdas/notifications/handlers/notify.ts',
      description: 'Sends the receipt, payment-failed and cancellation emails, each once.',
      timeout,
      logRetention: props.logRetention,
      environment: functionEnvironment('NotifyFunction', NOTIFY_FUNCTION_VARIABLES, {
        settings,
        values: {
          NOTIFICATIONS_LOG_TABLE_NAME: props.logTable.table.tableName,
          MANAGE_LINK_KEY_SECRET_ARN: props.manageLinks.keySecret.secretArn,
          PUBLIC_API_URL: props.manageLinks.baseUrl,
        },
      }),
    });
    props.logTable.table.grantReadWriteData(this.notifyFunction.fn);
    props.manageLinks.keySecret.grantRead(this.notifyFunction.fn);
    // SES may send from the sender's domain only.
    const sesIdentity = settingValue(settings, 'EMAIL_FROM').split('@')[1] ?? '';
    this.notifyFunction.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendEmail', 'ses:SendRawEmail'],
        resources: [
          Stack.of(this).formatArn({ service: 'ses', resource: 'identity', resourceName: sesIdentity }),
        ],
      }),
    );
    this.queue.addConsumer(this.notifyFunction, { batchSize: 10, maxConcurrency: NOTIFY_CONCURRENCY });

    stackLevelOutput(this, 'NotificationsQueueUrl', {
      value: this.queue.queue.queueUrl,
      description: 'Queue of emails.',
    });
    stackLevelOutput(this, 'NotificationsDeadLetterQueueUrl', {
      value: this.queue.deadLetterQueue.queueUrl,
      description: 'Failed emails; `npx pipeline redrive notifications` moves them back.',
    });

    // Everything here was first deployed directly on the stack: it keeps those logical IDs (stack-level-ids.ts).
    keepStackLevelLogicalIds(...this.node.children);
  }

  /** The function and queue the dashboard shows (the log table is the API's). */
  public get observed(): ObservedFeature {
    return { functions: [this.notifyFunction], queues: { notifications: this.queue }, tables: [] };
  }
}
