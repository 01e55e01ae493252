import type { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { alignColumns, formatAge, formatStatus, progressBar } from '../../cli/status/format';
import type { PipelineStatus } from '../../cli/status/read-status';
import { cloudWatchAges } from '../../cli/status/sources/cloudwatch';
import { queueNameOf } from '../../cli/status/sources/sqs';
import { isPastDeadline } from '../../cli/status/sources/subscription-run';
import type { SubscriptionRun } from '../../cli/subscription-runs';

const RUN: SubscriptionRun = {
  runId: '2026-01-15',
  status: 'running',
  total: 10,
  succeeded: 3,
  failed: 1,
  pending: 6,
  startedAt: '2026-01-15T00:05:01.000Z',
  updatedAt: '2026-01-15T00:06:00.000Z',
  deadlineAt: '2026-01-15T06:05:00.000Z',
  ratePerMinute: 2,
  etaSeconds: 180,
};

describe('pipeline status: the pieces', () => {
  it('reads the newest CloudWatch ApproximateAgeOfOldestMessage of each queue, by queue name, in one call', async () => {
    const sent: GetMetricDataCommand[] = [];
    const cloudwatch = {
      send: async (command: GetMetricDataCommand) => {
        sent.push(command);
        return {
          MetricDataResults: [
            { Id: 'q0', Values: [42.4, 30], Timestamps: [] },
            { Id: 'q1', Values: [], Timestamps: [] },
          ],
        };
      },
    };
    const urls = [
      'https://sqs.eu-west-1.amazonaws.com/123456789012/CommercePipeline-DeliveriesQueue99C7B338-abc',
      'https://sqs.eu-west-1.amazonaws.com/123456789012/CommercePipeline-DeliveriesDeadLetterQueueC4B61502-def',
    ];
    const now = Date.parse('2026-01-15T10:00:00Z');

    const ages = await cloudWatchAges(cloudwatch as never).read(urls, now);

    expect([...ages.seconds]).toEqual([[urls[0], 42]]);
    expect(ages.unknownReason).toContain('no CloudWatch datapoint');
    expect(sent).toHaveLength(1);
    const input = sent[0]?.input;
    expect(input?.StartTime).toEqual(new Date(now - 5 * 60_000));
    expect(input?.ScanBy).toBe('TimestampDescending');
    expect(input?.MetricDataQueries?.[1]).toEqual({
      Id: 'q1',
      ReturnData: true,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [
            { Name: 'QueueName', Value: 'CommercePipeline-DeliveriesDeadLetterQueueC4B61502-def' },
          ],
        },
        Period: 60,
        Stat: 'Maximum',
      },
    });
  });

  it('names a queue by the last segment of its URL', () => {
    expect(queueNameOf('http://127.0.0.1:4566/000000000000/t1-DeliveriesQueue99C7B338')).toBe(
      't1-DeliveriesQueue99C7B338',
    );
  });

  it.each([
    [0, '0s'],
    [59.9, '59s'],
    [185, '3m 05s'],
    [7_800, '2h 10m'],
    [6 * 86_400 + 3_600, '6d 01h'],
  ])('formats an age of %s seconds as %s', (seconds, text) => {
    expect(formatAge(seconds)).toBe(text);
  });

  it('counts a run past its deadline only while it is not completed', () => {
    const after = Date.parse('2026-01-15T06:05:01Z');
    expect(isPastDeadline(RUN, after)).toBe(true);
    expect(isPastDeadline(RUN, Date.parse('2026-01-15T06:04:59Z'))).toBe(false);
    expect(isPastDeadline({ ...RUN, status: 'completed' }, after)).toBe(false);
    expect(isPastDeadline({ ...RUN, deadlineAt: undefined }, after)).toBe(false);
  });

  it('draws a bar of done over total, full for a run with nothing to charge', () => {
    expect(progressBar(4, 10)).toBe('[========------------]');
    expect(progressBar(0, 0)).toBe('[====================]');
    expect(progressBar(12, 10)).toBe('[====================]');
  });

  it('aligns columns, numbers to the right, without trailing spaces', () => {
    expect(
      alignColumns(
        [
          ['QUEUE', 'DLQ', 'OLDEST'],
          ['notifications', '12', '3m 05s'],
          ['runs', '0', '-'],
        ],
        ['left', 'right', 'left'],
      ),
    ).toEqual(['QUEUE          DLQ  OLDEST', 'notifications   12  3m 05s', 'runs             0  -']);
  });

  it('shows sections that could not be read, and an unknown age as n/a with its reason', () => {
    const state = { url: 'u', visible: 1, inFlight: 0, delayed: 0, total: 1 };
    const status: PipelineStatus = {
      target: 'stack CommercePipeline',
      at: '2026-01-15T10:00:00.000Z',
      ageSource: 'cloudwatch',
      queues: {
        state: 'ok',
        value: [
          {
            name: 'runs',
            queue: {
              ...state,
              oldestAgeSeconds: null,
              oldestAgeUnknown: 'no CloudWatch datapoint in the last 5 minutes',
            },
            deadLetterQueue: { ...state, visible: 0, total: 0, oldestAgeSeconds: null },
          },
        ],
      },
      run: { state: 'error', error: 'fetch failed (ECONNREFUSED)' },
      failingEndpoints: {
        state: 'unavailable',
        reason: 'stack CommercePipeline has no WebhooksTableName output',
      },
      attention: ['the subscription run could not be read: fetch failed (ECONNREFUSED)'],
      redriveCommand: 'npx pipeline --stack CommercePipeline redrive',
    };

    const text = formatStatus(status);

    expect(text).toContain('  runs         1          0        0  n/a       0  -');
    expect(text).toContain('n/a: the age is unknown: no CloudWatch datapoint in the last 5 minutes.');
    expect(text).toContain('oldest: CloudWatch ApproximateAgeOfOldestMessage');
    expect(text).toContain('Subscription run\n  ! could not be read: fetch failed (ECONNREFUSED)');
    expect(text).toContain(
      'Failing endpoints\n  not available: stack CommercePipeline has no WebhooksTableName output',
    );
    expect(text).toContain('Needs attention:\n  - the subscription run could not be read');
  });
});
