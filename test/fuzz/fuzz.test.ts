// Parser fuzzing, in process (app.request): generated and mutated x-oss-process strings and object URLs,
// and IMM requests (mutated JSON and form bodies). Every answer must be a 2xx/3xx or a 4xx with a
// well-formed error body — never a 5xx. Valid process strings are also run for real (capture workers) on a
// small video. FUZZ_SCALE multiplies the counts (npm run test:stress runs it ×5 with other seeds).
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSnapshotProcess } from '../../src/process/snapshot.js';
import { fixture } from '../support/fixtures.js';
import { startServer, type TestServer } from '../support/server.js';
import { parseErrorXml } from '../support/xml.js';
import { encodeAny, fuzzImageProcess, fuzzImmRequest, fuzzObjectUrl, prng, validProcess } from './fuzz-gen.js';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const OBJECT_REQUESTS = 10_000 * SCALE;
const IMM_REQUESTS = 10_000 * SCALE;
const REAL_CAPTURES = 60 * SCALE;
const IMAGE_REQUESTS = 200 * SCALE;

let server: TestServer;

beforeAll(async () => {
  server = await startServer({
    objects: {
      'fz-bucket/v.mp4': await fixture({ container: 'mp4', codec: 'h264', seconds: 2, width: 160, height: 120 }),
      'fz-bucket/p.jpg': await sharp({ create: { width: 240, height: 160, channels: 3, background: '#4080c0' } }).jpeg().toBuffer(),
    },
    env: { STILLFRAME_TASK_CONCURRENCY: '1', STILLFRAME_QUEUE_LENGTH: '1000', STILLFRAME_QUEUE_TIMEOUT_MS: '120000' },
    projects: ['fuzz'],
  });
});

afterAll(() => server?.close());

const stats = { requests: 0, byStatus: new Map<number, number>() };

async function expectWellFormed(res: Response, kind: 'xml' | 'json', context: string) {
  stats.requests++;
  stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
  const body = await res.text();
  if (res.status >= 500) throw new Error(`${res.status} for ${context}: ${body.slice(0, 300)}`);
  if (res.status < 400) return;
  if (kind === 'xml') {
    expect(res.headers.get('content-type'), context).toBe('application/xml');
    expect(body, context).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error>\n {2}<Code>[A-Za-z.]+<\/Code>\n {2}<Message>[^<]*<\/Message>\n {2}<RequestId>[0-9A-F]{24}<\/RequestId>\n {2}<HostId>[^<]*<\/HostId>\n( {2}<EC>[\d-]+<\/EC>\n)?<\/Error>\n$/s);
    // …and a strict XML 1.0 parser accepts it (no raw control character quoted from the request).
    expect(() => parseErrorXml(body), `${context}: ${JSON.stringify(body)}`).not.toThrow();
  } else {
    const json = JSON.parse(body) as Record<string, unknown>;
    expect(typeof json.Code, context).toBe('string');
    expect(typeof json.Message, context).toBe('string');
    expect(json.RequestId, context).toMatch(/^[0-9A-F]{24}$/);
  }
}

describe('fuzzing', () => {
  it(`${OBJECT_REQUESTS} generated and mutated x-oss-process URLs → never a 5xx`, async () => {
    const rng = prng(SEED);
    for (let i = 0; i < OBJECT_REQUESTS; i++) {
      const path = fuzzObjectUrl(rng, 'fz-bucket');
      const method = rng.chance(0.1) ? 'HEAD' : 'GET';
      let res: Response;
      try {
        res = await server.app.request(path, { method, headers: { host: 'fuzz.local' } });
      } catch (err) {
        // Only the URL constructor may refuse (a malformed URL never reaches a server).
        expect(String(err)).toMatch(/Invalid URL/);
        continue;
      }
      if (method === 'HEAD') {
        expect(res.status, path).toBeLessThan(500);
        stats.requests++;
        continue;
      }
      await expectWellFormed(res, 'xml', path);
    }
  }, 120_000);

  it(`${REAL_CAPTURES} valid generated process strings captured for real`, async () => {
    const rng = prng(SEED + 1);
    const seen = new Set<string>();
    while (seen.size < REAL_CAPTURES) {
      const process = validProcess(rng);
      parseSnapshotProcess(process, { maxOutputDimension: 4096 });
      seen.add(process);
    }
    const list = [...seen];
    for (let i = 0; i < list.length; i += 2) {
      await Promise.all(
        list.slice(i, i + 2).map(async (process) => {
          const res = await server.app.request(`/fz-bucket/v.mp4?x-oss-process=${encodeURIComponent(process)}`);
          expect(res.status, `${process}: ${res.status === 200 ? '' : await res.clone().text()}`).toBe(200);
          expect(res.headers.get('content-type'), process).toMatch(/^image\//);
          stats.requests++;
          await res.arrayBuffer();
        }),
      );
    }
  }, 180_000);

  it(`${IMAGE_REQUESTS} generated and mutated image/ processes, run for real where they parse → never a 5xx`, async () => {
    const rng = prng(SEED + 3);
    for (let i = 0; i < IMAGE_REQUESTS; i++) {
      const process = fuzzImageProcess(rng);
      const object = process.startsWith('video') || process.startsWith('VIDEO') ? 'v.mp4' : 'p.jpg';
      const res = await server.app.request(`/fz-bucket/${object}?x-oss-process=${encodeAny(process)}`, { headers: { host: 'fuzz.local' } });
      await expectWellFormed(res, 'xml', process);
    }
  }, 180_000);

  it(`${IMM_REQUESTS} generated IMM requests → never a 5xx`, async () => {
    const rng = prng(SEED + 2);
    for (let i = 0; i < IMM_REQUESTS; i++) {
      const { body, contentType, query } = fuzzImmRequest(rng, 'oss://fz-bucket/v.mp4');
      const res = await server.app.request(`/${query}`, { method: 'POST', body, headers: contentType ? { 'content-type': contentType, host: 'fuzz.local' } : { host: 'fuzz.local' } });
      await expectWellFormed(res, 'json', `${query} ${body.slice(0, 300)}`);
    }
    await server.deps.tasks.idle();
  }, 180_000);

  it('signed-mode IMM and object requests with mutated signatures → 403s, never a 5xx', async () => {
    // Over the same storage, with access keys.
    const signed = await startServer({ env: { STILLFRAME_STORAGE: `file://${server.root}`, STILLFRAME_ACCESS_KEYS: 'k:s' } });
    const rng = prng(SEED + 3);
    const junk = ['', 'x', '%zz', 'OSS', 'OSS k:', 'OSS k:AAAA', 'OSS4-HMAC-SHA256 ', 'OSS4-HMAC-SHA256 Credential=k/2026/r/oss/aliyun_v4_request,Signature=00', 'OSS4-HMAC-SHA256 Credential=,Signature=', '\u00ff'];
    try {
      for (let i = 0; i < 1000 * SCALE; i++) {
        const q = new URLSearchParams();
        for (const name of ['OSSAccessKeyId', 'Expires', 'Signature', 'x-oss-signature-version', 'x-oss-credential', 'x-oss-date', 'x-oss-expires', 'x-oss-signature', 'x-oss-process']) {
          if (rng.chance(0.3)) q.set(name, rng.pick(['k', 'OSS4-HMAC-SHA256', '99999999999', '0', '-1', '20261122T000000Z', 'k/20261122/cn-hangzhou/oss/aliyun_v4_request', 'video/snapshot,t_0', 'a'.repeat(64), '%', '']));
        }
        const headers: Record<string, string> = { host: 'fuzz.local' };
        if (rng.chance(0.4)) headers.authorization = rng.pick(junk);
        if (rng.chance(0.3)) headers.date = rng.pick([new Date().toUTCString(), 'yesterday', '']);
        if (rng.chance(0.3)) headers['x-oss-date'] = rng.pick(['20261122T000000Z', 'x', '']);
        const method = rng.pick(['GET', 'HEAD', 'PUT']);
        const res = await signed.app.request(`/fz-bucket/v.mp4?${q}`, { method, headers, ...(method === 'PUT' && { body: 'x' }) });
        expect(res.status, q.toString()).toBeLessThan(500);
        stats.requests++;
        const { body, contentType, query } = fuzzImmRequest(rng, 'oss://fz-bucket/v.mp4');
        const form = contentType === 'application/x-www-form-urlencoded' ? `${body}&AccessKeyId=k&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=${i}&Timestamp=${new Date().toISOString()}&Signature=${rng.pick(['x', '', 'AAAA'])}` : body;
        await expectWellFormed(await signed.app.request(`/${query}`, { method: 'POST', body: form, headers: { 'content-type': contentType || 'text/plain', host: 'fuzz.local' } }), 'json', form.slice(0, 200));
      }
    } finally {
      await signed.close();
    }
    // eslint-disable-next-line no-console
    console.log(`fuzz: ${stats.requests} requests; statuses ${JSON.stringify(Object.fromEntries([...stats.byStatus].sort((a, b) => a[0] - b[0])))}`);
  }, 180_000);
});
