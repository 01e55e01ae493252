import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import type { PipelineFunction } from '../constructs/pipeline-function';
import type { PipelineTable } from '../constructs/pipeline-table';

/** When the day's run is triggered (EventBridge Scheduler expressions, UTC). */
export interface RunSchedules {
  /** @default 'cron(5 0 * * ? *)' - 00:05 UTC every day */
  readonly primary?: string;
  /**
   * The backup trigger: it joins a live run (nothing is charged twice), resumes one whose holder died, or starts the
   * day's run if the primary never fired.
   * @default 'cron(5 2 * * ? *)' - 02:05 UTC every day
   */
  readonly backup?: string;
}

/**
 * The two EventBridge Scheduler triggers of the day's run, created in `scope` (the Billing construct, so that their
 * logical IDs are those they have always had there). Neither fires before the due index is ready.
 */
export function scheduleRuns(
  scope: Construct,
  runFunction: PipelineFunction,
  subscriptionsTable: PipelineTable,
  schedules: RunSchedules = {},
): { primary: scheduler.CfnSchedule; backup: scheduler.CfnSchedule } {
  const schedulerRole = new iam.Role(scope, 'SchedulerRole', {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
    description: 'Lets EventBridge Scheduler trigger the subscription runs.',
  });
  // The function itself, not its versions and aliases (`:*`): the schedules invoke $LATEST.
  schedulerRole.addToPolicy(
    new iam.PolicyStatement({
      actions: ['lambda:InvokeFunction'],
      resources: [runFunction.fn.functionArn],
    }),
  );
  const schedule = (id: string, expression: string, trigger: string) => {
    const cfn = new scheduler.CfnSchedule(scope, id, {
      description: `The ${trigger} trigger of the day's subscription run.`,
      scheduleExpression: expression,
      scheduleExpressionTimezone: 'UTC',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: runFunction.fn.functionArn,
        roleArn: schedulerRole.roleArn,
        input: JSON.stringify({ trigger }),
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
      },
    });
    // The run reads the due index: no schedule may fire before the index is ready.
    subscriptionsTable.waitForIndexes(cfn);
    return cfn;
  };
  const primary = schedule('PrimaryRunSchedule', schedules.primary ?? 'cron(5 0 * * ? *)', 'primary');
  const backup = schedule('BackupRunSchedule', schedules.backup ?? 'cron(5 2 * * ? *)', 'backup');
  return { primary, backup };
}
