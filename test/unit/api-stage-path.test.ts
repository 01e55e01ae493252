import { createApi, withoutStage } from '../../lambdas/api/create-api';
import { apiEvent } from './support/api-events';
import { ADMIN_KEY, webhookDependencies } from './support/in-memory-api';
import { silentLogger } from './support/logger';

/** An event as API Gateway delivers it from a stage: the raw path starts with the stage's name. */
function staged(stage: string, rawPath: string) {
  const event = apiEvent('GET', rawPath);
  return { ...event, requestContext: { ...event.requestContext, stage } };
}

describe('the stage base path', () => {
  it.each([
    ['/prod/health', 'prod', '/health'],
    ['/prod/v1/admin/queues', 'prod', '/v1/admin/queues'],
    ['/prod', 'prod', '/'],
    ['/prod/', 'prod', '/'],
    // Only a whole leading segment that is the stage's name.
    ['/production/health', 'prod', '/production/health'],
    ['/v1/prod/health', 'prod', '/v1/prod/health'],
    ['/health', 'prod', '/health'],
    // The default stage has no base path; a path that merely looks like one is kept.
    ['/$default/health', '$default', '/$default/health'],
    ['/health', '$default', '/health'],
    ['/health', '', '/health'],
    ['/health', undefined, '/health'],
  ])('%s from stage %s is routed as %s', (rawPath, stage, expected) => {
    expect(withoutStage(rawPath, stage)).toBe(expected);
  });

  it('serves the routes behind a named stage as on $default', async () => {
    const api = createApi(webhookDependencies(), silentLogger);
    const secrets = { adminApiKey: ADMIN_KEY };
    const health = await api(staged('v1-stage', '/v1-stage/health'), secrets);
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(String(health.body))).toEqual({ status: 'ok' });
    const unknown = await api(staged('v1-stage', '/other/health'), secrets);
    expect(unknown.statusCode).toBe(404);
    // The problem names the path as the client sent it to the routes, without the stage.
    const missing = await api(staged('prod', '/prod/nowhere'), secrets);
    expect(missing.statusCode).toBe(404);
    expect(JSON.parse(String(missing.body)).detail).toContain('GET /nowhere');
  });
});
