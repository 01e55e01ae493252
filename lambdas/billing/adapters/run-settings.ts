import { DEFAULT_RUN_SETTINGS, type RunSettings } from '../domain/runs';

/**
 * The run's tuning, from the deployment's environment (PipelineStack props; not part of the public contract).
 * A value that does not parse is a deployment bug: fail at cold start, naming it.
 */
export interface RunFunctionSettings {
  readonly run: RunSettings;
  /** Delay of a run's continuation while it waits for its charges. */
  readonly pollSeconds: number;
  /** Time kept back from a step for its checkpoint and continuation. */
  readonly stepMarginMs: number;
}

export function runSettingsFromEnv(env: NodeJS.ProcessEnv): RunFunctionSettings {
  const number = (name: string, fallback: number, min: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min) {
      throw new Error(`${name} must be a number of at least ${min}, got "${text}".`);
    }
    return value;
  };
  return {
    run: {
      leaseMs: number('RUN_LEASE_SECONDS', DEFAULT_RUN_SETTINGS.leaseMs / 1000, 1) * 1000,
      deadlineMs: number('RUN_DEADLINE_MINUTES', DEFAULT_RUN_SETTINGS.deadlineMs / 60_000, 1) * 60_000,
      pageSize: number('RUN_PAGE_SIZE', DEFAULT_RUN_SETTINGS.pageSize, 1),
      stallSweepMs: number('RUN_STALL_SWEEP_SECONDS', DEFAULT_RUN_SETTINGS.stallSweepMs / 1000, 1) * 1000,
      sweepIntervalMs:
        number('RUN_SWEEP_INTERVAL_SECONDS', DEFAULT_RUN_SETTINGS.sweepIntervalMs / 1000, 0) * 1000,
    },
    pollSeconds: number('RUN_POLL_SECONDS', 5, 0),
    stepMarginMs: number('RUN_STEP_MARGIN_MS', 10_000, 0),
  };
}
