export interface RunSettings {
  /** How long a lease lasts without a heartbeat. */
  readonly leaseMs: number;
  /** How long after `asOf` the run should be complete (the missed-deadline alarm). */
  readonly deadlineMs: number;
  /** Due subscriptions read per page. */
  readonly pageSize: number;
  /**
   * After this long without a charge being resolved, the run sweeps the due index again and re-sends every charge
   * still owed (one whose message ended in a dead-letter queue, or whose gateway answer never came).
   */
  readonly stallSweepMs: number;
  /** Least time between two sweeps while something is still owed. */
  readonly sweepIntervalMs: number;
}

export const DEFAULT_RUN_SETTINGS: RunSettings = {
  leaseMs: 60_000,
  deadlineMs: 6 * 3_600_000,
  pageSize: 100,
  stallSweepMs: 5 * 60_000,
  sweepIntervalMs: 30_000,
};
