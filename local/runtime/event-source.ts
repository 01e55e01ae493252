/** Something that invokes a function on its own: an event source mapping, a schedule. */
export interface EventSource {
  /** For the start-up summary, e.g. `orders-queue → fanout`. */
  readonly description: string;
  /** Stops polling or firing; resolves once the invocations it started have ended. */
  stop(): Promise<void>;
  /**
   * Stops invoking until `resume`, as disabling a mapping or a schedule in AWS would: what arrives meanwhile
   * waits in its queue or stream (an outage of a consumer, in tests). Resolves once the invocations it had
   * started have ended.
   */
  pause(): Promise<void>;
  /** Invokes again; a queue or stream picks up what waited. */
  resume(): void;
}
