/**
 * `npx pipeline status`: one screen with every queue's depth and oldest message, the dead-letter queues, the
 * current subscription run and the failing webhook endpoints, for the local stack or a deployed one.
 *
 * - `status-sources.ts` finds where each section is read from (the local stack's file, or a deployed stack's
 *   outputs); `sources/` reads them: SQS (depths), the emulator's inspection endpoint or CloudWatch (oldest
 *   ages), the admin API (the run), DynamoDB (the failing endpoints);
 * - `read-status.ts` reads every section and decides what needs attention; `format.ts` draws the screen (or
 *   the JSON document).
 */
export { formatStatus, statusJson } from './format';
export { type PipelineStatus, readStatus } from './read-status';
export { resolveStatusSources } from './status-sources';
