/** Something that invokes a function on its own: an event source mapping, a schedule. */
export interface EventSource {
  /** For the start-up summary, e.g. `orders-queue → fanout`. */
  readonly description: string;
  /** Stops polling or firing; resolves once the invocations it started have ended. */
  stop(): Promise<void>;
}
