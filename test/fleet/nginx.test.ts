// The shipped nginx/nginx.conf as the CDN tier in front of a real stillframe process: MISS then a HIT
// that never reaches stillframe, 304 revalidation, Range passthrough, and an <img> page in headless
// Chromium (Debian's chromium, driven by playwright-core) showing snapshots at their expected sizes; and
// in front of a private bucket: a header-signed answer never shared, a presigned one kept no longer
// than its signature is valid.
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v1PresignSignature, v1StringToSign } from '../../src/http/oss-auth.js';
import { fixture } from '../support/fixtures.js';
import { nginxBinary, requestCount, SHIPPED_NGINX_CONF, startNginx } from '../support/fleet.js';
import { findBinary, type Node, startServe, stopAll, tempDir } from '../support/processes.js';

const VIDEO = { container: 'mp4', codec: 'h264', fps: 25, seconds: 4, gop: 25, width: 640, height: 360 } as const;
const snapshot = (t: number, w: number) => `/media/v.mp4?x-oss-process=video/snapshot,t_${t},f_jpg,w_${w}`;

let node: Node;
let cdn: string;
const hasNginx = !!nginxBinary();
if (!hasNginx) console.warn('SKIPPED: the CDN-tier tests need nginx (apt-get install nginx; .ci/run installs it)');

beforeAll(async () => {
  if (!hasNginx) return;
  const root = await tempDir('cdn');
  await mkdir(join(root, 'media'), { recursive: true });
  await copyFile(await fixture(VIDEO), join(root, 'media', 'v.mp4'));
  const sizes = [160, 320, 480];
  const page = `<!doctype html><html><body>${sizes.map((w, i) => `<img id="i${i}" src="${snapshot(1000 + i * 500, w)}">`).join('')}</body></html>`;
  await writeFile(join(root, 'media', 'page.html'), page);
  node = await startServe({ STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_LOG_LEVEL: 'warn' });
  cdn = (await startNginx(Number(new URL(node.url).port))).url;
}, 60_000);
afterAll(stopAll);

describe.skipIf(!hasNginx)('the shipped nginx.conf', () => {
  it('passes nginx -t as shipped (-p <writable dir> -c <absolute path>)', async () => {
    const prefix = await tempDir('nginx-t');
    const result = spawnSync(nginxBinary()!, ['-t', '-p', prefix, '-c', SHIPPED_NGINX_CONF], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/syntax is ok/);
  });
});

describe.skipIf(!hasNginx)('nginx in front of stillframe', () => {
  it('serves the second request for a snapshot URL from its cache without reaching stillframe', async () => {
    const before = await requestCount(node.url, 'snapshot');
    const first = await fetch(`${cdn}${snapshot(2000, 200)}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache-status')).toBe('MISS');
    expect(first.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const body1 = Buffer.from(await first.arrayBuffer());
    const second = await fetch(`${cdn}${snapshot(2000, 200)}`);
    expect(second.headers.get('x-cache-status')).toBe('HIT');
    expect(Buffer.from(await second.arrayBuffer()).equals(body1)).toBe(true);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    // One request reached stillframe: the miss.
    expect((await requestCount(node.url, 'snapshot')) - before).toBe(1);
  });

  it('answers If-None-Match with 304 through the cache', async () => {
    const first = await fetch(`${cdn}${snapshot(1500, 120)}`);
    await first.arrayBuffer();
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    const revalidated = await fetch(`${cdn}${snapshot(1500, 120)}`, { headers: { 'if-none-match': etag! } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    // stillframe itself answers a conditional request with 304 as well (what nginx revalidates with).
    const direct = await fetch(`${node.url}${snapshot(1500, 120)}`, { headers: { 'if-none-match': etag! } });
    expect(direct.status).toBe(304);
  });

  it('passes Range requests through for plain objects, miss and hit', async () => {
    const whole = Buffer.from(await (await fetch(`${node.url}/media/v.mp4`)).arrayBuffer());
    for (const expected of ['MISS', 'HIT']) {
      const res = await fetch(`${cdn}/media/v.mp4`, { headers: { range: 'bytes=100-1123' } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes 100-1123/${whole.length}`);
      const part = Buffer.from(await res.arrayBuffer());
      expect(part.equals(whole.subarray(100, 1124))).toBe(true);
      if (expected === 'HIT') expect(res.headers.get('x-cache-status')).toBe('HIT');
    }
  });
});

describe.skipIf(!hasNginx)('nginx in front of a server with a private bucket', () => {
  const AK = 'LTAI-cdn-key';
  const SECRET = 'cdn-secret-0123456789';
  const process = 'video/snapshot,t_1000,f_jpg,w_96';
  const path = `/priv/v.mp4?x-oss-process=${encodeURIComponent(process)}`;
  let keyed: Node;
  let privateCdn: string;

  beforeAll(async () => {
    const root = await tempDir('cdn-private');
    await mkdir(join(root, 'priv'), { recursive: true });
    await copyFile(await fixture(VIDEO), join(root, 'priv', 'v.mp4'));
    keyed = await startServe({ STILLFRAME_STORAGE: `file://${root}`, STILLFRAME_LOG_LEVEL: 'warn', STILLFRAME_ACCESS_KEYS: `${AK}:${SECRET}` });
    privateCdn = (await startNginx(Number(new URL(keyed.url).port))).url;
  }, 60_000);

  const headerSigned = () => {
    const date = new Date().toUTCString();
    const request = { method: 'GET', headers: new Headers(), query: [{ name: 'x-oss-process', value: process }], bucket: 'priv', key: 'v.mp4' };
    const signature = createHmac('sha1', SECRET).update(v1StringToSign(request, date)).digest('base64');
    return { date, authorization: `OSS ${AK}:${signature}` };
  };

  it('a header-signed answer is private: nginx does not keep it, and an unsigned request for the URL is refused', async () => {
    const signed = await fetch(`${privateCdn}${path}`, { headers: headerSigned() });
    expect(signed.status).toBe(200);
    expect(signed.headers.get('cache-control')).toMatch(/^private, max-age=\d+/);
    await signed.arrayBuffer();
    const again = await fetch(`${privateCdn}${path}`, { headers: headerSigned() });
    expect(again.headers.get('x-cache-status')).not.toBe('HIT');
    await again.arrayBuffer();
    expect((await fetch(`${privateCdn}${path}`)).status).toBe(403);
  });

  it('a presigned answer is shared under its own URL, kept no longer than the signature is valid', async () => {
    const expires = Math.floor(Date.now() / 1000) + 120;
    const signature = v1PresignSignature(SECRET, 'priv', 'v.mp4', { 'x-oss-process': process }, String(expires));
    const presigned = `${path}&OSSAccessKeyId=${AK}&Expires=${expires}&Signature=${encodeURIComponent(signature)}`;
    const first = await fetch(`${privateCdn}${presigned}`);
    expect(first.status).toBe(200);
    const maxAge = Number(/max-age=(\d+)/.exec(first.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(100);
    expect(maxAge).toBeLessThanOrEqual(120);
    expect(first.headers.get('cache-control')).not.toMatch(/stale/);
    await first.arrayBuffer();
    const second = await fetch(`${privateCdn}${presigned}`);
    expect(second.headers.get('x-cache-status')).toBe('HIT');
    await second.arrayBuffer();
    expect((await fetch(`${privateCdn}${path}`)).status).toBe(403);
  });
});

const chromium = findBinary('chromium', '/usr/bin/chromium', 'chromium-browser');
if (!chromium) console.warn('SKIPPED: the Chromium <img> test needs Debian\'s chromium (apt-get install chromium; .ci/run installs it)');

describe.skipIf(!chromium || !hasNginx)('an <img> page through nginx in headless Chromium', () => {
  it('shows each snapshot at its expected natural size', async () => {
    const { chromium: playwright } = await import('playwright-core');
    const userDataDir = await tempDir('chromium');
    const browser = await playwright.launchPersistentContext(userDataDir, {
      executablePath: chromium!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${cdn}/media/page.html`);
      // Page-side code as strings: the test's TypeScript has no DOM types.
      await page.waitForFunction('[...document.images].every((img) => img.complete)', undefined, { timeout: 30_000 });
      const sizes = await page.evaluate('[...document.images].map((img) => [img.naturalWidth, img.naturalHeight])');
      // 640×360 source scaled to w, aspect kept.
      expect(sizes).toEqual([
        [160, 90],
        [320, 180],
        [480, 270],
      ]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
