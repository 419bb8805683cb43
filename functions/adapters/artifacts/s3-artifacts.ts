import { Readable } from 'node:stream';
import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { artifactKey } from '../../core/downloads.js';
import type { ArtifactStore } from '../../core/ports.js';

/** DeleteObjects takes at most 1000 keys per call. */
const DELETE_BATCH = 1000;

/**
 * Artefacts in a private bucket (its default encryption applies): `s3://<bucket>/<session_id>/<name>`.
 * Bodies of unknown length go up as multipart uploads, at most two 8 MiB parts in memory at once.
 */
export class S3Artifacts implements ArtifactStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async write(sessionId: string, name: string, body: NodeJS.ReadableStream): Promise<string> {
    const key = artifactKey(sessionId, name);
    const upload = new Upload({
      client: this.s3,
      params: { Bucket: this.bucket, Key: key, Body: body instanceof Readable ? body : new Readable().wrap(body) },
      queueSize: 2,
      partSize: 8 * 1024 * 1024,
    });
    await upload.done();
    return `s3://${this.bucket}/${key}`;
  }

  async removeSession(sessionId: string): Promise<void> {
    const prefix = `${artifactKey(sessionId)}/`;
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const keys = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
      for (let i = 0; i < keys.length; i += DELETE_BATCH) {
        const result = await this.s3.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.slice(i, i + DELETE_BATCH), Quiet: true },
          }),
        );
        const [failure] = result.Errors ?? [];
        if (failure)
          throw new Error(`cannot delete s3://${this.bucket}/${failure.Key}: ${failure.Code} ${failure.Message}`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
