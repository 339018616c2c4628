// IMM tasks against S3: capture workers read the sources through the read bridge and outputs are written to the
// S3 bucket through the adapter.
import { readFile } from 'node:fs/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, readFrameIndex } from '../support/fixtures.js';
import { startS3, type S3Server } from '../support/storage.js';
import { startServer, type TestServer } from '../support/server.js';

describe('IMM task on S3 storage', () => {
  let s3: S3Server;
  let app: TestServer;
  beforeAll(async () => {
    s3 = await startS3();
    await s3.createBucket('media');
    await s3.createBucket('out');
    await s3.put('media', 'clip.mp4', await readFile(await fixture({ container: 'mp4', codec: 'h264' })));
    // STILLFRAME_DEMO creates the spec's sample project "test-project".
    app = await startServer({ env: { ...s3.env, STILLFRAME_DEMO: 'true' } });
  });
  afterAll(async () => {
    await app?.close();
    await s3?.close();
  });

  it('captures frames from an S3 source into an S3 bucket', async () => {
    const task = await app.run({
      ProjectName: 'test-project',
      Sources: [{ URI: 'oss://media/clip.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'png', StartTime: 1, Interval: 1, Number: 2, URI: 'oss://out/clip/{index}.png' }] } }],
    });
    expect(task.Status, JSON.stringify(task)).toBe('Succeeded');
    const indices: number[] = [];
    for (const name of ['clip/1.png', 'clip/2.png']) {
      const out = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: name }));
      indices.push(await readFrameIndex(Buffer.from(await out.Body!.transformToByteArray())));
    }
    expect(indices).toEqual([25, 50]);
  });
});
