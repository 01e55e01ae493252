import { execFileSync } from 'node:child_process';
import { startDynamoDbLocal } from '../../../local/emulators/dynamodb-local';
import { startFauxqs } from '../../../local/emulators/fauxqs';
import { EmulatorStartError } from '../../../local/emulators/managed-child';
import { startLocalStack } from '../../../local/stack';
import { sharedEmulators } from '../support/emulators';

// Emulator round trips, visibility timeouts and retries: more than jest's default 5 s per test or hook.
jest.setTimeout(30_000);

/**
 * The child processes of this test process whose command line contains `marker`. Only our own children: other
 * test files start and stop emulators of their own at the same time.
 */
function processesMatching(marker: string): number {
  const lines = execFileSync('ps', ['-eo', 'ppid=,args='], { encoding: 'utf8' }).split('\n');
  return lines.filter((line) => {
    const [ppid, ...args] = line.trim().split(/\s+/);
    return Number(ppid) === process.pid && args.join(' ').includes(marker);
  }).length;
}

describe('emulator launchers', () => {
  it('names the missing Java and leaves no process behind', async () => {
    const before = processesMatching('LoopbackDynamoDbLocal');

    const starting = startDynamoDbLocal({ javaPath: '/nonexistent/bin/java' });

    await expect(starting).rejects.toThrow(EmulatorStartError);
    await expect(starting).rejects.toThrow(/needs Java 17\+, but "\/nonexistent\/bin\/java" was not found/);
    expect(processesMatching('LoopbackDynamoDbLocal')).toBe(before);
  });

  it('reports a DynamoDB Local port in use and stops the JVM it started', async () => {
    const port = Number(new URL(sharedEmulators().dynamodbEndpoint).port);
    const before = processesMatching('LoopbackDynamoDbLocal');

    const starting = startDynamoDbLocal({ port });

    await expect(starting).rejects.toThrow(`127.0.0.1:${port}: the port is in use`);
    expect(processesMatching('LoopbackDynamoDbLocal')).toBe(before);
  });

  it('reports a fauxqs port in use and stops the process it started', async () => {
    const port = Number(new URL(sharedEmulators().sqsEndpoint).port);
    const before = processesMatching('fauxqs-server.mjs');

    await expect(startFauxqs({ port })).rejects.toThrow(
      `fauxqs could not listen on 127.0.0.1:${port}: the port is in use`,
    );
    expect(processesMatching('fauxqs-server.mjs')).toBe(before);
  });

  it('starts and stops a fauxqs of its own on a free port', async () => {
    const fauxqs = await startFauxqs();

    expect(fauxqs.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await fauxqs.stop();
    expect(() => process.kill(fauxqs.pid, 0)).toThrow();
  });

  it('fails a local stack whose HTTP port is taken before starting any emulator', async () => {
    const port = Number(new URL(sharedEmulators().sqsEndpoint).port);
    const before = processesMatching('LoopbackDynamoDbLocal') + processesMatching('fauxqs-server.mjs');

    await expect(startLocalStack({ port, template: { Resources: {} } })).rejects.toThrow(
      `127.0.0.1:${port}: the port is in use`,
    );
    expect(processesMatching('LoopbackDynamoDbLocal') + processesMatching('fauxqs-server.mjs')).toBe(before);
  });
});
