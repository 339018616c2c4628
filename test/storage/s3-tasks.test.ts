// IMM tasks against S3: capture workers read the sources through the read bridge and outputs are written to the
// S3 bucket through the adapter.
import { readFile } from 'node:fs/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, readFrameIndex } from '../support/fixtures.js';
import { startApp, startS3, type AppServer, type S3Server } from '../support/storage.js';

describe('IMM task on S3 storage', () => {
  let s3: S3Server;
  let app: AppServer;
  beforeAll(async () => {
    s3 = await startS3();
    await s3.createBucket('media');
    await s3.createBucket('out');
    await s3.put('media', 'clip.mp4', await readFile(await fixture({ container: 'mp4', codec: 'h264' })));
    // STILLFRAME_DEMO creates the spec's sample project "test-project".
    app = await startApp({ ...s3.env, STILLFRAME_DEMO: 'true' });
  });
  afterAll(async () => {
    await app?.close();
    await s3?.close();
  });

  it('captures frames from an S3 source into an S3 bucket', async () => {
    const call = async (action: string, params: Record<string, unknown>) => {
      const res = await fetch(`${app.url}/?Action=${action}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(params) });
      return (await res.json()) as Record<string, any>;
    };
    const created = await call('CreateMediaConvertTask', {
      ProjectName: 'test-project',
      Sources: [{ URI: 'oss://media/clip.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'png', StartTime: 1, Interval: 1, Number: 2, URI: 'oss://out/clip/{index}.png' }] } }],
    });
    expect(created.TaskId, JSON.stringify(created)).toBeTruthy();
    let task: Record<string, any>;
    for (;;) {
      task = await call('GetTask', { ProjectName: 'test-project', TaskId: created.TaskId, TaskType: 'MediaConvert' });
      if (task.Status !== 'Running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(task.Status, JSON.stringify(task)).toBe('Succeeded');
    const indices: number[] = [];
    for (const name of ['clip/1.png', 'clip/2.png']) {
      const out = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: name }));
      indices.push(await readFrameIndex(Buffer.from(await out.Body!.transformToByteArray())));
    }
    expect(indices).toEqual([25, 50]);
  });
});
