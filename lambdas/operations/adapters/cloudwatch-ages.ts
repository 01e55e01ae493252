import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { type OldestAgeReader, queueNameOf } from '../domain/queues';

/** The window of CloudWatch's ApproximateAgeOfOldestMessage that is read in AWS. */
export const AGE_METRIC_WINDOW_MS = 5 * 60_000;

/**
 * In AWS: SQS has no attribute for the oldest message's age, so it is CloudWatch's ApproximateAgeOfOldestMessage
 * (AWS/SQS, by QueueName), the Maximum of its newest one-minute datapoint in the last 5 minutes. SQS publishes it
 * every minute, so it may be a minute or more behind; a queue with no datapoint in the window shows n/a.
 */
export function cloudWatchAges(cloudwatch: Pick<CloudWatchClient, 'send'>): OldestAgeReader {
  return {
    source: 'cloudwatch',
    read: async (queueUrls, now) => {
      const queries: MetricDataQuery[] = queueUrls.map((url, index) => ({
        Id: `q${index}`,
        ReturnData: true,
        MetricStat: {
          Metric: {
            Namespace: 'AWS/SQS',
            MetricName: 'ApproximateAgeOfOldestMessage',
            Dimensions: [{ Name: 'QueueName', Value: queueNameOf(url) }],
          },
          Period: 60,
          Stat: 'Maximum',
        },
      }));
      const seconds = new Map<string, number>();
      let nextToken: string | undefined;
      do {
        const answer = await cloudwatch.send(
          new GetMetricDataCommand({
            MetricDataQueries: queries,
            StartTime: new Date(now - AGE_METRIC_WINDOW_MS),
            EndTime: new Date(now),
            ScanBy: 'TimestampDescending',
            NextToken: nextToken,
          }),
        );
        for (const result of answer.MetricDataResults ?? []) {
          const url = queueUrls[Number(result.Id?.slice(1))];
          const newest = result.Values?.[0];
          if (url !== undefined && newest !== undefined && !seconds.has(url))
            seconds.set(url, Math.round(newest));
        }
        nextToken = answer.NextToken;
      } while (nextToken);
      return { seconds, unknownReason: 'no CloudWatch datapoint in the last 5 minutes' };
    },
  };
}
