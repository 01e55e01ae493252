// The readers live with the API's queue routes (lambdas/operations/): one implementation for both.
export { AGE_METRIC_WINDOW_MS, cloudWatchAges } from '../../../lambdas/operations/adapters/cloudwatch-ages';
