import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * Metrics as CloudWatch embedded metric format (EMF) log lines: no API call on the hot path. One instance per
 * execution environment; namespace and service come from POWERTOOLS_METRICS_NAMESPACE / POWERTOOLS_SERVICE_NAME.
 */
export const metrics = new Metrics();

/**
 * Publishes one count at once, through the environment's instance: the line also carries any metric the invocation
 * stored before it (published now instead of at its end). Cheaper than `metrics.singleMetric()` on a hot path: that
 * builds a new Metrics (environment parsed, a Console created) per call. Dimensions are the instance's defaults.
 */
export function publishCount(name: string, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
  metrics.publishStoredMetrics();
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
