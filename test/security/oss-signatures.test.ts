// Private buckets and OSS signatures, end to end with URLs and requests made by the official ali-oss
// client (6.23): V1 and V4 presigned URLs (with a signed x-oss-process), the V1 and V4 Authorization
// headers (GET, HEAD, PUT), and every way a signature can be wrong.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fixture, readFrameIndex } from '../support/fixtures.js';
import { ossClient } from '../support/oss-client.js';
import { startServer, type TestServer } from '../support/server.js';

const AK = 'LTAI-test-key';
const SECRET = 'test-secret-value-0123456789';
const AK2 = 'LTAI-demo-only';
const SECRET2 = 'second-secret';

let base: string; // http://localhost:PORT (ali-oss V1 refuses IP endpoints)
let server: TestServer;
const TEXT = Buffer.from('private bytes');

beforeAll(async () => {
  const video = await fixture({ container: 'mp4', codec: 'h264', seconds: 4 });
  server = await startServer({
    objects: { 'media/clip.mp4': video, 'demo/clip.mp4': video, 'media/dir/a b.txt': TEXT, 'other/x.txt': TEXT },
    env: {
      STILLFRAME_ACCESS_KEYS: `${AK}:${SECRET},${AK2}:${SECRET2}`,
      STILLFRAME_BUCKET_ACL: 'demo:public-read,media:private',
      STILLFRAME_KEY_BUCKETS: `${AK2}:demo`,
      STILLFRAME_ALLOW_PUT: 'true',
      STILLFRAME_DOMAIN: 'img.test',
    },
    // Bound to "localhost" so that the client's resolution of localhost reaches it whatever the order.
    hostname: 'localhost',
  });
  base = server.url;
});

afterAll(() => server?.close());

const client = (bucket: string, options: { ak?: string; secret?: string; v4?: boolean } = {}) =>
  ossClient(base, { ak: options.ak ?? AK, secret: options.secret ?? SECRET }, bucket, options);

async function expectOssError(res: Response, status: number, code: string, message?: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/xml');
  const body = await res.text();
  expect(body).toContain(`<Code>${code}</Code>`);
  expect(body).toMatch(/<RequestId>[0-9A-F]{24}<\/RequestId>/);
  if (message) expect(body).toMatch(message);
  // Nothing secret comes back.
  expect(body).not.toContain(SECRET);
}

describe('bucket ACL, anonymous requests', () => {
  it('a public-read bucket is readable without a signature', async () => {
    const res = await fetch(`${base}/demo/clip.mp4?x-oss-process=video/snapshot,t_1000,f_jpg,w_160`);
    expect(res.status).toBe(200);
    expect(await readFrameIndex(Buffer.from(await res.arrayBuffer()))).toBe(25);
  });

  it('a private bucket refuses unsigned GET, HEAD and snapshot requests, existing object or not', async () => {
    await expectOssError(await fetch(`${base}/media/clip.mp4`), 403, 'AccessDenied', /bucket acl/);
    await expectOssError(await fetch(`${base}/media/clip.mp4?x-oss-process=video/snapshot,t_1000`), 403, 'AccessDenied');
    await expectOssError(await fetch(`${base}/media/no-such-object.mp4`), 403, 'AccessDenied');
    const head = await fetch(`${base}/media/clip.mp4`, { method: 'HEAD' });
    expect(head.status).toBe(403);
  });

  it('a bucket the ACL does not list is private once keys exist', async () => {
    await expectOssError(await fetch(`${base}/other/x.txt`), 403, 'AccessDenied');
  });

  it('an unsigned PUT is refused even to a public-read bucket', async () => {
    const res = await fetch(`${base}/demo/new.txt`, { method: 'PUT', body: 'x' });
    await expectOssError(res, 403, 'AccessDenied');
  });
});

describe('V1 presigned URLs (signatureUrl)', () => {
  it('signed x-oss-process URL → the frame', async () => {
    const url = client('media').signatureUrl('clip.mp4', { expires: 600, process: 'video/snapshot,t_1000,f_jpg,w_160' });
    expect(url).toContain('OSSAccessKeyId=');
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(await readFrameIndex(Buffer.from(await res.arrayBuffer()))).toBe(25);
  });

  it('a key with a space and a slash, plain object', async () => {
    const res = await fetch(client('media').signatureUrl('dir/a b.txt', { expires: 600 }));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(TEXT);
  });

  it('changing x-oss-process breaks the signature', async () => {
    const url = new URL(client('media').signatureUrl('clip.mp4', { expires: 600, process: 'video/snapshot,t_1000,f_jpg,w_160' }));
    url.searchParams.set('x-oss-process', 'video/snapshot,t_2000,f_jpg,w_160');
    await expectOssError(await fetch(url), 403, 'SignatureDoesNotMatch');
    // Adding one where none was signed, too.
    const plain = new URL(client('media').signatureUrl('clip.mp4', { expires: 600 }));
    plain.searchParams.set('x-oss-process', 'video/snapshot,t_0');
    await expectOssError(await fetch(plain), 403, 'SignatureDoesNotMatch');
  });

  it('another object, another bucket, a tampered Expires → SignatureDoesNotMatch', async () => {
    const url = new URL(client('media').signatureUrl('clip.mp4', { expires: 600 }));
    await expectOssError(await fetch(url.href.replace('/media/clip.mp4', '/media/dir/a%20b.txt')), 403, 'SignatureDoesNotMatch');
    url.searchParams.set('Expires', String(Number(url.searchParams.get('Expires')) + 100000));
    await expectOssError(await fetch(url), 403, 'SignatureDoesNotMatch');
  });

  it('expired → 403 "Request has expired."', async () => {
    const url = client('media').signatureUrl('clip.mp4', { expires: -60 });
    await expectOssError(await fetch(url), 403, 'AccessDenied', /Request has expired\./);
  });

  it('works until it expires, then the same URL is refused (replay past expiry)', async () => {
    const url = client('media').signatureUrl('dir/a b.txt', { expires: 1 });
    expect((await fetch(url)).status).toBe(200);
    const expires = Number(new URL(url).searchParams.get('Expires'));
    await new Promise((r) => setTimeout(r, Math.max(0, expires * 1000 - Date.now()) + 1100));
    await expectOssError(await fetch(url), 403, 'AccessDenied', /Request has expired\./);
  });

  it('wrong secret → SignatureDoesNotMatch; unknown key → InvalidAccessKeyId', async () => {
    await expectOssError(await fetch(client('media', { secret: 'wrong' }).signatureUrl('clip.mp4')), 403, 'SignatureDoesNotMatch');
    await expectOssError(await fetch(client('media', { ak: 'nobody' }).signatureUrl('clip.mp4')), 403, 'InvalidAccessKeyId');
  });

  it('a key restricted by STILLFRAME_KEY_BUCKETS cannot read other private buckets', async () => {
    const own = await fetch(client('demo', { ak: AK2, secret: SECRET2 }).signatureUrl('clip.mp4', { process: 'video/snapshot,t_0,w_64' }));
    expect(own.status).toBe(200);
    await expectOssError(await fetch(client('media', { ak: AK2, secret: SECRET2 }).signatureUrl('clip.mp4')), 403, 'AccessDenied', /may not read/);
  });

  it('duplicate signature parameters are refused', async () => {
    const url = client('media').signatureUrl('clip.mp4', { expires: 600 });
    await expectOssError(await fetch(`${url}&Signature=AAAA`), 403, 'AccessDenied');
  });
});

describe('virtual-hosted URLs (Host: bucket.<domain>)', () => {
  it('V1 and V4 signatures cover /bucket/key whichever style the URL uses', async () => {
    const v1 = new URL(client('media').signatureUrl('dir/a b.txt', { expires: 600 }));
    const v4 = new URL(await client('media', { v4: true }).signatureUrlV4('GET', 600, {}, 'dir/a b.txt'));
    for (const url of [v1, v4]) {
      const path = url.pathname.replace(/^\/media/, '') + url.search;
      const res = await request(`${base}${path}`, { headers: { host: 'media.img.test' } });
      expect(res.statusCode).toBe(200);
      expect(Buffer.from(await res.body.arrayBuffer())).toEqual(TEXT);
      // The same signature for another bucket's host is refused.
      const other = await request(`${base}${path}`, { headers: { host: 'other.img.test' } });
      expect(other.statusCode).toBe(403);
      await other.body.text();
    }
  });
});

describe('V4 presigned URLs (signatureUrlV4)', () => {
  it('signed x-oss-process URL → the frame', async () => {
    const url = await client('media', { v4: true }).signatureUrlV4('GET', 600, { queries: { 'x-oss-process': 'video/snapshot,t_1000,f_png,w_160' } }, 'clip.mp4');
    expect(url).toContain('x-oss-signature-version=OSS4-HMAC-SHA256');
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(await readFrameIndex(Buffer.from(await res.arrayBuffer()))).toBe(25);
  });

  it('a key with a space', async () => {
    const res = await fetch(await client('media', { v4: true }).signatureUrlV4('GET', 600, {}, 'dir/a b.txt'));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(TEXT);
  });

  it('tampered process, date or expiry → SignatureDoesNotMatch', async () => {
    const signed = await client('media', { v4: true }).signatureUrlV4('GET', 600, { queries: { 'x-oss-process': 'video/snapshot,t_1000' } }, 'clip.mp4');
    for (const [name, value] of [['x-oss-process', 'video/snapshot,t_1001'], ['x-oss-expires', '601']] as const) {
      const url = new URL(signed);
      url.searchParams.set(name, value);
      await expectOssError(await fetch(url), 403, 'SignatureDoesNotMatch');
    }
    const url = new URL(signed);
    url.searchParams.set('x-oss-signature', '0'.repeat(64));
    await expectOssError(await fetch(url), 403, 'SignatureDoesNotMatch');
  });

  it('expired → 403 "Request has expired."', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 2 * 3600_000 });
    let url: string;
    try {
      url = await client('media', { v4: true }).signatureUrlV4('GET', 60, {}, 'clip.mp4');
    } finally {
      vi.useRealTimers();
    }
    await expectOssError(await fetch(url), 403, 'AccessDenied', /Request has expired\./);
  });

  it('wrong secret and unknown key', async () => {
    await expectOssError(await fetch(await client('media', { v4: true, secret: 'nope' }).signatureUrlV4('GET', 600, {}, 'clip.mp4')), 403, 'SignatureDoesNotMatch');
    await expectOssError(await fetch(await client('media', { v4: true, ak: 'nobody' }).signatureUrlV4('GET', 600, {}, 'clip.mp4')), 403, 'InvalidAccessKeyId');
  });
});

describe('Authorization header forms (ali-oss get/head/put)', () => {
  for (const v4 of [false, true]) {
    const form = v4 ? 'OSS4-HMAC-SHA256' : 'OSS (V1)';
    it(`${form}: GET, HEAD, and a snapshot`, async () => {
      const oss = client('media', { v4 });
      const got = await oss.get('dir/a b.txt');
      expect(got.res.status).toBe(200);
      expect(got.content).toEqual(TEXT);
      const head = await oss.head('clip.mp4');
      expect(head.res.status).toBe(200);
      const frame = await oss.get('clip.mp4', { process: 'video/snapshot,t_1000,f_jpg,w_160' });
      expect(await readFrameIndex(frame.content!)).toBe(25);
    });

    it(`${form}: PUT to a private bucket, then read back signed`, async () => {
      const oss = client('media', { v4 });
      const body = Buffer.from(`uploaded ${form}`);
      const put = await oss.put(`up/${v4 ? 'v4' : 'v1'}.txt`, body);
      expect(put.res.status).toBe(200);
      expect((await oss.get(`up/${v4 ? 'v4' : 'v1'}.txt`)).content).toEqual(body);
    });

    it(`${form}: wrong secret → 403; a restricted key cannot write elsewhere`, async () => {
      await expect(client('media', { v4, secret: 'wrong' }).get('dir/a b.txt')).rejects.toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
      await expect(client('media', { v4, ak: AK2, secret: SECRET2 }).put('x.txt', Buffer.from('x'))).rejects.toMatchObject({ status: 403, code: 'AccessDenied' });
    });
  }

  it('a stale Date header → RequestTimeTooSkewed', async () => {
    const res = await fetch(`${base}/media/clip.mp4`, { headers: { authorization: `OSS ${AK}:AAAA`, date: new Date(Date.now() - 3600_000).toUTCString() } });
    await expectOssError(res, 403, 'RequestTimeTooSkewed');
  });

  it('a foreign Authorization scheme → AccessDenied', async () => {
    await expectOssError(await fetch(`${base}/media/clip.mp4`, { headers: { authorization: 'Bearer abc' } }), 403, 'AccessDenied');
  });
});
