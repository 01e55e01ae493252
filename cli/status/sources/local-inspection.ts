// The reader lives with the API's queue routes (lambdas/operations/): one implementation for both.
export { fauxqsAges } from '../../../lambdas/operations/adapters/fauxqs-ages';
