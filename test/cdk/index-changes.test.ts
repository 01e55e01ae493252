import { App, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { PipelineTable } from '../../lib/constructs/pipeline-table';
import { keepStackLevelLogicalIds } from '../../lib/constructs/stack-level-ids';
import {
  DEPLOYED_INDEXES_CONTEXT_KEY,
  type DeployedIndexRecord,
  formatDeployedIndexRecord,
  readDeployedIndexRecord,
} from '../../lib/deployed-indexes';

const string = dynamodb.AttributeType.STRING;

/** Synthesizes a stack with one table declaring `indexNames`, against `record` (never the committed file). */
function synthesize(
  indexNames: readonly string[],
  record: DeployedIndexRecord | string,
  scope: (stack: Stack) => Construct = (stack) => stack,
) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], [DEPLOYED_INDEXES_CONTEXT_KEY]: record } });
  const stack = new Stack(app, 'Pipeline');
  const table = new PipelineTable(scope(stack), 'SubscriptionsTable', {
    partitionKey: { name: 'pk', type: string },
    globalSecondaryIndexes: indexNames.map((indexName) => ({
      indexName,
      partitionKey: { name: `${indexName}Key`, type: string },
      projection: dynamodb.ProjectionType.KEYS_ONLY,
    })),
  });
  return { table, synth: () => app.synth() };
}

describe('at most one GSI created or deleted per table and deployment', () => {
  const deployedA = { 'Pipeline/SubscriptionsTable': ['indexA'] };

  test('the record key is the stack name and the construct path in the stack', () => {
    expect(synthesize([], {}).table.deployedIndexesKey).toBe('Pipeline/SubscriptionsTable');
    expect(synthesize([], {}, (stack) => new Construct(stack, 'Billing')).table.deployedIndexesKey).toBe(
      'Pipeline/Billing/SubscriptionsTable',
    );
  });

  test('a table that keeps its stack-level logical ID in a feature construct keeps its stack-level key', () => {
    const { table } = synthesize([], {}, (stack) => new Construct(stack, 'Billing'));
    keepStackLevelLogicalIds(table);
    expect(table.deployedIndexesKey).toBe('Pipeline/SubscriptionsTable');
  });

  test('adding one index to the deployed [indexA] synthesizes', () => {
    expect(() => synthesize(['indexA', 'indexB'], deployedA).synth()).not.toThrow();
  });

  test('adding two indexes fails, naming the table, both indexes and the way out', () => {
    const { synth } = synthesize(['indexA', 'indexB', 'indexC'], deployedA);

    expect(synth).toThrow(/Table Pipeline\/SubscriptionsTable: this deployment would add \[indexB, indexC\]/);
    expect(synth).toThrow(/deployed: \[indexA\], according to context commerce-pipeline:deployed-indexes/);
    expect(synth).toThrow(/Declare one change at a time: deploy it, run `npm run indexes:record`/);
  });

  test('removing two indexes fails', () => {
    expect(
      synthesize(['indexA'], { 'Pipeline/SubscriptionsTable': ['indexA', 'indexB', 'indexC'] }).synth,
    ).toThrow(/would remove \[indexB, indexC\]/);
  });

  test('replacing an index (one removed, one added) fails: that is two changes', () => {
    expect(synthesize(['indexB'], deployedA).synth).toThrow(/would add \[indexB\] and remove \[indexA\]/);
  });

  test('removing the one deployed index synthesizes', () => {
    expect(() => synthesize([], deployedA).synth()).not.toThrow();
  });

  test('a table the record does not know is new: three indexes synthesize', () => {
    expect(() =>
      synthesize(['indexA', 'indexB', 'indexC'], { 'Pipeline/OtherTable': ['indexX'] }).synth(),
    ).not.toThrow();
  });

  test('the record may come as JSON, as `cdk -c` passes it', () => {
    expect(synthesize(['indexA', 'indexB', 'indexC'], JSON.stringify(deployedA)).synth).toThrow(
      /would add \[indexB, indexC\]/,
    );
  });

  test('a malformed record fails and says what shape it needs', () => {
    expect(synthesize(['indexA'], { 'Pipeline/SubscriptionsTable': 'a' } as never).synth).toThrow(
      /must map "<stack>\/<table path>" to a list of index names/,
    );
  });
});

describe('the record', () => {
  test('is written with sorted keys and index names, one diff line per change', () => {
    expect(formatDeployedIndexRecord({ 'B/Table': ['z', 'a'], 'A/Table': [] })).toBe(
      '{\n  "A/Table": [],\n  "B/Table": [\n    "a",\n    "z"\n  ]\n}\n',
    );
  });

  test('a missing record file fails and says how to restore it', () => {
    expect(() => readDeployedIndexRecord('/nonexistent/deployed-indexes.json')).toThrow(
      /restore it from version control, or create it with `npm run indexes:record`/,
    );
  });
});
