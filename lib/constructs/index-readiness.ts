import { type CfnElement, CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { PipelineFunction } from './pipeline-function';

const HANDLER_ENTRY = 'lambdas/index-gate/handlers/index-readiness.ts';

/** Between two DescribeTable calls: a backfill takes minutes to hours, checking more often only costs calls. */
const QUERY_INTERVAL = Duration.seconds(30);
/**
 * CloudFormation waits at most an hour for a custom resource. The waiter gives up a little earlier, so that the
 * failure says the indexes were not ready rather than that CloudFormation timed out.
 */
const TOTAL_TIMEOUT = Duration.minutes(55);

export interface IndexReadinessProps {
  /** The table whose global secondary indexes are waited for. */
  readonly table: dynamodb.ITable;
  /**
   * The GSIs the table declares. A change of the set updates the custom resource, which waits again;
   * a declared index that DescribeTable does not list yet counts as not ready.
   */
  readonly indexNames: readonly string[];
}

/**
 * A custom resource that completes only once every GSI of a table is ACTIVE and not backfilling, so that what
 * depends on it (the index readers, their event sources, their schedules) is deployed after that.
 *
 * CloudFormation finishes a table update when a new index exists, not when its backfill is done, and DynamoDB
 * refuses to read a backfilling index: readers deployed in the same update would fail. The check polls
 * DescribeTable through the CDK Provider framework. A backfill longer than about an hour fails the deployment,
 * which CloudFormation then rolls back.
 */
export class IndexReadiness extends Construct {
  /** Complete once every GSI of the table is ready: what readers depend on. */
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: IndexReadinessProps) {
    super(scope, id);

    const provider = IndexReadinessProvider.of(this);
    // DescribeTable on this table only, in a policy the resource depends on: the first check of a new table
    // must not run before its permission exists.
    const describePolicy = new iam.Policy(this, 'DescribeTablePolicy', {
      roles: [provider.isCompleteFunction.fn.role as iam.IRole],
      statements: [
        new iam.PolicyStatement({ actions: ['dynamodb:DescribeTable'], resources: [props.table.tableArn] }),
      ],
    });

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::IndexReadiness',
      properties: { TableName: props.table.tableName, IndexNames: [...props.indexNames].sort() },
    });
    this.resource.node.addDependency(describePolicy);
  }
}

/**
 * One Provider per stack for every IndexReadiness: the framework adds three functions and a state machine, which
 * need not be repeated per table. Each IndexReadiness grants DescribeTable on its own table.
 */
class IndexReadinessProvider extends Construct {
  private static readonly ID = 'IndexReadinessProvider';

  static of(scope: Construct): IndexReadinessProvider {
    const stack = Stack.of(scope);
    const existing = stack.node.tryFindChild(IndexReadinessProvider.ID);
    return existing instanceof IndexReadinessProvider
      ? existing
      : new IndexReadinessProvider(stack, IndexReadinessProvider.ID);
  }

  public readonly isCompleteFunction: PipelineFunction;
  public readonly serviceToken: string;

  private constructor(scope: Construct, id: string) {
    super(scope, id);

    const onEventFunction = new PipelineFunction(this, 'OnEvent', {
      entry: HANDLER_ENTRY,
      handler: 'onEvent',
      description: 'Index readiness custom resource: accepts the request; isComplete does the waiting.',
      serviceName: 'index-readiness',
    });
    this.isCompleteFunction = new PipelineFunction(this, 'IsComplete', {
      entry: HANDLER_ENTRY,
      handler: 'isComplete',
      description: 'Index readiness custom resource: complete once every GSI is ACTIVE and not backfilling.',
      serviceName: 'index-readiness',
    });

    // The framework's own functions get a log group with retention and roles without the
    // AWSLambdaBasicExecutionRole managed policy (which may write to any log group), as PipelineFunction does.
    const frameworkLogGroup = new logs.LogGroup(this, 'FrameworkLogGroup', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const frameworkRole = (roleId: string) => {
      const role = new iam.Role(this, roleId, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `${roleId} of ${this.node.path}`,
      });
      frameworkLogGroup.grantWrite(role);
      return role;
    };

    const provider = new Provider(this, 'Provider', {
      onEventHandler: onEventFunction.fn,
      isCompleteHandler: this.isCompleteFunction.fn,
      queryInterval: QUERY_INTERVAL,
      totalTimeout: TOTAL_TIMEOUT,
      logGroup: frameworkLogGroup,
      // Separate roles, as the framework requires, to avoid a circular dependency.
      frameworkOnEventRole: frameworkRole('FrameworkOnEventRole'),
      frameworkCompleteAndTimeoutRole: frameworkRole('FrameworkCompleteAndTimeoutRole'),
    });
    this.serviceToken = provider.serviceToken;

    // The framework grants invoke with `grantInvoke`, which covers the function's versions and aliases
    // (`<arn>:*`): each function the framework calls is named here, nothing else.
    const invokedFunctions = [
      onEventFunction.fn,
      this.isCompleteFunction.fn,
      provider.node.findChild('framework-isComplete'),
      provider.node.findChild('framework-onTimeout'),
    ];
    for (const invoked of invokedFunctions) {
      const logicalId = Stack.of(this).getLogicalId(invoked.node.defaultChild as CfnElement);
      Validations.of(this).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
        reason: `The Provider framework invokes ${invoked.node.path} through grantInvoke, which includes its versions and aliases; no other function.`,
      });
    }
    const waiter = provider.node.findChild('waiter-state-machine');
    Validations.of(waiter).acknowledge({
      id: 'AwsSolutions-SF1',
      reason:
        "The waiter is the Provider framework's polling loop (invoke isComplete, wait 30 s, repeat). The isComplete function logs every check with the indexes still building and CloudFormation records the outcome; execution logs would repeat that and need logs:* on every resource.",
    });
    Validations.of(waiter).acknowledge({
      id: 'AwsSolutions-SF2',
      reason:
        'The Provider framework has no tracing option for its waiter, which only invokes and waits; the functions it invokes are traced (PipelineFunction turns on active tracing).',
    });
  }
}
