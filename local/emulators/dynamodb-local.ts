import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { localClientConfig } from '../aws-clients';
import {
  EmulatorStartError,
  type ManagedChild,
  type RunningEmulator,
  spawnManaged,
  waitUntilReady,
} from './managed-child';

export interface DynamoDbLocalOptions {
  /**
   * Port on 127.0.0.1.
   * @default 0 - a free port chosen by the OS
   */
  readonly port?: number;
  /**
   * Hold tables and indexes in their transient states (`CREATING`) for a while, as AWS does.
   * @default false
   */
  readonly delayTransientStatuses?: boolean;
  /**
   * The `java` executable.
   * @default `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from the PATH
   */
  readonly javaPath?: string;
  /**
   * How long to wait for the first answer to `ListTables`.
   * @default 30000
   */
  readonly startTimeoutMs?: number;
}

const MINIMUM_JAVA_MAJOR = 17;
const INSTALL_HINT = 'install a JDK: apt-get install openjdk-17-jdk-headless (or set JAVA_HOME)';
const PORT_LINE = /LOOPBACK_DYNAMODB_LOCAL_PORT=(\d+)/;

/**
 * Starts the official DynamoDB Local jar (shipped in `amplify-dynamodb-simulator`) in memory, bound to 127.0.0.1,
 * and resolves once it answers `ListTables`. On any failure the process is gone before the error is thrown.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<RunningEmulator> {
  const java = options.javaPath ?? defaultJavaPath();

  const emulatorDir = path.join(
    path.dirname(require.resolve('amplify-dynamodb-simulator/package.json')),
    'emulator',
  );
  const requestedPort = options.port ?? 0;
  const args = [
    `-Djava.library.path=${path.join(emulatorDir, 'DynamoDBLocal_lib')}`,
    '-XX:TieredStopAtLevel=1',
    '-cp',
    path.join(emulatorDir, 'DynamoDBLocal.jar'),
    path.join(__dirname, 'LoopbackDynamoDbLocal.java'),
    '-inMemory',
    '-port',
    String(requestedPort),
    // One database for every credential and region, so that the functions, the tests and a developer's
    // AWS CLI all see the same tables; telemetry off, since the machine may be offline.
    '-sharedDb',
    '-disableTelemetry',
    ...(options.delayTransientStatuses ? ['-delayTransientStatuses'] : []),
  ];
  let child: ManagedChild;
  try {
    // stdin stays open as a lifeline: the launcher exits when it closes (see exitWhenParentGoes).
    child = await spawnManaged(java, args, { cwd: emulatorDir, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    const cause = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'was not found' : `failed: ${error}`;
    throw new EmulatorStartError(
      `DynamoDB Local needs Java ${MINIMUM_JAVA_MAJOR}+, but "${java}" ${cause}: ${INSTALL_HINT}.`,
    );
  }

  try {
    // The launcher prints the port it bound (the OS picks one for port 0); then the server must answer.
    let port = 0;
    let client: DynamoDBClient | undefined;
    const deadlineMs = options.startTimeoutMs ?? 30_000;
    const outcome = await waitUntilReady(
      child,
      async () => {
        if (!client) {
          port = Number(PORT_LINE.exec(child.outputTail(1000))?.[1] ?? 0);
          if (port === 0) return false;
          client = new DynamoDBClient(localClientConfig(`http://127.0.0.1:${port}`));
        }
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2000) });
        return true;
      },
      { deadlineMs },
    ).finally(() => client?.destroy());
    if (outcome !== 'ready') throw await startFailure(child, java, outcome, requestedPort, deadlineMs);
    return {
      endpoint: `http://127.0.0.1:${port}`,
      port,
      pid: child.pid,
      stop: () => child.stop(),
    };
  } catch (error) {
    await child.stop(1000);
    throw error;
  }
}

function defaultJavaPath(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

async function javaVersionProblem(java: string): Promise<string | undefined> {
  let versionText: string;
  try {
    const { stderr, stdout } = await promisify(execFile)(java, ['-version'], { timeout: 15_000 });
    versionText = `${stderr}${stdout}`;
  } catch (error) {
    return `DynamoDB Local needs Java ${MINIMUM_JAVA_MAJOR}+, but "${java} -version" failed (${error}): ${INSTALL_HINT}.`;
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionText);
  // Java 8 and older report "1.8.0_x".
  const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : Number.NaN;
  if (major >= MINIMUM_JAVA_MAJOR) return undefined;
  const found = versionText.split('\n')[0]?.trim() || 'an unknown version';
  return `DynamoDB Local needs Java ${MINIMUM_JAVA_MAJOR}+, but "${java}" is ${found}: ${INSTALL_HINT}.`;
}

/** Why it did not start. The Java version is only looked at then, so that a good start costs no extra JVM. */
async function startFailure(
  child: ManagedChild,
  java: string,
  outcome: 'exited' | 'timeout',
  port: number,
  deadlineMs: number,
): Promise<EmulatorStartError> {
  const output = child.outputTail(1000);
  if (/BindException|Failed to bind|Address already in use/.test(output)) {
    return new EmulatorStartError(
      `DynamoDB Local could not listen on 127.0.0.1:${port}: the port is in use. Choose another port, or none to get a free one.`,
    );
  }
  const versionProblem = await javaVersionProblem(java);
  if (versionProblem) return new EmulatorStartError(versionProblem);
  if (/module jdk\.compiler|Could not find or load main class LoopbackDynamoDbLocal/.test(output)) {
    return new EmulatorStartError(
      `DynamoDB Local's loopback launcher is a Java source file and needs a full JDK, not only a JRE: ${INSTALL_HINT}.\n${child.outputTail()}`,
    );
  }
  const what =
    outcome === 'timeout' ? `did not answer within ${deadlineMs / 1000} s` : 'exited before it answered';
  return new EmulatorStartError(`DynamoDB Local ${what}. Its last output:\n${child.outputTail()}`);
}
