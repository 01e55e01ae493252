import { Logger, LogLevelThreshold } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { readConfig } from '../../platform/config';
import { type ContextWithSecrets, loadSecrets } from '../../platform/secrets';
import { createApi } from '../create-api';
import { apiDependencies } from '../dependencies';
import { API_FUNCTION_VARIABLES } from '../function-variables';

/** The HTTP API function: API Gateway (HTTP API, payload v2) in AWS, the local gateway in `npm start`. */
const logger = new Logger();
const secretBindings = {
  adminApiKey: 'ADMIN_API_KEY_SECRET_ARN',
  manageLinkKey: 'MANAGE_LINK_KEY_SECRET_ARN',
} as const;
const config = readConfig(API_FUNCTION_VARIABLES, process.env);
const api = createApi(apiDependencies(config, logger), logger);

export const handler = middy<APIGatewayProxyEventV2>()
  .use(injectLambdaContext(logger))
  .use(loadSecrets(secretBindings))
  .handler(async (event, context) => {
    const { adminApiKey, manageLinkKey } = context as ContextWithSecrets<typeof secretBindings>;
    const result = await api(event, { adminApiKey, manageLinkKey });
    // Every request is in the HTTP API's access log already; the function logs only what that log cannot tell:
    // client mistakes at debug (they are common and cheap to repeat), server errors inside createApi at error.
    // Asked only at debug level (this invocation's, sampling included): below it Powertools would still read the
    // trace id from the environment and check its buffer for a line it then drops, on every request.
    if (logger.level <= LogLevelThreshold.DEBUG) {
      logger.debug('request', {
        method: event.requestContext.http.method,
        path: event.rawPath,
        status: result.statusCode,
      });
    }
    return result;
  });
