import { Match, Template } from 'aws-cdk-lib/assertions';
import { createPipelineApp } from '../../lib/app';
import type { PipelineSettings } from '../../lib/settings';

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
// The functions PipelineFunction made (they carry the entry metadata), not those of CDK's provider framework.
const functions = (Object.values(defaults.findResources('AWS::Lambda::Function')) as Resource[]).filter(
  (fn) => fn.Metadata?.['commerce-pipeline:entry'] !== undefined,
);
const logicalIdOf = (type: string, idPrefix: string): string => {
  const id = Object.keys(defaults.findResources(type)).find((logicalId) => logicalId.startsWith(idPrefix));
  if (!id) throw new Error(`no ${type} whose logical id starts with ${idPrefix}`);
  return id;
};

describe('tables', () => {
  test('are on-demand, point-in-time recoverable, encrypted, deletion-protected and retained', () => {
    defaults.resourceCountIs('AWS::DynamoDB::Table', 9);
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
    for (const table of [
      'StoresTable',
      'IdempotencyTable',
      'TransactionsTable',
      'EventsTable',
      'WebhooksTable',
      'AttemptsTable',
    ]) {
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
    const entries = [
      'api/handlers/api',
      'webhooks/handlers/fanout',
      'webhooks/handlers/deliver',
      'webhooks/handlers/replay',
      'billing/handlers/run',
      'billing/handlers/charge',
      'billing/handlers/billing-outbox',
      'notifications/handlers/notify',
    ];
    for (const entry of entries) {
      defaults.hasResource('AWS::Lambda::Function', {
        Metadata: {
          'commerce-pipeline:entry': `lambdas/${entry}.ts`,
          'commerce-pipeline:handler': 'handler',
        },
      });
    }
    // Plus the index readiness resource's two handlers (the subscriptions table's due index).
    expect(functions).toHaveLength(entries.length + 2);
    for (const fn of functions) {
      expect(fn.Metadata?.['commerce-pipeline:entry']).toMatch(
        /^lambdas\/[a-z-]+\/handlers\/[a-z0-9-]+\.ts$/,
      );
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
      createPipelineApp({
        bundle: false,
        nag: false,
        // A compile error in TypeScript; JavaScript callers and casts get the synth error.
        stackProps: { settings: { ADMIN_API_KEY: 'x' } as PipelineSettings },
      }),
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
    defaults.resourceCountIs('AWS::SecretsManager::Secret', 3);
  });

  test('the manage link key is generated (64 characters), locally too, and read by the API and notify functions', () => {
    const secrets = defaults.findResources('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({
        GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
      }),
    });
    const [logicalId, secret] = Object.entries(secrets)[0] ?? [];
    expect(logicalId).toMatch(/^ManageLinkKeySecret/);
    // No local value: the local stack generates one, as AWS does.
    expect(secret?.Metadata).toBeUndefined();
    for (const fn of ['ApiFunction', 'NotifyFunction']) {
      const functions = Object.entries(defaults.findResources('AWS::Lambda::Function')).filter(([id]) =>
        id.startsWith(fn),
      );
      expect(functions).toHaveLength(1);
      const variables = functions[0]?.[1].Properties.Environment.Variables;
      expect(variables.MANAGE_LINK_KEY_SECRET_ARN).toEqual({ Ref: logicalId });
      expect(variables.PUBLIC_API_URL).toEqual({
        'Fn::GetAtt': [logicalIdOf('AWS::ApiGatewayV2::Api', 'HttpApi'), 'ApiEndpoint'],
      });
    }
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

describe('webhook side', () => {
  const tableId = (prefix: string) => logicalIdOf('AWS::DynamoDB::Table', prefix);
  const queueId = (prefix: string) => logicalIdOf('AWS::SQS::Queue', prefix);
  const functionId = (prefix: string) => logicalIdOf('AWS::Lambda::Function', prefix);
  const functionResource = (prefix: string) =>
    defaults.findResources('AWS::Lambda::Function')[functionId(prefix)] as Resource;
  const variablesOf = (prefix: string) =>
    (functionResource(prefix).Properties.Environment as { Variables: Record<string, unknown> }).Variables;

  /** The actions a function's role may take on the resource (or its stream or index) with this logical id. */
  const actionsOn = (functionPrefix: string, resourceId: string): string[] => {
    const roleId = logicalIdOf('AWS::IAM::Role', `${functionPrefix}Role`);
    const statements = Object.values(
      defaults.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
    ).flatMap(
      (policy) =>
        policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    return [
      ...new Set(
        statements
          .filter((statement) => JSON.stringify(statement.Resource).includes(`"${resourceId}"`))
          .flatMap((statement) => statement.Action),
      ),
    ].sort();
  };

  test('the four tables have the keys, streams and TTL of the design', () => {
    const keys = (hash: string, range: string) => [
      { AttributeName: hash, KeyType: 'HASH' },
      { AttributeName: range, KeyType: 'RANGE' },
    ];
    defaults.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: keys('storeId', 'txnId'),
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });
    defaults.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: keys('storeId', 'eventId'),
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });
    defaults.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: keys('storeId', 'endpointId'),
      StreamSpecification: Match.absent(),
    });
    defaults.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: keys('endpointId', 'sk'),
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  test.each(['TransactionsTable', 'EventsTable'])(
    'the %s stream feeds FanoutFunction from the trim horizon, retried until it succeeds',
    (table) => {
      defaults.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [tableId(table), 'StreamArn'] },
        FunctionName: { Ref: functionId('FanoutFunction') },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 100,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: -1,
        // Nothing skips a record: no on-failure destination, no maximum record age.
        DestinationConfig: Match.absent(),
        MaximumRecordAgeInSeconds: Match.absent(),
      });
    },
  );

  test('DeliverFunction consumes DeliveriesQueue in batches of 10, at most 10 at a time', () => {
    defaults.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId('DeliveriesQueue'), 'Arn'] },
      FunctionName: { Ref: functionId('DeliverFunction') },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 10 },
    });
    defaults.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId('ReplaysQueue'), 'Arn'] },
      FunctionName: { Ref: functionId('ReplayFunction') },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  test('deliveryConcurrency sets the maximum concurrency of DeliverFunction', () => {
    const template = Template.fromStack(
      createPipelineApp({ bundle: false, nag: false, stackProps: { deliveryConcurrency: 3 } }).stack,
    );
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 3 },
    });
  });

  test('DeliverFunction outlives two attempt timeouts: max(60 s, 2 x WEBHOOK_TIMEOUT_MS + 10 s)', () => {
    expect(functionResource('DeliverFunction').Properties.Timeout).toBe(60);
    const slow = Template.fromStack(
      createPipelineApp({
        bundle: false,
        nag: false,
        stackProps: { settings: { WEBHOOK_TIMEOUT_MS: '30000' } },
      }).stack,
    );
    slow.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 70,
      Environment: { Variables: Match.objectLike({ WEBHOOK_TIMEOUT_MS: '30000' }) },
    });
    expect(() =>
      createPipelineApp({
        bundle: false,
        nag: false,
        stackProps: { settings: { WEBHOOK_TIMEOUT_MS: '15s' } },
      }),
    ).toThrow(/WEBHOOK_TIMEOUT_MS must be a whole number of milliseconds/);
  });

  test.each([
    ['DeliveriesQueue', 'DeliverFunction'],
    ['ReplaysQueue', 'ReplayFunction'],
  ])(
    '%s has a dead-letter queue and a visibility timeout of at least 6x its consumer timeout',
    (queue, fn) => {
      const properties = defaults.findResources('AWS::SQS::Queue')[queueId(queue)]?.Properties as {
        VisibilityTimeout: number;
        RedrivePolicy: { deadLetterTargetArn: unknown };
      };
      expect(properties.VisibilityTimeout).toBeGreaterThanOrEqual(
        6 * Number(functionResource(fn).Properties.Timeout),
      );
      const deadLetterQueue = queue.replace('Queue', 'DeadLetterQueue');
      expect(properties.RedrivePolicy.deadLetterTargetArn).toEqual({
        'Fn::GetAtt': [queueId(deadLetterQueue), 'Arn'],
      });
    },
  );

  test('every function gets its resource names by reference, and the settings its list names', () => {
    const ref = (prefix: string) => ({ Ref: tableId(prefix) });
    const url = (prefix: string) => ({ Ref: queueId(prefix) });
    const expected: Record<string, Record<string, unknown>> = {
      ApiFunction: {
        TRANSACTIONS_TABLE_NAME: ref('TransactionsTable'),
        EVENTS_TABLE_NAME: ref('EventsTable'),
        WEBHOOKS_TABLE_NAME: ref('WebhooksTable'),
        ATTEMPTS_TABLE_NAME: ref('AttemptsTable'),
        REPLAYS_QUEUE_URL: url('ReplaysQueue'),
      },
      FanoutFunction: {
        TRANSACTIONS_TABLE_NAME: ref('TransactionsTable'),
        EVENTS_TABLE_NAME: ref('EventsTable'),
        WEBHOOKS_TABLE_NAME: ref('WebhooksTable'),
        DELIVERIES_QUEUE_URL: url('DeliveriesQueue'),
        NOTIFICATIONS_QUEUE_URL: url('NotificationsQueue'),
      },
      ReplayFunction: {
        EVENTS_TABLE_NAME: ref('EventsTable'),
        DELIVERIES_QUEUE_URL: url('DeliveriesQueue'),
      },
      DeliverFunction: {
        EVENTS_TABLE_NAME: ref('EventsTable'),
        WEBHOOKS_TABLE_NAME: ref('WebhooksTable'),
        ATTEMPTS_TABLE_NAME: ref('AttemptsTable'),
        DELIVERIES_QUEUE_URL: url('DeliveriesQueue'),
        DELIVERIES_DLQ_URL: url('DeliveriesDeadLetterQueue'),
      },
    };
    for (const [fn, variables] of Object.entries(expected)) {
      expect(variablesOf(fn)).toMatchObject(variables);
    }
    // The deployed default of a setting the API and deliveries read (function-environment.test.ts checks the
    // lists themselves).
    for (const fn of ['ApiFunction', 'DeliverFunction']) {
      expect(variablesOf(fn)).toMatchObject({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false' });
    }
  });

  test('grants are least privilege', () => {
    const read = ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan'];
    const write = [
      'dynamodb:BatchWriteItem',
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ];
    const send = 'sqs:SendMessage';

    // API: writes transactions, reads events and attempts, manages endpoints, sends replays.
    expect(actionsOn('ApiFunction', tableId('TransactionsTable'))).toEqual(
      expect.arrayContaining(['dynamodb:PutItem']),
    );
    expect(actionsOn('ApiFunction', tableId('TransactionsTable'))).not.toContain('dynamodb:Query');
    expect(actionsOn('ApiFunction', tableId('EventsTable'))).toEqual(expect.arrayContaining(read));
    expect(actionsOn('ApiFunction', tableId('EventsTable'))).not.toContain('dynamodb:PutItem');
    expect(actionsOn('ApiFunction', tableId('AttemptsTable'))).not.toContain('dynamodb:PutItem');
    expect(actionsOn('ApiFunction', tableId('WebhooksTable'))).toEqual(
      expect.arrayContaining([...read, ...write]),
    );
    expect(actionsOn('ApiFunction', queueId('ReplaysQueue'))).toContain(send);
    // The queue routes (GET /v1/admin/queues, redrive): the depths, and the redrive's send to each work queue and
    // receive and delete on its dead-letter queue; never a receive from a work queue.
    expect(actionsOn('ApiFunction', queueId('DeliveriesQueue'))).toEqual(
      ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', send].sort(),
    );
    expect(actionsOn('ApiFunction', queueId('DeliveriesDeadLetterQueue'))).toEqual(
      expect.arrayContaining(['sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:DeleteMessage']),
    );
    expect(actionsOn('ApiFunction', queueId('DeliveriesDeadLetterQueue'))).not.toContain(send);

    // Fanout: puts events (only), reads endpoints, sends deliveries, reads both streams.
    expect(actionsOn('FanoutFunction', tableId('EventsTable'))).toEqual(
      expect.arrayContaining(['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:PutItem']),
    );
    expect(actionsOn('FanoutFunction', tableId('EventsTable'))).not.toContain('dynamodb:DeleteItem');
    expect(actionsOn('FanoutFunction', tableId('TransactionsTable'))).toEqual([
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
    ]);
    expect(actionsOn('FanoutFunction', tableId('WebhooksTable'))).not.toContain('dynamodb:PutItem');
    expect(actionsOn('FanoutFunction', queueId('DeliveriesQueue'))).toContain(send);

    // Replay: reads events and endpoints, sends deliveries; a recover queries the attempts (nothing more).
    expect(actionsOn('ReplayFunction', tableId('EventsTable'))).not.toContain('dynamodb:PutItem');
    expect(actionsOn('ReplayFunction', tableId('WebhooksTable'))).not.toContain('dynamodb:PutItem');
    expect(actionsOn('ReplayFunction', queueId('DeliveriesQueue'))).toContain(send);
    expect(actionsOn('ReplayFunction', tableId('AttemptsTable'))).toEqual(['dynamodb:Query']);

    // Deliver: reads events and puts the webhook_endpoint.disabled notice (no other write), endpoint health, the
    // attempt log, retries and dead letters.
    expect(actionsOn('DeliverFunction', tableId('EventsTable'))).toContain('dynamodb:PutItem');
    expect(actionsOn('DeliverFunction', tableId('EventsTable'))).not.toContain('dynamodb:UpdateItem');
    expect(actionsOn('DeliverFunction', tableId('EventsTable'))).not.toContain('dynamodb:DeleteItem');
    expect(actionsOn('DeliverFunction', tableId('WebhooksTable'))).toContain('dynamodb:UpdateItem');
    expect(actionsOn('DeliverFunction', tableId('AttemptsTable'))).toEqual(
      expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem']),
    );
    expect(actionsOn('DeliverFunction', queueId('DeliveriesQueue'))).toContain(send);
    expect(actionsOn('DeliverFunction', queueId('DeliveriesDeadLetterQueue'))).toContain(send);
    expect(actionsOn('DeliverFunction', tableId('TransactionsTable'))).toEqual([]);
  });

  test('alarms on the failed share of deliveries, over the Powertools metrics of DeliverFunction', () => {
    const metric = (name: string) =>
      Match.objectLike({
        MetricStat: Match.objectLike({
          Metric: {
            Namespace: 'CommercePipeline',
            MetricName: name,
            Dimensions: [{ Name: 'service', Value: variablesOf('DeliverFunction').POWERTOOLS_SERVICE_NAME }],
          },
        }),
      });
    defaults.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 0.25,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: Match.stringLikeRegexp('failed') }),
        metric('DeliveriesSucceeded'),
        metric('DeliveriesFailed'),
      ]),
    });
  });

  test("alarms when FanoutFunction's stream iterator age passes 15 minutes", () => {
    defaults.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId('FanoutFunction') } }],
      Statistic: 'Maximum',
      Threshold: 15 * 60 * 1000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  test('outputs the queue URLs that `npx pipeline redrive --stack` reads', () => {
    for (const queue of [
      'DeliveriesQueue',
      'DeliveriesDeadLetterQueue',
      'ReplaysQueue',
      'ReplaysDeadLetterQueue',
    ]) {
      defaults.hasOutput(`${queue}Url`, { Value: { Ref: queueId(queue) } });
    }
  });
});
