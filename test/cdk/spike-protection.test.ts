import { Match, Template } from 'aws-cdk-lib/assertions';
import { createPipelineApp } from '../../lib/app';

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
  it('bounds every SQS event source, the charge consumer by its prop', () => {
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
