import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { replayDependencies } from '../adapters/replay-dependencies';
import { replayMessage } from '../domain/replay';
import { REPLAY_FUNCTION_VARIABLES } from '../function-variables';

/**
 * Replays (refeeds): one ReplaysQueue message per `POST /v1/webhooks/{id}/replay`, turned into one delivery
 * message per event of the window. A job that fails is reported and retried whole, which is safe (see replay.ts).
 */
const logger = new Logger();
const deps = replayDependencies(readConfig(REPLAY_FUNCTION_VARIABLES, process.env), logger);
const processor = new BatchProcessor(EventType.SQS);
const replay = (record: SQSRecord) => replayMessage(record.body, deps);

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => processPartialResponse(event, replay, processor, { context }));
