import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DynamoIdempotencyStore } from '../adapters/dynamo-idempotency-store';
import { DynamoStoresRepository } from '../adapters/dynamo-stores-repository';
import { documentClient } from '../adapters/dynamodb';
import { requireEnv } from '../adapters/environment';
import { type ContextWithSecrets, loadSecrets } from '../adapters/secrets';
import { createApi } from '../api/create-api';

/** The HTTP API function: API Gateway (HTTP API, payload v2) in AWS, the local gateway in `npm start`. */
const logger = new Logger();
const secretBindings = { adminApiKey: 'ADMIN_API_KEY_SECRET_ARN' } as const;

const api = createApi(
  {
    stores: new DynamoStoresRepository({
      client: documentClient(),
      tableName: requireEnv('STORES_TABLE_NAME'),
    }),
    idempotency: new DynamoIdempotencyStore({
      client: documentClient(),
      tableName: requireEnv('IDEMPOTENCY_TABLE_NAME'),
    }),
  },
  logger,
);

export const handler = middy<APIGatewayProxyEventV2>()
  .use(injectLambdaContext(logger))
  .use(loadSecrets(secretBindings))
  .handler(async (event, context) => {
    const { adminApiKey } = context as ContextWithSecrets<typeof secretBindings>;
    const result = await api(event, { adminApiKey });
    logger.info('request', {
      method: event.requestContext.http.method,
      path: event.rawPath,
      status: result.statusCode,
    });
    return result;
  });
