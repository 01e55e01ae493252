/**
 * CloudFormation creates or deletes at most one global secondary index of a table per stack update (DynamoDB's
 * UpdateTable takes one index creation or deletion at a time). A template that asks for more passes every
 * check before the deploy and fails in the middle of it, so the comparison below refuses it at synthesis.
 */
const MAX_INDEX_CHANGES_PER_DEPLOYMENT = 1;

/** Which GSIs of one table a deployment would create and delete. */
export interface IndexChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export function indexChanges(deployed: readonly string[], declared: readonly string[]): IndexChanges {
  return {
    added: declared.filter((name) => !deployed.includes(name)).sort(),
    removed: deployed.filter((name) => !declared.includes(name)).sort(),
  };
}

/**
 * Why deploying `declared` over `deployed` would fail, with what to do instead; undefined when it is one
 * change or none.
 */
export function tooManyIndexChanges(options: {
  /** The table's key in the record of deployed indexes. */
  readonly table: string;
  readonly deployed: readonly string[];
  readonly declared: readonly string[];
  /** Where the record is, for the message. */
  readonly recordSource: string;
  /** The command that updates the record, for the message. */
  readonly recordCommand: string;
}): string | undefined {
  const { added, removed } = indexChanges(options.deployed, options.declared);
  if (added.length + removed.length <= MAX_INDEX_CHANGES_PER_DEPLOYMENT) return undefined;
  const changes = [
    added.length > 0 ? `add ${list(added)}` : undefined,
    removed.length > 0 ? `remove ${list(removed)}` : undefined,
  ].filter((change) => change !== undefined);
  return (
    `Table ${options.table}: this deployment would ${changes.join(' and ')} ` +
    `(deployed: ${list(options.deployed)}, according to ${options.recordSource}). ` +
    'CloudFormation creates or deletes only one global secondary index of a table per deployment and fails ' +
    'mid-deploy otherwise. Declare one change at a time: deploy it, run ' +
    `\`${options.recordCommand}\` and commit ${options.recordSource}, then declare the next change.`
  );
}

const list = (names: readonly string[]) => (names.length > 0 ? `[${names.join(', ')}]` : 'none');
