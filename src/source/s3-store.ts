// S3-compatible storage (AWS S3, MinIO, Cloudflare R2, Alibaba OSS through its S3 API) with the maintained
// AWS SDK v3: buckets and keys map 1:1. Path-style requests when an endpoint is set (most S3-compatible
// servers, and any on an IP address, have no per-bucket host names). Uploads go through lib-storage:
// one PUT for small bodies, multipart (8 MiB parts, two in flight) for streams up to 5 GB — atomic either
// way, the object appears only when complete.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { AppError, errors } from '../errors.js';
import { contentTypeFor, validateBucket, validateKey, type ObjectStat, type ObjectStore } from './store.js';
import { sliceStream } from './streams.js';

export interface S3StoreOptions {
  /** Undefined = AWS (virtual-hosted requests). */
  endpoint: string | undefined;
  region: string;
  /** Undefined = the SDK's default credential chain. */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Connect deadline and longest silence of an open request (headers or body). */
  timeoutMs: number;
}

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** SDK failures → the catalogue: NoSuchKey/NoSuchBucket 404, AccessDenied 403, changed 412, timeouts 504, else 502. */
export function mapS3Error(err: unknown, bucket: string, key: string, what: string): unknown {
  if (err instanceof AppError) return err;
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (name === 'AbortError') return err;
  if (name === 'NoSuchBucket') return errors.noSuchBucket(bucket);
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return errors.noSuchKey(key);
  if (['AccessDenied', 'Forbidden', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken'].includes(name) || status === 403 || status === 401) {
    return errors.accessDenied(`The S3 service refused ${what} of ${bucket}/${key} (${name || status}).`, err);
  }
  if (name === 'PreconditionFailed' || status === 412) return errors.objectChanged(key);
  if (name === 'TimeoutError' || name === 'RequestTimeout' || e.code === 'ETIMEDOUT' || status === 504) {
    return errors.originTimeout(`The S3 service did not answer ${what} of ${bucket}/${key} in time.`, err);
  }
  return errors.originFailed(`The S3 service failed ${what} of ${bucket}/${key} (${name || status || 'error'}).`, err);
}

export function createS3Store(options: S3StoreOptions): ObjectStore {
  const agent = { keepAlive: true, maxSockets: 64 };
  const config: S3ClientConfig = {
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 3,
    // The SDK's default since 2025 (CRC32 trailers, aws-chunked uploads) is not understood by many
    // S3-compatible servers; checksums are sent and checked where an operation requires them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
      httpAgent: new HttpAgent(agent),
      httpsAgent: new HttpsAgent(agent),
    },
  };
  const client = new S3Client(config);
  const description = options.endpoint ? `s3:// at ${new URL(options.endpoint).origin}` : `s3:// (AWS, ${options.region})`;

  async function head(bucket: string, key: string): Promise<ObjectStat> {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        size: out.ContentLength ?? 0,
        etag: out.ETag ?? `"${out.LastModified?.getTime() ?? 0}-${out.ContentLength ?? 0}"`,
        lastModified: out.LastModified ?? new Date(0),
        contentType: out.ContentType ?? contentTypeFor(key),
      };
    } catch (err) {
      const mapped = mapS3Error(err, bucket, key, 'HEAD');
      // HEAD has no body to say which is missing: ask about the bucket only when the object is.
      if (mapped instanceof AppError && mapped.code === 'NoSuchKey') {
        try {
          await client.send(new HeadBucketCommand({ Bucket: bucket }));
        } catch (bucketErr) {
          const status = (bucketErr as SdkError).$metadata?.httpStatusCode;
          if (status === 404 || (bucketErr as SdkError).name === 'NotFound' || (bucketErr as SdkError).name === 'NoSuchBucket') {
            throw errors.noSuchBucket(bucket);
          }
        }
      }
      throw mapped;
    }
  }

  return {
    description,
    async stat(bucket, key) {
      validateBucket(bucket);
      validateKey(key);
      return head(bucket, key);
    },
    async read(bucket, key, range, readOptions) {
      validateBucket(bucket);
      validateKey(key);
      try {
        const out = await client.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: key,
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
            ...(readOptions?.ifMatch ? { IfMatch: readOptions.ifMatch } : {}),
          }),
          readOptions?.signal ? { abortSignal: readOptions.signal } : {},
        );
        const body = out.Body as Readable | undefined;
        if (!body) throw errors.originFailed(`The S3 service sent no body for ${bucket}/${key}.`);
        // Servers without If-Match support (s3rver) still say which version they sent.
        if (readOptions?.ifMatch && out.ETag && out.ETag !== readOptions.ifMatch) {
          body.destroy();
          throw errors.objectChanged(key);
        }
        if (!range) return body;
        // Exactly the range, even from a server that answers a range with more (s3rver: bytes=0-0).
        const sentFrom = Number(/bytes\s+(\d+)-/.exec(out.ContentRange ?? '')?.[1] ?? 0);
        return sliceStream(body, range.start - sentFrom, range.end - range.start + 1);
      } catch (err) {
        throw mapS3Error(err, bucket, key, 'GET');
      }
    },
    async write(bucket, key, body, contentType) {
      validateBucket(bucket);
      validateKey(key);
      try {
        const upload = new Upload({
          client,
          params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType ?? contentTypeFor(key) },
          partSize: 8 * 1024 * 1024,
          queueSize: 2,
          leavePartsOnError: false,
        });
        await upload.done();
      } catch (err) {
        throw mapS3Error(err, bucket, key, 'PUT');
      }
      return head(bucket, key);
    },
  };
}
