import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DATAFEED_CONTENT_TYPE } from '../domain/datafeed';
import type { DatafeedStore } from '../domain/runs';

/**
 * Datafeeds in the datafeeds bucket, at `subscriptions/<runId>/<version>/<storeId>.xml`: one object per lease
 * version that wrote it, the completed run naming the one that counts (`subscriptions/<runId>/<storeId>.xml`
 * without a version).
 */
export class S3DatafeedStore implements DatafeedStore {
  constructor(private readonly props: { client: S3Client; bucket: string }) {}

  async put(runId: string, storeId: string, xml: string, version?: number): Promise<void> {
    await this.props.client.send(
      new PutObjectCommand({
        Bucket: this.props.bucket,
        Key: keyOf(runId, storeId, version),
        Body: xml,
        ContentType: `${DATAFEED_CONTENT_TYPE}; charset=utf-8`,
      }),
    );
  }

  async get(runId: string, storeId: string, version?: number): Promise<string | undefined> {
    try {
      const output = await this.props.client.send(
        new GetObjectCommand({ Bucket: this.props.bucket, Key: keyOf(runId, storeId, version) }),
      );
      return (await output.Body?.transformToString('utf-8')) ?? '';
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }
}

function keyOf(runId: string, storeId: string, version: number | undefined): string {
  const store = `${encodeURIComponent(storeId)}.xml`;
  return version === undefined
    ? `subscriptions/${runId}/${store}`
    : `subscriptions/${runId}/${version}/${store}`;
}
