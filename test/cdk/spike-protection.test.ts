import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { gatewayScheduleKey } from '../../lambdas/billing/adapters/dynamo-gateway-schedule';
import { GATEWAY_LIMIT_KEY } from '../../lambdas/billing/domain/gateway-pace';
import { createPipelineApp } from '../../lib/app';
import { GATEWAY_COUNTS_PARTITION } from '../../lib/features/billing';
import type { PipelineStackProps } from '../../lib/pipeline-stack';

/** Issue: survive the spike. Limits at the edge, bounded consumers, one screen, alarms that reach someone. */
const defaults = Template.fromStack(createPipelineApp({ bundle: false, nag: false }).stack);
const customised = Template.fromStack(
  createPipelineApp({
    bundle: false,
    nag: false,
    stackName: 'SpikeProps',
    stackProps: {
      httpApiThrottle: { rateLimit: 300, burstLimit: 600 },
      storeThrottle: { rateLimit: 20, burstLimit: 40 },
      apiReservedConcurrency: 25,
      chargeConcurrency: 3,
      deliveryConcurrency: 7,
      alarmEmail: 'ops@example.com',
    },
  }).stack,
);

type Resource = { Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };
const functionsOf = (template: Template) =>
  Object.entries(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).filter(
    ([, fn]) => fn.Metadata?.['commerce-pipeline:entry'] !== undefined,
  );
const logicalIdOf = (template: Template, entry: string) => {
  const found = functionsOf(template).find(([, fn]) => fn.Metadata?.['commerce-pipeline:entry'] === entry);
  if (!found) throw new Error(`no function ${entry}`);
  return found[0];
};

describe('limits at the edge', () => {
  it('throttles the HTTP API stage with the rate and burst of the props', () => {
    defaults.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
    });
    customised.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 300, ThrottlingBurstLimit: 600 },
    });
  });

  it("gives the API each store's limit and reserved concurrency", () => {
    const api = (template: Template) =>
      (template.findResources('AWS::Lambda::Function') as Record<string, Resource>)[
        logicalIdOf(template, 'lambdas/api/handlers/api.ts')
      ]?.Properties;
    expect(api(defaults)).toMatchObject({
      ReservedConcurrentExecutions: 50,
      Environment: { Variables: { STORE_RATE_LIMIT: '100', STORE_BURST_LIMIT: '200' } },
    });
    expect(api(customised)).toMatchObject({
      ReservedConcurrentExecutions: 25,
      Environment: { Variables: { STORE_RATE_LIMIT: '20', STORE_BURST_LIMIT: '40' } },
    });
  });
});

describe('bounded consumers', () => {
  it('bounds every SQS event source, the charge consumer by its explicit prop when set', () => {
    const mappings = Object.values(
      customised.findResources('AWS::Lambda::EventSourceMapping') as Record<string, Resource>,
    );
    const sqs = mappings.filter((mapping) => mapping.Properties.StartingPosition === undefined);
    expect(sqs).toHaveLength(5);
    for (const mapping of sqs) {
      expect(mapping.Properties.ScalingConfig).toEqual({ MaximumConcurrency: expect.any(Number) });
    }
    const byFunction = (entry: string) =>
      sqs.find(
        (mapping) =>
          (mapping.Properties.FunctionName as { Ref?: string }).Ref === logicalIdOf(customised, entry),
      )?.Properties.ScalingConfig;
    expect(byFunction('lambdas/billing/handlers/charge.ts')).toEqual({ MaximumConcurrency: 3 });
    expect(byFunction('lambdas/webhooks/handlers/deliver.ts')).toEqual({ MaximumConcurrency: 7 });
    // Stream sources are bounded by their shards: one batch per shard at a time (no parallelization factor).
    for (const mapping of mappings.filter((m) => m.Properties.StartingPosition !== undefined)) {
      expect(mapping.Properties.ParallelizationFactor ?? 1).toBe(1);
    }
  });
});

describe('the charge consumer, sized to the gateway rate limit', () => {
  const chargeConcurrencyOf = (stackProps: PipelineStackProps) => {
    const template = Template.fromStack(
      createPipelineApp({ bundle: false, nag: false, stackName: 'ChargeSizing', stackProps }).stack,
    );
    const charge = logicalIdOf(template, 'lambdas/billing/handlers/charge.ts');
    const mapping = Object.values(
      template.findResources('AWS::Lambda::EventSourceMapping') as Record<string, Resource>,
    ).find((candidate) => (candidate.Properties.FunctionName as { Ref?: string }).Ref === charge);
    return { template, charge, mapping: mapping?.Properties };
  };

  it('computes min(cap, max(2, ceil(limit x latency / batch) + 2)): 6 at 80/s and 400 ms', () => {
    expect(chargeConcurrencyOf({}).mapping).toMatchObject({
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 6 },
    });
    const at = (rate: string, more: Partial<PipelineStackProps> = {}) =>
      chargeConcurrencyOf({ settings: { PAYMENT_GATEWAY_RATE_LIMIT: rate }, ...more }).mapping?.ScalingConfig;
    // 20/s x 0.4 s = 8 in flight: one batch, and two for the turnover of batches.
    expect(at('20')).toEqual({ MaximumConcurrency: 3 });
    expect(at('5')).toEqual({ MaximumConcurrency: 3 });
    expect(at('100')).toEqual({ MaximumConcurrency: 6 });
    expect(at('1000')).toEqual({ MaximumConcurrency: 42 });
    expect(at('100', { paymentGatewayLatency: Duration.seconds(2) })).toEqual({ MaximumConcurrency: 22 });
    expect(at('1000', { chargeConcurrencyCap: 25 })).toEqual({ MaximumConcurrency: 25 });
    expect(at('100000')).toEqual({ MaximumConcurrency: 100 });
    // The explicit prop wins over the computed value (as the customised stack above: 3).
    expect(at('1000', { chargeConcurrency: 4 })).toEqual({ MaximumConcurrency: 4 });
  });

  it('refuses a concurrency or cap outside 2..1000, and a latency of 0', () => {
    for (const props of [
      { chargeConcurrency: 1 },
      { chargeConcurrency: 1001 },
      { chargeConcurrency: 2.5 },
      { chargeConcurrencyCap: 1 },
    ]) {
      expect(() => chargeConcurrencyOf(props)).toThrow(/must be a whole number from 2 to 1000/);
    }
    expect(() => chargeConcurrencyOf({ paymentGatewayLatency: Duration.millis(0) })).toThrow(
      /paymentGatewayLatency must be longer than 0/,
    );
  });

  it('lets ChargeFunction update only the gateway limit’s partition of the runs table', () => {
    const { template, charge } = chargeConcurrencyOf({});
    const role = (
      template.findResources('AWS::Lambda::Function') as Record<string, { Properties: { Role: unknown } }>
    )[charge]?.Properties.Role as { 'Fn::GetAtt': [string, string] };
    const runsTable = Object.keys(template.findResources('AWS::DynamoDB::Table')).find((id) =>
      id.startsWith('RunsTable'),
    );
    expect(gatewayScheduleKey(GATEWAY_LIMIT_KEY).runId).toBe(GATEWAY_COUNTS_PARTITION);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: role['Fn::GetAtt'][0] }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'dynamodb:UpdateItem',
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [runsTable, 'Arn'] },
            Condition: {
              'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['rate-limit#payment-gateway'] },
            },
          },
        ]),
      },
    });
  });
});

describe('one screen and alarms that reach someone', () => {
  it('has a dashboard covering ingest, queues, DLQs, deliveries, runs, throttles and functions', () => {
    const dashboards = defaults.findResources('AWS::CloudWatch::Dashboard');
    expect(Object.keys(dashboards)).toHaveLength(1);
    const body = JSON.stringify(Object.values(dashboards)[0]);
    for (const title of [
      'Ingest: requests and accepted transactions per minute',
      'Ingest latency (ms)',
      'Queue depth (visible messages)',
      'Oldest message age (s)',
      'Dead-letter queues',
      'Webhook deliveries by outcome',
      'Subscription run: pending charges and charges per minute',
      'Table throttles',
      'GSI throttles',
      'Function errors',
      'Function throttles',
      'Concurrent executions',
    ]) {
      expect(body).toContain(title);
    }
    for (const metric of [
      'TransactionsAccepted',
      'RunPendingCharges',
      'DeliveriesFailed',
      'GlobalSecondaryIndexName',
    ]) {
      expect(body).toContain(metric);
    }
  });

  it('sends every alarm to an encrypted SNS topic, with the email subscription of the prop', () => {
    defaults.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    defaults.resourceCountIs('AWS::SNS::Subscription', 0);
    customised.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    const topicId = Object.keys(defaults.findResources('AWS::SNS::Topic'))[0];
    const alarms = Object.values(
      defaults.findResources('AWS::CloudWatch::Alarm') as Record<string, Resource>,
    );
    expect(alarms.length).toBeGreaterThan(20);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    }
  });

  it('alarms on a stalled run and on a missed run deadline', () => {
    for (const description of ['resolved none for 15 minutes', 'past its deadline']) {
      defaults.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmDescription: Match.stringLikeRegexp(description),
      });
    }
  });
});
