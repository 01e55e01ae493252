import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricResolution, MetricUnit as MetricUnitName } from '@aws-lambda-powertools/metrics/types';

/**
 * Metrics as CloudWatch embedded metric format (EMF) log lines: no API call on the hot path. One instance per
 * execution environment; namespace and service come from POWERTOOLS_METRICS_NAMESPACE / POWERTOOLS_SERVICE_NAME.
 */
class PipelineMetrics extends Metrics {
  /** Per metric name: the EMF line of one count, split around its timestamp and its value. */
  private readonly countLines = new Map<string, readonly [string, string, string]>();
  /**
   * Whether anything ever stored a metric on this instance. Until then nothing can be stored, and publishCount
   * skips asking (each ask reads the environment, through Powertools' invocation-scoped stores).
   */
  private everStored = false;

  override addMetric(name: string, unit: MetricUnitName, value: number, resolution?: MetricResolution): this {
    this.everStored = true;
    return super.addMetric(name, unit, value, resolution);
  }

  /**
   * One count as an EMF line of its own, at once. When the invocation has stored metrics, they go out on the same
   * line (Powertools' `publishStoredMetrics`). Otherwise the line is the one Powertools would write for that lone
   * count, built from a template Powertools serialized once per metric name (namespace and default dimensions are
   * the instance's, fixed at cold start; nothing in lambdas/ changes them later): serializing, collision checks and
   * clearing the invocation's stores cost about 40 µs per request on the API's hot path, the template a few.
   */
  publishCount(name: string, value: number): void {
    if (this.everStored && this.hasStoredMetrics()) {
      this.addMetric(name, MetricUnit.Count, value);
      this.publishStoredMetrics();
      return;
    }
    if (this.isDisabled()) return;
    let line = this.countLines.get(name);
    if (!line) {
      line = this.countLineTemplate(name);
      this.countLines.set(name, line);
    }
    // What Powertools' console.log(JSON.stringify(...)) writes: the line and a newline, on stdout.
    process.stdout.write(`${line[0]}${Date.now()}${line[1]}${JSON.stringify(value)}${line[2]}\n`);
  }

  private countLineTemplate(name: string): readonly [string, string, string] {
    // Stored and cleared at once, before anything else is stored: not counted in everStored.
    super.addMetric(name, MetricUnit.Count, 0);
    let document: ReturnType<Metrics['serializeMetrics']>;
    try {
      document = this.serializeMetrics();
    } finally {
      this.clearMetrics();
    }
    const text = JSON.stringify({
      ...document,
      _aws: { ...document._aws, Timestamp: TIMESTAMP_MARK },
      [name]: VALUE_MARK,
    });
    const [head = '', rest = ''] = text.split(JSON.stringify(TIMESTAMP_MARK));
    const [middle = '', tail = ''] = rest.split(JSON.stringify(VALUE_MARK));
    return [head, middle, tail];
  }
}

const TIMESTAMP_MARK = '\u0000timestamp\u0000';
const VALUE_MARK = '\u0000value\u0000';

export const metrics: Metrics = new PipelineMetrics();

/**
 * Publishes one count at once, through the environment's instance: the line also carries any metric the invocation
 * stored before it (published now instead of at its end). Cheaper than `metrics.singleMetric()` on a hot path: that
 * builds a new Metrics (environment parsed, a Console created) per call. Dimensions are the instance's defaults.
 */
export function publishCount(name: string, value = 1): void {
  (metrics as PipelineMetrics).publishCount(name, value);
}

/**
 * Reported by the index gate every time a read meets an index that is not ready, so a build in progress is
 * visible (and alarmable) while it happens. Published at once, with its own dimensions.
 */
export function reportIndexNotReady(table: string, index: string, status: string): void {
  const metric = metrics.singleMetric();
  metric.addDimensions({ TableName: table, GlobalSecondaryIndexName: index, IndexStatus: status });
  metric.addMetric('IndexNotReady', MetricUnit.Count, 1);
}
