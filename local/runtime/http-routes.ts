import type { ResourceMap } from '../resource-map';
import { type CfnTemplate, resourcesOfType } from '../template';
import type { HttpRoute } from './http-gateway';
import type { LocalFunction } from './local-function';

/**
 * The routes of the template's HTTP API (AWS::ApiGatewayV2::Api with ProtocolType HTTP): each
 * AWS::ApiGatewayV2::Route whose target is a Lambda proxy integration of a local function.
 */
export function httpRoutes(
  template: CfnTemplate,
  resources: ResourceMap,
  functions: ReadonlyMap<string, LocalFunction>,
): { apiId: string; routes: HttpRoute[] } {
  const apis = resourcesOfType(template, 'AWS::ApiGatewayV2::Api').filter(
    ([, api]) => api.Properties?.ProtocolType === 'HTTP',
  );
  if (apis.length > 1) throw new Error('The local stack serves one HTTP API; the template has several.');
  const [api] = apis;
  if (!api) return { apiId: 'none', routes: [] };
  const apiId = resources.get(api[0]).ref;
  const belongsToApi = (properties: Readonly<Record<string, unknown>> | undefined) =>
    resources.resolve(properties?.ApiId) === apiId;

  const integrations = new Map<string, LocalFunction>();
  for (const [logicalId, integration] of resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')) {
    if (!belongsToApi(integration.Properties)) continue;
    if (integration.Properties?.IntegrationType !== 'AWS_PROXY') continue;
    if (String(integration.Properties.PayloadFormatVersion ?? '2.0') !== '2.0') {
      throw new Error(`${logicalId}: only payload format 2.0 is supported by the local HTTP API.`);
    }
    // The URI is the function's ARN, or an API Gateway invocation ARN that contains it.
    const uri = resources.resolveString(integration.Properties.IntegrationUri, `${logicalId}.IntegrationUri`);
    const fn = [...functions.values()].find((candidate) => uri.includes(candidate.props.arn));
    if (fn) integrations.set(resources.get(logicalId).ref, fn);
  }

  const routes: HttpRoute[] = [];
  for (const [logicalId, route] of resourcesOfType(template, 'AWS::ApiGatewayV2::Route')) {
    if (!belongsToApi(route.Properties)) continue;
    const target = resources.resolveString(route.Properties?.Target ?? '', `${logicalId}.Target`);
    const fn = integrations.get(target.replace(/^integrations\//, ''));
    if (fn) routes.push({ routeKey: String(route.Properties?.RouteKey), function: fn });
  }
  return { apiId, routes };
}
