import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { QUIET_SDK_ENVIRONMENT } from '../../local/aws-clients';
import { startDynamoDbLocal } from '../../local/emulators/dynamodb-local';
import { startFauxqs } from '../../local/emulators/fauxqs';
import type { RunningEmulator } from '../../local/emulators/managed-child';
import { EMULATORS_FILE } from './support/emulators';

/**
 * Starts one DynamoDB Local and one fauxqs for the whole integration run, on free loopback ports. Tests find
 * them through TEST_DYNAMODB_ENDPOINT and TEST_SQS_ENDPOINT (jest's workers inherit this environment) and
 * share them under unique name prefixes.
 */
export default async function globalSetup(): Promise<void> {
  Object.assign(process.env, { ...QUIET_SDK_ENVIRONMENT, ...process.env });
  const results = await Promise.allSettled([startDynamoDbLocal(), startFauxqs()]);
  const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) {
    await Promise.all(started.map((emulator) => emulator.stop()));
    throw failure.reason;
  }
  const [dynamodb, fauxqs] = started as [RunningEmulator, RunningEmulator];
  process.env.TEST_DYNAMODB_ENDPOINT = dynamodb.endpoint;
  process.env.TEST_SQS_ENDPOINT = fauxqs.endpoint;
  // The teardown runs in this process and stops them through these handles; the PIDs are on disk too, for a
  // teardown that finds the handles gone (and for a person looking for what the run left).
  (globalThis as { integrationEmulators?: RunningEmulator[] }).integrationEmulators = started;
  mkdirSync(path.dirname(EMULATORS_FILE), { recursive: true });
  writeFileSync(EMULATORS_FILE, JSON.stringify({ pids: started.map((emulator) => emulator.pid) }));
}
