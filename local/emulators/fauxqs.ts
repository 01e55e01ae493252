import * as path from 'node:path';
import { EmulatorStartError, type ManagedChild, type RunningEmulator, spawnManaged } from './managed-child';

export interface FauxqsOptions {
  /**
   * Port on 127.0.0.1.
   * @default 0 - a free port chosen by the OS
   */
  readonly port?: number;
  /**
   * How long to wait for the server to listen.
   * @default 30000
   */
  readonly startTimeoutMs?: number;
}

type ServerMessage = { ready: true; port: number } | { error: { code?: string; message: string } };

/**
 * Starts fauxqs (SQS and S3) in a child Node process on 127.0.0.1. A child process rather than in-process: the
 * emulator's timers and sockets then cannot keep a test worker or the CLI alive, and an `npm start` that is killed
 * takes it down with it (the child exits when its IPC channel closes).
 */
export async function startFauxqs(options: FauxqsOptions = {}): Promise<RunningEmulator> {
  const requestedPort = options.port ?? 0;
  const deadlineMs = options.startTimeoutMs ?? 30_000;
  const child = await spawnManaged(
    process.execPath,
    [path.join(__dirname, 'fauxqs-server.mjs'), String(requestedPort)],
    { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: path.join(__dirname, '..', '..') },
  );
  try {
    const message = await firstMessage(child, deadlineMs);
    if ('error' in message) {
      if (message.error.code === 'EADDRINUSE') {
        throw new EmulatorStartError(
          `fauxqs could not listen on 127.0.0.1:${requestedPort}: the port is in use. Choose another port, or none to get a free one.`,
        );
      }
      throw new EmulatorStartError(`fauxqs failed to start: ${message.error.message}\n${child.outputTail()}`);
    }
    // The IPC channel stays open (it is how the child notices that this process is gone) but must not keep
    // this process alive.
    child.process.channel?.unref();
    return {
      endpoint: `http://127.0.0.1:${message.port}`,
      port: message.port,
      pid: child.pid,
      stop: () => child.stop(),
    };
  } catch (error) {
    await child.stop(1000);
    throw error;
  }
}

function firstMessage(child: ManagedChild, deadlineMs: number): Promise<ServerMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new EmulatorStartError(
            `fauxqs did not start within ${deadlineMs / 1000} s:\n${child.outputTail()}`,
          ),
        ),
      deadlineMs,
    );
    child.process.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as ServerMessage);
    });
    void child.exited.then((how) => {
      clearTimeout(timer);
      reject(new EmulatorStartError(`fauxqs exited (${how}) before it was ready:\n${child.outputTail()}`));
    });
  });
}
