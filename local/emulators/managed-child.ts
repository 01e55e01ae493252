import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

/** Raised when an emulator does not start; the message names the cause and what to do. */
export class EmulatorStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmulatorStartError';
  }
}

/** What an emulator launcher returns. */
export interface RunningEmulator {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Stops the process; resolves once it is gone. */
  stop(): Promise<void>;
}

/** A child process that is never left behind: stopped on `stop()` and, at the latest, when this process exits. */
export interface ManagedChild {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<string>;
  /** The last lines the process wrote to stdout and stderr, for error messages. */
  outputTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_TAIL_LIMIT = 64 * 1024;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Spawns `command` and resolves once it has started (rejects on spawn errors such as ENOENT, with the process
 * already gone). The caller decides when it is ready.
 */
export async function spawnManaged(command: string, args: readonly string[], options: SpawnOptions = {}) {
  installExitHook();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    });
    // A process that failed to spawn emits 'error' and never 'exit'.
    child.once('error', () => {
      running.delete(child);
      resolve('spawn error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  running.add(child);
  const managed: ManagedChild = {
    process: child,
    pid: child.pid as number,
    exited,
    outputTail: (lines = 15) => output.trimEnd().split('\n').slice(-lines).join('\n'),
    stop: async (graceMs = 5000) => {
      if (!running.has(child)) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return managed;
}

/** Polls `check` every `intervalMs` until it resolves true, the child exits, or the deadline passes. */
export async function waitUntilReady(
  child: ManagedChild,
  check: () => Promise<boolean>,
  options: { deadlineMs: number; intervalMs?: number },
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + options.deadlineMs;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) return 'exited';
    if (await check().catch(() => false)) return 'ready';
    if (exited) return 'exited';
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
  return 'timeout';
}

/**
 * Children die with this process: on a normal exit, an uncaught error, or `process.exit()`. (A SIGKILL of this
 * process cannot be caught; the fauxqs child also watches its IPC channel for that case.)
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
