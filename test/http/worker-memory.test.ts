// The capture workers' memory ceiling (STILLFRAME_WORKER_MAX_MEMORY): a worker above it in the middle
// of a job is killed and replaced, and the request is answered 400 naming the limit (the media asked
// for more than this server allows, as for the pixel and duration limits) — never a hang or a crash of
// the server; one that ends a job above 3/4 of it is replaced between jobs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, SLOW_DECODE, slowDecodeFixture } from '../support/fixtures.js';
import { snapshotUrl, startServer, type TestServer } from '../support/server.js';

let server: TestServer;

const restarts = async (reason: string) => {
  const text = await (await fetch(`${server.url}/_/metrics`)).text();
  return Number(new RegExp(`stillframe_worker_restarts_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

beforeAll(async () => {
  // A ceiling below what an idle worker already holds: every job crosses it.
  server = await startServer({
    objects: { 'media/slow.mp4': await slowDecodeFixture(), 'media/v.mp4': await fixture({ container: 'mp4', codec: 'h264' }) },
    env: { STILLFRAME_WORKER_MAX_MEMORY: '40MB', STILLFRAME_WORKERS: '1' },
  });
});

afterAll(() => server?.close());

describe('worker memory ceiling', () => {
  it('a job that runs above it is stopped: 400 naming the limit, the worker replaced, the server fine', async () => {
    const res = await fetch(snapshotUrl(server, 'media/slow.mp4', `video/snapshot,t_${SLOW_DECODE.lastFrameMs},w_160`));
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text).toContain('needs more than 40 MB, the limit per capture worker');
    expect(await restarts('memory')).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${server.url}/_/health`)).status).toBe(200);
  });

  it('a short job that ends above 3/4 of it is answered, and its worker replaced afterwards', async () => {
    const before = await restarts('recycle');
    const res = await fetch(snapshotUrl(server, 'media/v.mp4', 'video/snapshot,t_1000,w_64'));
    expect(res.status).toBe(200);
    expect(await restarts('recycle')).toBe(before + 1);
  });
});
