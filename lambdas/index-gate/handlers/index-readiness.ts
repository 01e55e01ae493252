import { Logger } from '@aws-lambda-powertools/logger';
import { documentClient } from '../../platform/dynamodb';
import { DynamoIndexDescriber } from '../adapters/gated-index-query';
import { createIndexReadinessHandlers } from '../adapters/index-readiness-resource';

/**
 * The Custom::IndexReadiness resource's two handlers (lib/constructs/index-readiness.ts), run by the CDK Provider
 * framework; what they do is in adapters/index-readiness-resource.ts.
 */
const handlers = createIndexReadinessHandlers(new DynamoIndexDescriber(documentClient()), new Logger());

export const onEvent = handlers.onEvent;
export const isComplete = handlers.isComplete;
