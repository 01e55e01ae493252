import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, type IConstruct, type IDependable } from 'constructs';
import {
  deployedIndexesKey,
  deployedIndexRecord,
  RECORD_DEPLOYED_INDEXES_COMMAND,
} from '../deployed-indexes';
import { tooManyIndexChanges } from '../index-changes';
import { IndexAlarms } from './index-alarms';
import { IndexReadiness } from './index-readiness';
import type { PipelineFunction } from './pipeline-function';

/** A global secondary index of a PipelineTable. */
export interface PipelineIndexProps {
  /** Name of the index, unique in the table. */
  readonly indexName: string;
  /** Partition key of the index. */
  readonly partitionKey: dynamodb.Attribute;
  /**
   * Sort key of the index.
   * @default - no sort key
   */
  readonly sortKey?: dynamodb.Attribute;
  /** Attributes copied into the index. `ALL` doubles the storage and write cost of every item. */
  readonly projection: dynamodb.ProjectionType;
  /**
   * Attributes copied besides the keys: required with `ProjectionType.INCLUDE`, refused otherwise.
   * @default - none
   */
  readonly nonKeyAttributes?: readonly string[];
  /**
   * Read and write units per second the index serves at once, without ramping up. A new index is built at
   * this rate too, so a large table's backfill finishes sooner.
   * @default - DynamoDB's initial throughput for a new index
   */
  readonly warmThroughput?: dynamodb.WarmThroughput;
}

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
  /**
   * The table's global secondary indexes, all declared here. Synthesis refuses to add or remove more than one
   * per deployment (see `lib/deployed-indexes.json`); each gets throttling alarms, and readers granted with
   * `grantIndexRead` wait until every index is ACTIVE and not backfilling.
   * @default - no global secondary indexes
   */
  readonly globalSecondaryIndexes?: readonly PipelineIndexProps[];
  /**
   * Read and write units per second the table serves at once, without ramping up (e.g. before a sale).
   * @default - DynamoDB's initial throughput for a new table
   */
  readonly warmThroughput?: dynamodb.WarmThroughput;
}

/** What a reader of the indexes needs; DescribeTable lets the run-time gate check that an index is ready. */
const INDEX_READ_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
];

/**
 * A DynamoDB table as the pipeline keeps its records: on-demand (no capacity to run out of while
 * autoscaling lags; in 2018 a new index configured to scale did not while it was built), point-in-time recovery, AWS-managed encryption, and an alarm on
 * throttling. Its global secondary indexes are declared here, each with its alarms, and are never read before
 * they are ready (see `grantIndexRead`).
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
  /** Names of the declared global secondary indexes, in declaration order. */
  public readonly indexNames: readonly string[];
  /** The alarms of each global secondary index, by index name. */
  public readonly indexAlarms: Readonly<Record<string, IndexAlarms>>;
  /**
   * Complete once every global secondary index is ACTIVE and not backfilling: what index readers depend on.
   * Undefined when the table has no global secondary index.
   */
  public readonly indexesReady: IDependable | undefined;

  constructor(scope: Construct, id: string, props: PipelineTableProps) {
    super(scope, id);

    const indexes = props.globalSecondaryIndexes ?? [];
    assertIndexesValid(this.node.path, indexes);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: props.partitionKey,
      sortKey: props.sortKey,
      timeToLiveAttribute: props.timeToLiveAttribute,
      stream: props.stream,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      warmThroughput: props.warmThroughput,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
    });
    for (const index of indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: index.partitionKey,
        sortKey: index.sortKey,
        projectionType: index.projection,
        nonKeyAttributes: index.nonKeyAttributes ? [...index.nonKeyAttributes] : undefined,
        warmThroughput: index.warmThroughput,
      });
    }
    this.indexNames = indexes.map((index) => index.indexName);

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

    const indexAlarms: Record<string, IndexAlarms> = {};
    for (const indexName of this.indexNames) {
      indexAlarms[indexName] = new IndexAlarms(this, `${indexName}Alarms`, { table: this.table, indexName });
    }
    this.indexAlarms = indexAlarms;

    if (this.indexNames.length > 0) {
      const readiness = new IndexReadiness(this, 'IndexReadiness', {
        table: this.table,
        indexNames: this.indexNames,
      });
      // Readers start only after the readiness check, and the check only after the index alarms exist.
      readiness.resource.node.addDependency(...Object.values(indexAlarms));
      this.indexesReady = readiness.resource;
    }

    this.node.addValidation({ validate: () => this.validateIndexChanges() });
  }

  /**
   * The table's key in the record of deployed indexes (`lib/deployed-indexes.json`). Read when needed, not at
   * construction: a feature construct may keep the table's stack-level logical ID (and key) after creating it.
   */
  public get deployedIndexesKey(): string {
    return deployedIndexesKey(this);
  }

  /**
   * Lets `reader` read the table and its indexes (and DescribeTable, for the run-time gate), and deploys the
   * function and its event source mappings only after every index is ACTIVE and not backfilling.
   * A schedule or rule that invokes `reader` must wait as well: pass it to `waitForIndexes`.
   */
  public grantIndexRead(reader: PipelineFunction): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee: reader.fn,
      actions: INDEX_READ_ACTIONS,
      resourceArns: [
        this.table.tableArn,
        ...this.indexNames.map((indexName) => `${this.table.tableArn}/index/${indexName}`),
      ],
    });
    // The function's subtree holds its event source mappings, including those added after this call.
    this.waitForIndexes(reader.fn);
    return grant;
  }

  /**
   * Deploys each of `dependents` only after every index is ACTIVE and not backfilling: anything that reads an
   * index or starts a reader, such as a schedule or an events rule that targets a function granted
   * `grantIndexRead`.
   */
  public waitForIndexes(...dependents: IConstruct[]): void {
    if (!this.indexesReady) {
      throw new Error(
        `PipelineTable ${this.node.path} has no global secondary index: there is nothing to wait for.`,
      );
    }
    for (const dependent of dependents) dependent.node.addDependency(this.indexesReady);
  }

  private validateIndexChanges(): string[] {
    const { record, source } = deployedIndexRecord(this);
    const deployed = record[this.deployedIndexesKey];
    // A table the record does not know is new: CloudFormation creates it with all its indexes at once.
    if (deployed === undefined) return [];
    const refusal = tooManyIndexChanges({
      table: this.deployedIndexesKey,
      deployed,
      declared: this.indexNames,
      recordSource: source,
      recordCommand: RECORD_DEPLOYED_INDEXES_COMMAND,
    });
    return refusal ? [refusal] : [];
  }
}

function assertIndexesValid(path: string, indexes: readonly PipelineIndexProps[]): void {
  const seen = new Set<string>();
  for (const index of indexes) {
    if (seen.has(index.indexName)) {
      throw new Error(`PipelineTable ${path}: index ${index.indexName} is declared twice.`);
    }
    seen.add(index.indexName);
    const include = index.projection === dynamodb.ProjectionType.INCLUDE;
    if (include !== (index.nonKeyAttributes !== undefined && index.nonKeyAttributes.length > 0)) {
      throw new Error(
        `PipelineTable ${path}: index ${index.indexName} needs nonKeyAttributes with ProjectionType.INCLUDE, and only with it.`,
      );
    }
  }
}
