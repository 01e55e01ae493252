import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

export interface LocalFunctionProps {
  readonly logicalId: string;
  /** The function name (also `AWS_LAMBDA_FUNCTION_NAME`). */
  readonly name: string;
  readonly arn: string;
  /** The handler file relative to the repository root, as in the template metadata. */
  readonly entry: string;
  readonly bundlePath: string;
  readonly handlerName: string;
  readonly timeoutMs: number;
  readonly memorySize: number;
  /** At most this many invocations run at once (execution environments); more wait for one to be free. */
  readonly concurrency: number;
  /** The whole environment of the function: nothing of this process's environment leaks in. */
  readonly environment: Readonly<Record<string, string>>;
  /** Told of every failed invocation (Lambda would log it to CloudWatch). */
  readonly onInvocationError?: (error: FunctionError) => void;
  /** Receives what the function writes to stdout and stderr. @default - this process's stdout and stderr */
  readonly onOutput?: (chunk: string) => void;
}

/** The function threw, or its execution environment crashed. */
export class FunctionError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly remoteStack?: string,
  ) {
    super(message);
    this.name = 'FunctionError';
  }
}

/** The function ran past its timeout; its execution environment was destroyed. */
export class FunctionTimeoutError extends FunctionError {
  constructor(timeoutMs: number) {
    super('Sandbox.Timedout', `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
    this.name = 'FunctionTimeoutError';
  }
}

type WorkerReply = { requestId: string; durationMs?: number } & (
  | { result: string }
  | { error: { errorType: string; errorMessage: string; stack?: string } }
);

/**
 * What Lambda would bill for a function's invocations so far: how many ran, and how long their handlers took
 * (measured in the execution environment; a timed-out or crashed invocation counts its time until then). Waiting
 * for a free environment is not included, nor the init phase of a new one.
 */
export interface InvocationStats {
  readonly invocations: number;
  readonly durationMs: number;
  /** Each invocation's duration rounded up to the millisecond, as Lambda bills it. */
  readonly billedDurationMs: number;
}

const WORKER_SCRIPT = path.join(__dirname, 'lambda-worker.cjs');

/**
 * A Lambda function run locally: a pool of execution environments (worker threads, each with its own
 * environment variables and module state), one invocation per environment at a time, created lazily and reused
 * warm. An invocation that outlives the function's timeout has its environment terminated, as Lambda does.
 */
export class LocalFunction {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly waiting: (() => void)[] = [];
  private inFlight = 0;
  private stopped = false;
  private readonly counted = { invocations: 0, durationMs: 0, billedDurationMs: 0 };

  constructor(readonly props: LocalFunctionProps) {}

  /** Invocations and their durations since the function was created (the bench prices them). */
  stats(): InvocationStats {
    return { ...this.counted };
  }

  /** Invokes the handler with `event` and resolves with its (JSON-serialized and parsed) result. */
  async invoke(event: unknown): Promise<unknown> {
    if (this.stopped) throw new FunctionError('Local.Stopped', `${this.props.name} has been stopped`);
    await this.acquireSlot();
    try {
      // It may have stopped while this invocation waited for a free environment.
      if (this.stopped) throw new FunctionError('Local.Stopped', `${this.props.name} has been stopped`);
      return await this.runOnWorker(event);
    } catch (error) {
      this.props.onInvocationError?.(error as FunctionError);
      throw error;
    } finally {
      this.releaseSlot();
    }
  }

  /**
   * Lets in-flight invocations finish (up to `graceMs`), then destroys every execution environment.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    const deadline = Date.now() + graceMs;
    while (this.inFlight > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.all([...this.all].map((worker) => worker.terminate()));
    this.all.clear();
    this.idle.length = 0;
  }

  private async acquireSlot(): Promise<void> {
    while (this.inFlight >= this.props.concurrency)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight += 1;
  }

  private releaseSlot(): void {
    this.inFlight -= 1;
    this.waiting.shift()?.();
  }

  private runOnWorker(event: unknown): Promise<unknown> {
    const worker = this.idle.pop() ?? this.createWorker();
    const requestId = randomUUID();
    const deadline = Date.now() + this.props.timeoutMs;
    const posted = performance.now();
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (durationMs = performance.now() - posted): boolean => {
        if (settled) return false;
        settled = true;
        this.count(durationMs);
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onCrash);
        worker.off('exit', onCrash);
        return true;
      };
      const onMessage = (reply: WorkerReply) => {
        if (reply.requestId !== requestId || !settle(reply.durationMs)) return;
        if (this.stopped) this.discard(worker);
        else this.idle.push(worker);
        if ('error' in reply) {
          const { errorType, errorMessage, stack } = reply.error;
          reject(new FunctionError(errorType, errorMessage, stack));
        } else {
          resolve(JSON.parse(reply.result));
        }
      };
      // An error thrown at init, an unhandled rejection or process.exit() ends the environment.
      const onCrash = (error: unknown) => {
        if (!settle()) return;
        this.discard(worker);
        const message = error instanceof Error ? error.message : `exited with code ${String(error)}`;
        reject(
          new FunctionError('Runtime.ExitError', message, error instanceof Error ? error.stack : undefined),
        );
      };
      const timer = setTimeout(() => {
        if (!settle(this.props.timeoutMs)) return;
        // The invocation ends (and its slot is freed) only once the environment is gone, so nothing of it
        // runs on beyond the limit.
        this.all.delete(worker);
        void worker.terminate().finally(() => reject(new FunctionTimeoutError(this.props.timeoutMs)));
      }, this.props.timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onCrash);
      worker.on('exit', onCrash);
      worker.postMessage({ requestId, event, deadline });
    });
  }

  private createWorker(): Worker {
    const { props } = this;
    const worker = new Worker(WORKER_SCRIPT, {
      env: { ...props.environment },
      workerData: {
        bundlePath: props.bundlePath,
        entry: props.entry,
        handlerName: props.handlerName,
        functionName: props.name,
        functionArn: props.arn,
        memorySize: props.memorySize,
      },
      // The function's memory as the heap limit, so a handler that needs more fails here before it fails in AWS.
      resourceLimits: { maxOldGenerationSizeMb: props.memorySize },
      // Not this process's flags: the bundle is plain JavaScript, and a loader this process runs under (tsx, jest)
      // would hook every environment's module loading (about a second of CPU at each cold start), as Lambda's
      // runtime does not.
      execArgv: [],
      stdout: props.onOutput !== undefined,
      stderr: props.onOutput !== undefined,
    });
    if (props.onOutput) {
      const forward = props.onOutput;
      worker.stdout.on('data', (chunk: Buffer) => forward(chunk.toString('utf8')));
      worker.stderr.on('data', (chunk: Buffer) => forward(chunk.toString('utf8')));
    }
    this.all.add(worker);
    // An environment may also die between invocations (a stray timer that throws): forget it then.
    const forget = () => {
      this.all.delete(worker);
      const index = this.idle.indexOf(worker);
      if (index >= 0) this.idle.splice(index, 1);
    };
    worker.on('error', forget);
    worker.on('exit', forget);
    return worker;
  }

  private count(durationMs: number): void {
    this.counted.invocations += 1;
    this.counted.durationMs += durationMs;
    this.counted.billedDurationMs += Math.max(1, Math.ceil(durationMs));
  }

  private discard(worker: Worker): void {
    this.all.delete(worker);
    void worker.terminate();
  }
}
