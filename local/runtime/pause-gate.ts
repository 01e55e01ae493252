/**
 * The pause switch of an event source: pollers wait at the gate before they invoke, and `pause` resolves once
 * the invocations that had already passed it have ended.
 */
export class PauseGate {
  private paused = false;
  private reopened: Promise<void> = Promise.resolve();
  private reopen: () => void = () => undefined;
  private readonly inFlight = new Set<Promise<unknown>>();

  get isPaused(): boolean {
    return this.paused;
  }

  pause(): Promise<void> {
    if (!this.paused) {
      this.paused = true;
      this.reopened = new Promise((resolve) => (this.reopen = resolve));
    }
    return Promise.all(this.inFlight).then(() => undefined);
  }

  resume(): void {
    this.paused = false;
    this.reopen();
  }

  /** Resolves when the gate is open, or at once when `signal` aborts (the source is stopping). */
  async open(signal: AbortSignal): Promise<void> {
    while (this.paused && !signal.aborted) {
      const listener: { onAbort?: () => void } = {};
      const aborted = new Promise<void>((resolve) => {
        listener.onAbort = () => resolve();
        signal.addEventListener('abort', listener.onAbort, { once: true });
      });
      await Promise.race([this.reopened, aborted]);
      if (listener.onAbort) signal.removeEventListener('abort', listener.onAbort);
    }
  }

  /** Counts `invocation` as in flight until it settles, for `pause`. */
  track<T>(invocation: Promise<T>): Promise<T> {
    const settled = invocation.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    return invocation;
  }
}
