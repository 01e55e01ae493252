import type { ConfigOf } from '../../platform/config';
import type { RunSettings } from '../domain/runs/settings';

/** The run function's tuning variables (PipelineStack props; not part of the public contract), parsed. */
export type RunTuning = ConfigOf<
  | 'RUN_LEASE_SECONDS'
  | 'RUN_DEADLINE_MINUTES'
  | 'RUN_PAGE_SIZE'
  | 'RUN_STALL_SWEEP_SECONDS'
  | 'RUN_SWEEP_INTERVAL_SECONDS'
  | 'RUN_POLL_SECONDS'
  | 'RUN_STEP_MARGIN_MS'
>;

/** The run's tuning, in the units the domain uses. */
export interface RunFunctionSettings {
  readonly run: RunSettings;
  /** Delay of a run's continuation while it waits for its charges. */
  readonly pollSeconds: number;
  /** Time kept back from a step for its checkpoint and continuation. */
  readonly stepMarginMs: number;
}

export function runFunctionSettings(config: RunTuning): RunFunctionSettings {
  return {
    run: {
      leaseMs: config.RUN_LEASE_SECONDS * 1000,
      deadlineMs: config.RUN_DEADLINE_MINUTES * 60_000,
      pageSize: config.RUN_PAGE_SIZE,
      stallSweepMs: config.RUN_STALL_SWEEP_SECONDS * 1000,
      sweepIntervalMs: config.RUN_SWEEP_INTERVAL_SECONDS * 1000,
    },
    pollSeconds: config.RUN_POLL_SECONDS,
    stepMarginMs: config.RUN_STEP_MARGIN_MS,
  };
}
