// No ffmpeg or ffprobe binary is needed, or ever started: the engine is FFmpeg as a library (node-av).
// The server runs as a user starts it, with a PATH whose only ffmpeg and ffprobe are traps that record
// being called — and it generates its demo media, answers exact and keyframe snapshots, plays HLS and
// runs a task; afterwards the traps were never called.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, hlsFixture, readFrameIndex } from '../support/fixtures.js';
import { rpc, startServe, stopAll, tempDir, type Node } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import type { Json } from '../support/json.js';

let node: Node;
let traps: string;
let root: string;

beforeAll(async () => {
  traps = await tempDir('traps');
  for (const name of ['ffmpeg', 'ffprobe']) {
    const path = join(traps, name);
    await writeFile(path, `#!/bin/sh\necho "$0 $*" >> '${join(traps, 'called')}'\nexit 1\n`);
    await chmod(path, 0o755);
  }
  root = await tempDir('no-ffmpeg');
  await mkdir(join(root, 'media', 'show'), { recursive: true });
  await writeFile(join(root, 'media', 'v.mp4'), await readFile(await fixture({ container: 'mp4', codec: 'h264', bframes: 2 })));
  const hls = await hlsFixture();
  await writeFile(join(root, 'media', 'show', hls.playlist), await readFile(join(hls.dir, hls.playlist)));
  for (const segment of hls.segments) await writeFile(join(root, 'media', 'show', segment), await readFile(join(hls.dir, segment)));
  // The traps first on PATH, and /usr/bin (where a distro ffmpeg would be) not on it at all.
  node = await startServe({ PATH: `${traps}:/bin`, STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_DEMO: 'true' });
}, 300_000);

afterAll(stopAll);

const snapshot = async (object: string, process: string) => {
  const res = await fetch(`${node.url}/${object}?x-oss-process=video/snapshot,${process}`);
  expect(res.status).toBe(200);
  return readFrameIndex(Buffer.from(await res.arrayBuffer()));
};

describe('without any ffmpeg binary', () => {
  it('generated the demo media and serves a frame of it', async () => {
    const res = await fetch(`${node.url}/demo/sample.mp4?x-oss-process=video/snapshot,t_2000,f_jpg,w_320`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('x-frame-time')).toBe('2000');
  });

  it('exact and keyframe snapshots, and HLS', async () => {
    expect(await snapshot('media/v.mp4', 't_1530,f_png')).toBe(38);
    expect(await snapshot('media/v.mp4', 't_1530,f_png,m_fast')).toBe(25);
    expect(await snapshot('media/show/index.m3u8', 't_2500,f_png')).toBe(62);
  });

  it('a task', async () => {
    await rpc(node.url, 'CreateProject', { ProjectName: 'p' });
    const { TaskId } = await rpc(node.url, 'CreateMediaConvertTask', {
      ProjectName: 'p',
      Sources: [{ URI: 'oss://media/v.mp4' }],
      Targets: [{ Image: { Snapshots: [{ Format: 'png', Interval: 1, URI: 'oss://media/out/{index}.png' }] } }],
    });
    let task: Json = {};
    await waitFor(async () => {
      task = await rpc(node.url, 'GetTask', { ProjectName: 'p', TaskId, TaskType: 'MediaConvert' });
      return task.Status !== 'Running';
    }, 30_000);
    expect(task.Status, `${task.Code}: ${task.Message}`).toBe('Succeeded');
    const frames = await Promise.all([1, 2, 3, 4].map(async (i) => readFrameIndex(Buffer.from(await (await fetch(`${node.url}/media/out/${i}.png`)).arrayBuffer()))));
    expect(frames).toEqual([0, 25, 50, 75]);
  });

  it('never called ffmpeg or ffprobe', async () => {
    await expect(readFile(join(traps, 'called'), 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
