import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DATAFEED_CONTENT_TYPE } from '../domain/datafeed';
import type { DatafeedStore } from '../domain/runs/ports';

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

/**
 * A client for the datafeeds bucket: path-style addressing for the local S3 emulator (the SDK's own
 * AWS_ENDPOINT_URL_S3 points it there), virtual-hosted (the default) in AWS.
 */
export function datafeedsS3Client(): S3Client {
  return new S3Client({ forcePathStyle: process.env.AWS_ENDPOINT_URL_S3 !== undefined });
}
