import { ResourceMap } from '../../local/resource-map';
import {
  DEFAULT_LOCAL_CONCURRENCY,
  ENTRY_METADATA_KEY,
  functionDefinitions,
  LOCAL_HTTP_ENVIRONMENTS,
} from '../../local/runtime/function-definitions';
import type { CfnTemplate } from '../../local/template';

const lambda = (entry: string, properties: Record<string, unknown> = {}) => ({
  Type: 'AWS::Lambda::Function',
  Properties: properties,
  Metadata: { [ENTRY_METADATA_KEY]: entry },
});

describe('functionDefinitions', () => {
  it('runs a function behind the HTTP API on a few environments per core, and the others at their concurrency', () => {
    // Prepare
    const template: CfnTemplate = {
      Resources: {
        ApiFunction: lambda('lambdas/api/handlers/api.ts', { ReservedConcurrentExecutions: 50 }),
        DeliverFunction: lambda('lambdas/webhooks/handlers/deliver.ts'),
        ReplayFunction: lambda('lambdas/webhooks/handlers/replay.ts', { ReservedConcurrentExecutions: 2 }),
        HttpApi: { Type: 'AWS::ApiGatewayV2::Api', Properties: { ProtocolType: 'HTTP' } },
        HttpIntegration: {
          Type: 'AWS::ApiGatewayV2::Integration',
          Properties: {
            ApiId: { Ref: 'HttpApi' },
            IntegrationType: 'AWS_PROXY',
            IntegrationUri: { 'Fn::GetAtt': ['ApiFunction', 'Arn'] },
          },
        },
      },
    } as CfnTemplate;

    // Act
    const definitions = functionDefinitions(template, new ResourceMap(template, 't-'), {});
    const concurrency = Object.fromEntries(definitions.map((d) => [d.logicalId, d.concurrency]));

    // Assess
    expect(LOCAL_HTTP_ENVIRONMENTS).toBeGreaterThanOrEqual(2);
    expect(concurrency).toEqual({
      ApiFunction: Math.min(LOCAL_HTTP_ENVIRONMENTS, DEFAULT_LOCAL_CONCURRENCY),
      DeliverFunction: DEFAULT_LOCAL_CONCURRENCY,
      ReplayFunction: 2,
    });
  });
});
