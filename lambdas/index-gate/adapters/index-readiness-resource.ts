import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import * as z from 'zod';
import { type IndexDescriber, type IndexDescription, isIndexReadable } from '../domain/index-gate';

/**
 * The Custom::IndexReadiness resource (lib/constructs/index-readiness.ts) as the CDK Provider framework calls it:
 * `onEvent` accepts the request, then the framework calls `isComplete` every 30 s until it says the table's
 * indexes may be read, so that whatever depends on the resource deploys only then.
 */

/** The event both handlers get (`isComplete` also gets what `onEvent` returned, which it does not need). */
export type IndexReadinessEvent = CloudFormationCustomResourceEvent;

const readinessProperties = z.object({
  TableName: z.string().min(1),
  IndexNames: z.array(z.string().min(1)),
});

export interface IndexReadinessHandlers {
  onEvent(event: IndexReadinessEvent): Promise<{ PhysicalResourceId: string }>;
  isComplete(event: IndexReadinessEvent): Promise<{ IsComplete: boolean }>;
}

export function createIndexReadinessHandlers(
  describer: IndexDescriber,
  logger: { info(message: string, ...extra: Record<string, unknown>[]): void },
): IndexReadinessHandlers {
  return {
    async onEvent(event) {
      if (event.RequestType === 'Create') {
        const { TableName } = readinessProperties.parse(event.ResourceProperties);
        return { PhysicalResourceId: `index-readiness:${TableName}` };
      }
      // The same id on update: a new one would make CloudFormation delete the old resource, for nothing.
      return { PhysicalResourceId: event.PhysicalResourceId };
    },

    async isComplete(event) {
      // Nothing waits for a deleted resource; the table's own deletion is CloudFormation's.
      if (event.RequestType === 'Delete') return { IsComplete: true };
      const { TableName, IndexNames } = readinessProperties.parse(event.ResourceProperties);
      const notReady = indexesNotReady(IndexNames, await describer.describeIndexes(TableName));
      if (notReady.length > 0) logger.info('indexes not ready yet', { table: TableName, notReady });
      return { IsComplete: notReady.length === 0 };
    },
  };
}

/**
 * Every index of the table must be ACTIVE and not backfilling (DynamoDB refuses to read a backfilling one),
 * and every declared index must be listed: one that is not has not been created yet.
 */
function indexesNotReady(declared: readonly string[], described: readonly IndexDescription[]): string[] {
  const missing = declared
    .filter((name) => !described.some((index) => index.name === name))
    .map((name) => `${name}: MISSING`);
  const building = described
    .filter((index) => !isIndexReadable(index))
    .map((index) => `${index.name}: ${index.backfilling ? 'BACKFILLING' : index.status}`);
  return [...missing, ...building];
}
