/** The attempt log: one item per delivery attempt (CONTRACT.md `GET /v1/webhooks/{id}/attempts`). */
export interface DeliveryAttempt {
  readonly endpointId: string;
  readonly eventId: string;
  /** Set on attempts made by a replay (refeed): they are a new delivery of the same event. */
  readonly replayId?: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly status: 'succeeded' | 'failed';
  readonly responseStatus?: number;
  readonly durationMs: number;
  /** Why it failed, for people: `timeout`, `connection refused`, `HTTP 500`, `redirect not followed`, ... */
  readonly error?: string;
  /** ISO time the attempt started. */
  readonly at: string;
}

/** Port: the attempts table. */
export interface AttemptsRepository {
  record(attempt: DeliveryAttempt): Promise<void>;
  /** Whether a delivery of (endpoint, event, replay) already succeeded: strongly consistent. */
  hasSucceeded(endpointId: string, eventId: string, replayId?: string): Promise<boolean>;
  /** Newest event first; the attempts of one event newest first. */
  list(endpointId: string, limit: number): Promise<DeliveryAttempt[]>;
}
