import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { LocalClients } from '../aws-clients';
import type { LocalResource, ResourceMap } from '../resource-map';
import { type CfnTemplate, resourcesOfType } from '../template';
import { startDynamoDbStreamSource } from './dynamodb-stream-source';
import type { EventSource } from './event-source';
import type { LocalFunction } from './local-function';
import { startScheduleSource } from './schedule-source';
import { startSqsEventSource } from './sqs-event-source';

interface CfnEventSourceMapping {
  EventSourceArn?: string;
  FunctionName?: string;
  Enabled?: boolean;
  BatchSize?: number;
  FunctionResponseTypes?: string[];
  ScalingConfig?: { MaximumConcurrency?: number };
  StartingPosition?: 'TRIM_HORIZON' | 'LATEST';
  MaximumRetryAttempts?: number;
  BisectBatchOnFunctionError?: boolean;
  TumblingWindowInSeconds?: number;
  DestinationConfig?: { OnFailure?: { Destination?: string } };
  FilterCriteria?: unknown;
}

interface CfnScheduleTarget {
  Arn?: string;
  Input?: string;
}

/**
 * Starts what invokes the template's functions besides the HTTP API: every enabled
 * AWS::Lambda::EventSourceMapping (SQS queues, DynamoDB streams), AWS::Scheduler::Schedule and scheduled
 * AWS::Events::Rule. A source that cannot run locally is an error at start-up, not a silent gap.
 */
export async function startEventSources(
  template: CfnTemplate,
  resources: ResourceMap,
  functions: ReadonlyMap<string, LocalFunction>,
  clients: LocalClients,
  options: { scheduleSpeed?: number; log: (message: string) => void },
): Promise<EventSource[]> {
  const findFunction = (nameOrArn: string): LocalFunction | undefined =>
    [...functions.values()].find((fn) => fn.props.name === nameOrArn || fn.props.arn === nameOrArn);
  const sources: EventSource[] = [];
  try {
    for (const [logicalId, resource] of resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')) {
      const mapping = resources.resolve(resource.Properties ?? {}) as CfnEventSourceMapping;
      if (mapping.Enabled === false) continue;
      const fn = findFunction(mapping.FunctionName ?? '');
      if (!fn) continue;
      if (mapping.FilterCriteria !== undefined) {
        throw new Error(
          `${logicalId}: event filtering (FilterCriteria) is not supported by the local stack.`,
        );
      }
      const source = resources.findByArn(mapping.EventSourceArn ?? '');
      const onError = (error: unknown) => options.log(`[local] ${logicalId} poller: ${error}`);
      const reportBatchItemFailures =
        mapping.FunctionResponseTypes?.includes('ReportBatchItemFailures') ?? false;
      if (source?.type === 'AWS::SQS::Queue') {
        sources.push(
          startSqsEventSource(clients.sqs, {
            queueUrl: source.ref,
            queueArn: mapping.EventSourceArn ?? '',
            function: fn,
            batchSize: mapping.BatchSize,
            maximumConcurrency: mapping.ScalingConfig?.MaximumConcurrency,
            reportBatchItemFailures,
            onError,
          }),
        );
      } else if (source?.attributes.StreamArn === mapping.EventSourceArn) {
        const onFailure = mapping.DestinationConfig?.OnFailure?.Destination;
        sources.push(
          await startDynamoDbStreamSource(clients.streams, {
            streamArn: mapping.EventSourceArn ?? '',
            function: fn,
            batchSize: mapping.BatchSize,
            startingPosition: mapping.StartingPosition,
            maximumRetryAttempts: mapping.MaximumRetryAttempts,
            bisectBatchOnFunctionError: mapping.BisectBatchOnFunctionError,
            tumblingWindowInSeconds: mapping.TumblingWindowInSeconds,
            reportBatchItemFailures,
            onFailure: onFailure ? sendToQueue(clients, queueOf(resources, onFailure, logicalId)) : undefined,
            onError,
          }),
        );
      } else {
        throw new Error(
          `${logicalId}: the event source ${mapping.EventSourceArn} is not a local queue or stream.`,
        );
      }
    }

    const onScheduleError = (name: string) => (error: unknown) =>
      options.log(`[local] schedule ${name}: ${error}`);
    for (const [logicalId, resource] of resourcesOfType(template, 'AWS::Scheduler::Schedule')) {
      const schedule = resources.resolve(resource.Properties ?? {}) as {
        ScheduleExpression: string;
        State?: string;
        Target: CfnScheduleTarget;
      };
      const fn = findFunction(schedule.Target.Arn ?? '');
      if (schedule.State === 'DISABLED' || !fn) continue;
      const local = resources.get(logicalId);
      sources.push(
        startScheduleSource({
          name: local.ref,
          arn: local.attributes.Arn ?? local.ref,
          expression: schedule.ScheduleExpression,
          function: fn,
          input: schedule.Target.Input,
          kind: 'scheduler',
          speed: options.scheduleSpeed,
          onError: onScheduleError(logicalId),
        }),
      );
    }
    for (const [logicalId, resource] of resourcesOfType(template, 'AWS::Events::Rule')) {
      const rule = resources.resolve(resource.Properties ?? {}) as {
        ScheduleExpression?: string;
        State?: string;
        Targets?: CfnScheduleTarget[];
      };
      if (!rule.ScheduleExpression || rule.State === 'DISABLED') continue;
      const local = resources.get(logicalId);
      for (const target of rule.Targets ?? []) {
        const fn = findFunction(target.Arn ?? '');
        if (!fn) continue;
        sources.push(
          startScheduleSource({
            name: local.ref,
            arn: local.attributes.Arn ?? local.ref,
            expression: rule.ScheduleExpression,
            function: fn,
            input: target.Input,
            kind: 'rule',
            speed: options.scheduleSpeed,
            onError: onScheduleError(logicalId),
          }),
        );
      }
    }
    return sources;
  } catch (error) {
    await Promise.all(sources.map((source) => source.stop()));
    throw error;
  }
}

function queueOf(resources: ResourceMap, arn: string, mappingId: string): LocalResource {
  const queue = resources.findByArn(arn);
  if (queue?.type !== 'AWS::SQS::Queue') {
    throw new Error(`${mappingId}: only an SQS queue can be the on-failure destination locally, not ${arn}.`);
  }
  return queue;
}

function sendToQueue(clients: LocalClients, queue: LocalResource) {
  return async (record: unknown) => {
    await clients.sqs.send(
      new SendMessageCommand({ QueueUrl: queue.ref, MessageBody: JSON.stringify(record) }),
    );
  };
}
