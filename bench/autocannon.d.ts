/**
 * The part of autocannon 9's programmatic API that bench/spike.ts uses (the package ships no types, and
 * `@types/autocannon` is not a dependency).
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    /** What autocannon keeps between a request's `setupRequest` and its `onResponse` (one per connection). */
    type RequestContext = Record<string, unknown>;

    interface Request {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      /** Called before each request is sent; returns the request to send. */
      setupRequest?: (request: Request, context: RequestContext) => Request;
      /** Called with each response, before the next request of the same connection is set up. */
      onResponse?: (
        status: number,
        body: string,
        context: RequestContext,
        headers: Record<string, string | string[]>,
      ) => void;
    }

    interface Options {
      url: string;
      /** Concurrent connections (one request in flight each without pipelining). @default 10 */
      connections?: number;
      /** Total requests; the run ends when every one is answered (or timed out). */
      amount?: number;
      /** Seconds, when no `amount` is given. @default 10 */
      duration?: number;
      /** Requests per second over all connections, each connection sending its share at the start of a second. */
      overallRate?: number;
      /** Seconds before a request counts as timed out. @default 10 */
      timeout?: number;
      pipelining?: number;
      /** Milliseconds between samples (and between the last answer and the end of the run). @default 1000 */
      sampleInt?: number;
      method?: string;
      headers?: Record<string, string>;
      requests?: Request[];
      ignoreCoordinatedOmission?: boolean;
    }

    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      p50: number;
      p90: number;
      p99: number;
    }

    interface Result {
      latency: Histogram;
      requests: Histogram;
      errors: number;
      timeouts: number;
      non2xx: number;
      '2xx': number;
      '4xx': number;
      '5xx': number;
      statusCodeStats: Record<string, { count: number }>;
      totalRequests: number;
      totalCompletedRequests: number;
      /** Seconds. */
      duration: number;
      start: Date;
      finish: Date;
    }

    /**
     * One connection, as the instance's `response` event passes it. `reqsMade` and `responseMax` are internals of
     * autocannon 9's client: a connection whose `reqsMade` has reached `responseMax` closes instead of sending its
     * next request (how `amount` ends a run).
     */
    interface Client {
      reqsMade: number;
      responseMax: number;
    }

    interface Instance extends EventEmitter {
      stop(): void;
    }
  }

  function autocannon(
    options: autocannon.Options,
    callback: (error: Error | null, result: autocannon.Result) => void,
  ): autocannon.Instance;

  export = autocannon;
}
