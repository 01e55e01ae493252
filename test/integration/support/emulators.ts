import { randomBytes } from 'node:crypto';
import * as path from 'node:path';

/** Where the global setup records the emulators it started, for the teardown. */
export const EMULATORS_FILE = path.join(__dirname, '..', '..', '..', '.local', 'integration-emulators.json');

export interface SharedEmulators {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
}

/** The emulators the global setup started for the whole run. */
export function sharedEmulators(): SharedEmulators {
  const dynamodbEndpoint = process.env.TEST_DYNAMODB_ENDPOINT;
  const sqsEndpoint = process.env.TEST_SQS_ENDPOINT;
  if (!dynamodbEndpoint || !sqsEndpoint) {
    throw new Error(
      'TEST_DYNAMODB_ENDPOINT/TEST_SQS_ENDPOINT are unset: run with `jest --selectProjects integration`.',
    );
  }
  return { dynamodbEndpoint, sqsEndpoint };
}

/** A prefix no other test (or `npm start`) uses, so that tests share the emulators without colliding. */
export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}`;
}
