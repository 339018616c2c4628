// Styles in a fleet (STILLFRAME_REDIS_URL): two in-process servers on one real redis-server share the
// styles of every bucket — put on node A, read, replaced and deleted on node B — and the 50-style limit
// holds across nodes under concurrent puts (the count check and the write are one Lua script).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis } from '../support/fleet.js';
import { findBinary, stopAll } from '../support/processes.js';
import { startServer, type TestServer } from '../support/server.js';

const redisServer = findBinary('redis-server', '/usr/bin/redis-server');
if (!redisServer) console.warn('SKIPPED: the fleet style tests need redis-server (apt-get install redis-server; .ci/run installs it)');

const styleBody = (content: string) => `<Style><Content>${content}</Content></Style>`;
const names = (xml: string) => [...xml.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]!);
const contents = (xml: string) => [...xml.matchAll(/<Content>([^<]*)<\/Content>/g)].map((m) => m[1]!);

describe.skipIf(!redisServer)('styles on two nodes, one Redis', () => {
  let a: TestServer;
  let b: TestServer;
  let redisUrl: string;
  const PREFIX = 'styles-fleet';

  beforeAll(async () => {
    redisUrl = (await startRedis()).url;
    const env = { STILLFRAME_REDIS_URL: redisUrl, STILLFRAME_REDIS_PREFIX: PREFIX };
    [a, b] = await Promise.all([startServer({ env }), startServer({ env })]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await stopAll();
  });

  const put = (node: TestServer, bucket: string, name: string, content: string) =>
    fetch(`${node.url}/${bucket}?style&styleName=${name}`, { method: 'PUT', body: styleBody(content) });

  it('a style put on node A is seen, replaced and deleted on node B', async () => {
    expect((await put(a, 'media', 'thumb', 'image/resize,w_100'))).toMatchObject({ status: 200 });
    const got = await fetch(`${b.url}/media?style&styleName=thumb`);
    expect(got.status).toBe(200);
    const text = await got.text();
    expect(names(text)).toEqual(['thumb']);
    expect(contents(text)).toEqual(['image/resize,w_100']);
    expect(text).toMatch(/<CreateTime>\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT<\/CreateTime>/);

    expect((await put(b, 'media', 'thumb', 'image/resize,w_200')).status).toBe(200);
    expect(contents(await (await fetch(`${a.url}/media?style`)).text())).toEqual(['image/resize,w_200']);

    // Kept in Redis as a hash per bucket under the deployment's prefix.
    const redis = new Redis(redisUrl);
    try {
      expect(await redis.hkeys(`${PREFIX}:styles:media`)).toEqual(['thumb']);
    } finally {
      redis.disconnect();
    }

    expect((await fetch(`${b.url}/media?style&styleName=thumb`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${a.url}/media?style&styleName=thumb`)).status).toBe(404);
  });

  it('50 styles per bucket across the fleet, however the puts interleave', async () => {
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => put(i % 2 ? a : b, 'full', `s${i}`, `image/resize,w_${i + 1}`)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 400)).toHaveLength(10);
    for (const r of answers) await r.body?.cancel();
    expect(names(await (await fetch(`${b.url}/full?style`)).text())).toHaveLength(50);
    // Replacing one of them is still allowed at the limit.
    const kept = names(await (await fetch(`${a.url}/full?style`)).text())[0]!;
    expect((await put(b, 'full', kept, 'image/resize,w_999')).status).toBe(200);
  });
});
