// One Lambda execution environment: loads a bundled handler once (the "init" phase), then runs one invocation
// at a time as the pool sends them. Plain CommonJS, because worker_threads loads it without any transpiler.
const { parentPort, workerData } = require('node:worker_threads');

process.setSourceMapsEnabled(true);
const handler = require(workerData.bundlePath)[workerData.handlerName];
if (typeof handler !== 'function') {
  throw new Error(`${workerData.entry} does not export a function named "${workerData.handlerName}"`);
}

parentPort.on('message', async ({ requestId, event, deadline }) => {
  const context = {
    awsRequestId: requestId,
    functionName: workerData.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: workerData.functionArn,
    memoryLimitInMB: String(workerData.memorySize),
    logGroupName: `/aws/lambda/${workerData.functionName}`,
    logStreamName: `local/${workerData.functionName}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  // The handler's own time, as Lambda bills it (the parent adds it up: LocalFunction.stats).
  const started = performance.now();
  try {
    const result = await handler(event, context);
    // Lambda returns the JSON serialization of the result (undefined becomes null).
    parentPort.postMessage({
      requestId,
      durationMs: performance.now() - started,
      result: JSON.stringify(result ?? null),
    });
  } catch (error) {
    parentPort.postMessage({
      requestId,
      durationMs: performance.now() - started,
      error: {
        errorType: error?.name ?? 'Error',
        errorMessage: String(error?.message ?? error),
        stack: typeof error?.stack === 'string' ? error.stack : undefined,
      },
    });
  }
});
