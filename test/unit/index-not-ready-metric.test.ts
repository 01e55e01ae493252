import { reportIndexNotReady } from '../../lambdas/platform/metrics';

describe('IndexNotReady metric', () => {
  it('is published at once as an EMF line with the table, index and status', () => {
    process.env.POWERTOOLS_METRICS_NAMESPACE = 'CommercePipeline';
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      reportIndexNotReady('subscriptions', 'byDueDay', 'CREATING');
    } finally {
      write.mockRestore();
    }
    const emf = lines.map((line) => JSON.parse(line)).find((entry) => entry._aws);
    expect(emf).toMatchObject({
      TableName: 'subscriptions',
      GlobalSecondaryIndexName: 'byDueDay',
      IndexStatus: 'CREATING',
      IndexNotReady: 1,
    });
    expect(emf._aws.CloudWatchMetrics[0].Metrics).toEqual([{ Name: 'IndexNotReady', Unit: 'Count' }]);
  });
});
