import { Match, Template } from 'aws-cdk-lib/assertions';
import { createPipelineApp } from '../../lib/app';

// One synthesis with the defaults, one with every prop changed; no bundling, no cdk-nag (see cdk-nag.test.ts).
const defaults = Template.fromStack(createPipelineApp({ bundle: false, nag: false }).stack);
const customised = Template.fromStack(
  createPipelineApp({
    bundle: false,
    nag: false,
    stackName: 'CustomisedPipeline',
    stackProps: { deletionProtection: false, httpApiThrottle: { rateLimit: 50, burstLimit: 100 } },
  }).stack,
);

type Resource = { Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };
const functions = Object.values(defaults.findResources('AWS::Lambda::Function')) as Resource[];
const logicalIdOf = (type: string, idPrefix: string): string => {
  const id = Object.keys(defaults.findResources(type)).find((logicalId) => logicalId.startsWith(idPrefix));
  if (!id) throw new Error(`no ${type} whose logical id starts with ${idPrefix}`);
  return id;
};

describe('tables', () => {
  test('are on-demand, point-in-time recoverable, encrypted, deletion-protected and retained', () => {
    defaults.resourceCountIs('AWS::DynamoDB::Table', 2);
    defaults.allResourcesProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: true,
    });
    defaults.allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('deletionProtection: false turns deletion protection off', () => {
    customised.allResourcesProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
  });

  test('idempotency records expire through TTL on expiresAt', () => {
    defaults.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  test('each has a throttling alarm', () => {
    for (const table of ['StoresTable', 'IdempotencyTable']) {
      defaults.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        Metrics: Match.arrayWith([
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({
                MetricName: 'WriteThrottleEvents',
                Dimensions: [
                  { Name: 'TableName', Value: { Ref: logicalIdOf('AWS::DynamoDB::Table', table) } },
                ],
              }),
            }),
          }),
        ]),
      });
    }
  });
});

describe('functions', () => {
  test('run on arm64 with a Node.js runtime of version 22 or newer, with active tracing', () => {
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      const runtime = String(fn.Properties.Runtime);
      expect(runtime).toMatch(/^nodejs\d+\.x$/);
      expect(Number(runtime.replace(/\D/g, ''))).toBeGreaterThanOrEqual(22);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
    }
  });

  test('carry the handler entry and name the local runtime reads', () => {
    defaults.hasResource('AWS::Lambda::Function', {
      Metadata: {
        'commerce-pipeline:entry': 'lambdas/handlers/api.ts',
        'commerce-pipeline:handler': 'handler',
      },
    });
    for (const fn of functions) {
      expect(fn.Metadata?.['commerce-pipeline:entry']).toMatch(/^lambdas\/handlers\/[a-z0-9-]+\.ts$/);
    }
  });

  test('get resource names and secret ARNs, never a secret value', () => {
    const secretNames = ['ADMIN_API_KEY', 'DEMO_STORE_API_KEY', 'PAYMENT_GATEWAY_API_KEY'];
    const secretLogicalIds = Object.keys(defaults.findResources('AWS::SecretsManager::Secret'));
    for (const fn of functions) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      for (const [name, value] of Object.entries(variables)) {
        expect(secretNames).not.toContain(name);
        if (/SECRET|KEY|TOKEN|PASSWORD/.test(name)) {
          // Only a reference to a secret resource: its Ref is the ARN.
          expect(name).toMatch(/_SECRET_ARN$/);
          expect(secretLogicalIds).toContain((value as { Ref?: string }).Ref);
        } else if (typeof value === 'string') {
          expect(value).not.toMatch(/^(sk|pk|rk|whsec)_|[A-Za-z0-9+/=_-]{32,}/);
        }
      }
    }
  });

  test('the API function gets both table names and the admin key secret ARN', () => {
    defaults.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          STORES_TABLE_NAME: { Ref: logicalIdOf('AWS::DynamoDB::Table', 'StoresTable') },
          IDEMPOTENCY_TABLE_NAME: { Ref: logicalIdOf('AWS::DynamoDB::Table', 'IdempotencyTable') },
          ADMIN_API_KEY_SECRET_ARN: { Ref: logicalIdOf('AWS::SecretsManager::Secret', 'AdminApiKeySecret') },
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'api-function',
          POWERTOOLS_METRICS_NAMESPACE: 'CommercePipeline',
          WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false',
        }),
      },
    });
  });

  test('the API function may use both tables and read the admin secret, not the gateway secret', () => {
    const policies = defaults.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: logicalIdOf('AWS::IAM::Role', 'ApiFunctionRole') }] },
    });
    const policyJson = JSON.stringify(policies);
    expect(policyJson).toContain(logicalIdOf('AWS::DynamoDB::Table', 'StoresTable'));
    expect(policyJson).toContain(logicalIdOf('AWS::DynamoDB::Table', 'IdempotencyTable'));
    expect(policyJson).toContain(logicalIdOf('AWS::SecretsManager::Secret', 'AdminApiKeySecret'));
    expect(policyJson).not.toContain(
      logicalIdOf('AWS::SecretsManager::Secret', 'PaymentGatewayApiKeySecret'),
    );
  });

  test('each has an errors alarm and a log group with retention', () => {
    defaults.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      },
      functions.length,
    );
    for (const fn of functions) {
      expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: expect.any(String) } });
    }
    defaults.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('refuse secret values passed as settings', () => {
    expect(() =>
      createPipelineApp({ bundle: false, nag: false, stackProps: { settings: { ADMIN_API_KEY: 'x' } } }),
    ).toThrow(/ADMIN_API_KEY is a secret/);
  });
});

describe('secrets', () => {
  test('the admin key is a generated 48-character string, supplied locally from ADMIN_API_KEY', () => {
    defaults.hasResource('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({
        GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
      }),
      Metadata: { 'commerce-pipeline:local-value-from': 'ADMIN_API_KEY' },
    });
  });

  test('the gateway key is a placeholder, supplied locally from PAYMENT_GATEWAY_API_KEY', () => {
    defaults.hasResource('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({ GenerateSecretString: Match.anyValue() }),
      Metadata: { 'commerce-pipeline:local-value-from': 'PAYMENT_GATEWAY_API_KEY' },
    });
    defaults.resourceCountIs('AWS::SecretsManager::Secret', 2);
  });
});

describe('datafeeds bucket', () => {
  test('is private, encrypted, versioned, retained and logs access to the access logs bucket', () => {
    defaults.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: {
          DestinationBucketName: { Ref: logicalIdOf('AWS::S3::Bucket', 'AccessLogsBucket') },
        },
      }),
      DeletionPolicy: 'Retain',
    });
  });

  test('both buckets refuse requests without TLS', () => {
    defaults.resourcePropertiesCountIs(
      'AWS::S3::BucketPolicy',
      {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      },
      2,
    );
  });
});

describe('HTTP API', () => {
  test('sends every route and method to the API function with payload format 2.0', () => {
    defaults.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [logicalIdOf('AWS::Lambda::Function', 'ApiFunction'), 'Arn'] },
    });
    defaults.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
  });

  test('the default stage is throttled (1000/s, bursts of 2000) and writes access logs', () => {
    defaults.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [logicalIdOf('AWS::Logs::LogGroup', 'HttpApiAccessLogs'), 'Arn'] },
        Format: Match.stringLikeRegexp('\\$context\\.requestId'),
      },
    });
  });

  test('httpApiThrottle sets the stage throttle', () => {
    customised.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });
});

test('outputs the API URL and the ARNs of the secrets', () => {
  defaults.hasOutput('ApiUrl', { Value: Match.anyValue() });
  defaults.hasOutput('AdminApiKeySecretArn', {
    Value: { Ref: logicalIdOf('AWS::SecretsManager::Secret', 'AdminApiKeySecret') },
  });
  defaults.hasOutput('PaymentGatewayApiKeySecretArn', {
    Value: { Ref: logicalIdOf('AWS::SecretsManager::Secret', 'PaymentGatewayApiKeySecret') },
  });
});
