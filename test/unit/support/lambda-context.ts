import type { Context } from 'aws-lambda';

/**
 * A Lambda invocation context as the runtime hands it to a handler: `functionName`, request id 'req-1' and
 * `remainingTimeMs` left (30 s unless told) that stays put (the clock does not run down).
 */
export function fakeLambdaContext(
  options: { functionName?: string; remainingTimeMs?: number } = {},
): Context {
  const functionName = options.functionName ?? 'test';
  const remainingTimeMs = options.remainingTimeMs ?? 30_000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: 'req-1',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2024/01/01/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => remainingTimeMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
