import { type CfnElement, CfnOutput, type CfnOutputProps, Names, Stack } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';

/**
 * Deployed names that survive moving a construct into a feature construct.
 *
 * CloudFormation knows a resource by its logical ID, which CDK makes from the construct path in the stack
 * (`Webhooks/DeliveriesQueue/Queue` gives `WebhooksDeliveriesQueue` and a hash of the path). Moving a construct
 * under another changes the ID, and `cdk deploy` then creates a new resource and deletes the old one: for a table,
 * queue, bucket or secret that deletes its data; for a stream's event source mapping it rereads the stream from its
 * start. The pipeline's resources were first created directly on the stack, so the feature constructs mark what they
 * create with `keepStackLevelLogicalIds`, and everything under a marked construct keeps the logical ID it had there.
 *
 * Technique: PipelineStack overrides `Stack.allocateLogicalId`, which CDK documents as the way to change how a stack
 * names its resources, with `stackLevelLogicalId` below. The construct tree keeps the features in its paths (cdk-nag,
 * `cdk diff` and the console's construct view show them); only the template's logical IDs stay as deployed.
 * test/cdk/stateful-logical-ids.test.ts pins the IDs of every stateful resource.
 */
const STACK_LEVEL = new WeakSet<IConstruct>();

/**
 * Gives every resource and output under each of `constructs` the logical ID it would have if the construct had been
 * created directly on the stack (under the same id). Honoured by PipelineStack; a marked construct must not sit under
 * another marked one.
 */
export function keepStackLevelLogicalIds(...constructs: IConstruct[]): void {
  for (const construct of constructs) STACK_LEVEL.add(construct);
}

/** A stack output that keeps its stack-level name, whichever construct owns it: the CLI reads outputs by name. */
export function stackLevelOutput(scope: Construct, id: string, props: CfnOutputProps): CfnOutput {
  const output = new CfnOutput(scope, id, props);
  keepStackLevelLogicalIds(output);
  return output;
}

/**
 * The ids of the path a deployed name is made from: the path in the stack, from the outermost construct marked by
 * `keepStackLevelLogicalIds` on (the whole path in the stack when nothing on it is marked).
 */
export function deployedPath(construct: IConstruct): string[] {
  const stack = Stack.of(construct);
  const scopes = construct.node.scopes;
  const inStack = scopes.slice(scopes.indexOf(stack) + 1);
  const marked = inStack.findIndex((scope) => STACK_LEVEL.has(scope));
  return inStack.slice(Math.max(marked, 0)).map((scope) => scope.node.id);
}

/**
 * The logical ID of `element` made from its `deployedPath`, by CDK's own algorithm (`Names.uniqueId` over a scratch
 * tree of the same ids: the readable ids and a hash of the path), so that an unmarked element gets exactly the ID
 * `Stack.allocateLogicalId` would give it.
 */
export function stackLevelLogicalId(element: CfnElement): string {
  return uniqueIdOf(deployedPath(element));
}

/**
 * `Names.uniqueId(construct)` as it was before the construct moved: the ids from the app down to its stack, then its
 * `deployedPath`. For names CDK derives from a construct's unique id, e.g. the id of a queue's event source mapping.
 */
export function deployedUniqueId(construct: IConstruct): string {
  const scopes = construct.node.scopes;
  const stackIds = scopes.slice(1, scopes.indexOf(Stack.of(construct)) + 1).map((scope) => scope.node.id);
  return uniqueIdOf([...stackIds, ...deployedPath(construct)]);
}

/** CDK's unique id of the path `ids` (`Names.uniqueId` of a construct at that path in a scratch tree). */
function uniqueIdOf(ids: readonly string[]): string {
  let scope = new Construct(undefined as unknown as Construct, '');
  for (const id of ids) scope = new Construct(scope, id);
  return Names.uniqueId(scope);
}
