// Previews for players over HTTP, against real capture workers: sprite sheets (every tile's frame code
// read back), storyboards (WebVTT cue times and `#xywh=`, the JSON, sheet URLs that answer, presigned
// like the storyboard's own URL for a private source), animations (every page's frame code), the result
// cache, 304s, the bounds, and the WebVTT parsed by headless Chromium from a <track> element.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, frameAt, readFrameIndex, sceneCutFixture } from '../support/fixtures.js';
import { ossClient } from '../support/oss-client.js';
import { findBinary, tempDir } from '../support/processes.js';
import { processCall, startServer, type TestServer } from '../support/server.js';

const AK = 'LTAI-preview-key';
const SECRET = 'preview-secret-0123456789';

let server: TestServer;
let scenes: Awaited<ReturnType<typeof sceneCutFixture>>;

// The player page is an object of the same bucket: served by stillframe itself, so the <track> is
// same-origin with the page and needs no CORS.
const STORYBOARD = 'video/storyboard,f_vtt,inter_1000,sw_96,tw_2,th_1';
const playerPage = `<!doctype html><html><body>
<video id="v" src="/pub/clip.mp4" preload="auto" muted>
  <track id="t" kind="metadata" src="/pub/clip.mp4?x-oss-process=${encodeURIComponent(STORYBOARD)}" default>
</video></body></html>`;

beforeAll(async () => {
  const clip = await fixture({ container: 'mp4', codec: 'h264', seconds: 4 });
  scenes = await sceneCutFixture();
  server = await startServer({
    objects: { 'pub/clip.mp4': clip, 'pub/scenes.mp4': scenes.path, 'pub/player.html': Buffer.from(playerPage), 'priv/clip.mp4': clip },
    env: { STILLFRAME_ACCESS_KEYS: `${AK}:${SECRET}`, STILLFRAME_BUCKET_ACL: 'pub:public-read,priv:private' },
    // ali-oss's V1 signing refuses IP endpoints.
    hostname: 'localhost',
  });
}, 120_000);
afterAll(() => server?.close());

const call = (object: string, process: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') => processCall(server, object, process, headers, method);

/** The frame index shown by the tile at (x, y, w, h) of a sheet. */
async function tileIndex(sheet: Buffer, x: number, y: number, w: number, h: number): Promise<number> {
  return readFrameIndex(await sharp(sheet).extract({ left: x, top: y, width: w, height: h }).png().toBuffer());
}

async function tilesOf(sheet: Buffer, columns: number, count: number, w: number, h: number, pad = 0, margin = 0): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(await tileIndex(sheet, margin + (i % columns) * (w + pad), margin + Math.floor(i / columns) * (h + pad), w, h));
  }
  return out;
}

describe('video/sprite', () => {
  it('tiles row by row from the top-left, each showing the frame at ss + k × inter', async () => {
    const res = await call('pub/clip.mp4', 'video/sprite,ss_0,inter_500,num_6,sw_96,tw_3,th_2,pad_4,margin_2,f_png');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    const meta = await sharp(res.body).metadata();
    // 2·2 + 3·96 + 2·4 by 2·2 + 2·72 + 4 (the 320×240 source scaled to 96 wide).
    expect([meta.width, meta.height]).toEqual([300, 152]);
    expect(await tilesOf(res.body, 3, 6, 96, 72, 4, 2)).toEqual([0, 500, 1000, 1500, 2000, 2500].map((ms) => frameAt(ms)));
    expect(res.headers['server-timing']).toMatch(/open;dur=.*decode;dur=.*encode;dur=.*total;dur=/);
  });

  it('inter_0 (OSS: every frame) and an inter shorter than a frame: each frame once, in order', async () => {
    for (const inter of [0, 10]) {
      const res = await call('pub/clip.mp4', `video/sprite,ss_1000,inter_${inter},num_6,sw_96,tw_3,th_2,f_png`);
      expect(res.status).toBe(200);
      expect(await tilesOf(res.body, 3, 6, 96, 72)).toEqual([25, 26, 27, 28, 29, 30]);
    }
    const vtt = await call('pub/clip.mp4', 'video/storyboard,inter_0,num_3,sw_96,tw_3,th_1');
    expect(cuesOf(vtt.body.toString()).map(([start]) => start)).toEqual(['00:00:00.000', '00:00:00.040', '00:00:00.080']);
  });

  it('m_dhash: the tiles are the scene cuts (the frames that changed by thr), as an IMM dhash task finds them', async () => {
    const res = await call('pub/scenes.mp4', 'video/storyboard,f_json,m_dhash,inter_1000,thr_15,sw_64,tw_10,th_1');
    expect(res.status).toBe(200);
    const board = JSON.parse(res.body.toString()) as { tiles: { start: number }[] };
    expect(board.tiles.map((t) => t.start)).toEqual(scenes.cutsAtSeconds);
    // num keeps the largest changes; the sheet shows those frames.
    const sheet = await call('pub/scenes.mp4', 'video/sprite,m_dhash,inter_1000,num_2,sw_64,tw_2,th_1,f_png');
    expect(sheet.status).toBe(200);
    expect((await sharp(sheet.body).metadata()).width).toBe(128);
  });

  it('m_dhash samples at most 1000 frames a request: past that a 400 that says what to change', async () => {
    // 50 s at 25 fps: 1250 frames, each sampled at inter_10 (a frame sampled twice counts once).
    const long = await fixture({ container: 'mp4', codec: 'h264', seconds: 50, width: 64, height: 48 });
    const behind = await startServer({ objects: { 'pub/long.mp4': long }, env: { STILLFRAME_WORKERS: '1' } });
    try {
      const res = await processCall(behind, 'pub/long.mp4', 'video/sprite,m_dhash,inter_10,sw_64');
      expect(res).toMatchObject({ status: 400, code: 'InvalidArgument' });
      expect(res.message).toMatch(/m_dhash would sample 1250 frames, above 1000: set a larger inter or a later ss/);
      expect((await processCall(behind, 'pub/long.mp4', 'video/sprite,m_dhash,inter_10,ss_10000,sw_64')).status).toBe(200);
    } finally {
      await behind.close();
    }
  }, 120_000);

  it('several sheets: i_ picks one; the last is cut to the rows it uses; past the last is a 400', async () => {
    // 10 tiles (0, 0.4 … 3.6 s), 4 a sheet: sheets of 4, 4 and 2.
    const process = (i: number) => `video/sprite,inter_400,sw_96,tw_2,th_2,f_png,i_${i}`;
    const second = await call('pub/clip.mp4', process(1));
    expect(second.status).toBe(200);
    expect(await tilesOf(second.body, 2, 4, 96, 72)).toEqual([1600, 2000, 2400, 2800].map((ms) => frameAt(ms)));
    const last = await call('pub/clip.mp4', process(2));
    const meta = await sharp(last.body).metadata();
    expect([meta.width, meta.height]).toEqual([192, 72]);
    expect(await tilesOf(last.body, 2, 2, 96, 72)).toEqual([3200, 3600].map((ms) => frameAt(ms)));
    const past = await call('pub/clip.mp4', process(3));
    expect(past).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(past.message).toMatch(/i_3 is past the last sheet.*3 sheets/);
  });

  it('m_key: the key frames (every 25th frame)', async () => {
    const res = await call('pub/clip.mp4', 'video/sprite,m_key,sw_96,tw_4,th_1,f_png');
    expect(res.status).toBe(200);
    expect(await tilesOf(res.body, 4, 4, 96, 72)).toEqual([0, 25, 50, 75]);
  });

  it('a second request is a cache hit; If-None-Match answers 304; HEAD has the length', async () => {
    const process = 'video/sprite,ss_100,inter_700,num_4,sw_80,tw_4,th_1';
    const first = await call('pub/clip.mp4', process);
    expect(first.status).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['content-type']).toBe('image/jpeg');
    // Another spelling of the same request: the same cache entry and ETag.
    const again = await call('pub/clip.mp4', 'video/sprite,tw_4,th_1,num_4,inter_700,ss_100,sw_80,f_jpg,m_inter,pad_0');
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.headers.etag).toBe(first.headers.etag);
    expect(again.body.equals(first.body)).toBe(true);
    const revalidated = await call('pub/clip.mp4', process, { 'if-none-match': String(first.headers.etag) });
    expect(revalidated.status).toBe(304);
    const head = await call('pub/clip.mp4', process, {}, 'HEAD');
    expect(head.headers['content-length']).toBe(String(first.body.length));
  });

  it.each([
    ['video/sprite,tw_11,th_10', /at most 100 tiles/],
    ['video/sprite,sw_8', /between 16 and 4096 for video\/sprite sw but received "8"/],
    ['video/sprite,sw_4096,tw_10,th_1', /at most 16384 px a side/],
    ['video/sprite,sh_4000,tw_1,th_5', /at most 16384 px a side/],
    ['video/sprite,ss_9000', /ss_9000 is at or past the end of the video \(4000 ms\)/],
    ['video/sprite,m_avg', /m_avg needs num/],
    ['video/sprite,m_key,inter_100', /"inter" only applies to m_inter/],
    ['video/sprite,f_gif', /one of jpg, png, webp for video\/sprite f/],
    ['video/sprite,w_100', /Unknown parameter "w"/],
    ['video/sprite,sw_96|image/resize,w_10', /no "\|" chain/],
    ['video/animation,d_20000', /between 250 and 10000 for video\/animation d/],
    ['video/animation,w_641', /between 1 and 640 for video\/animation w/],
    ['video/animation,fps_31', /between 1 and 30 for video\/animation fps/],
    ['video/animation,f_png', /one of gif, webp for video\/animation f/],
    ['video/storyboard,f_srt', /one of vtt, json for video\/storyboard f/],
    ['video/storyboard,i_1', /Unknown parameter "i"/],
  ])('%s → 400', async (process, message) => {
    const res = await call('pub/clip.mp4', process);
    expect(res).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(res.message?.replaceAll('&quot;', '"')).toMatch(message);
  });
});

/** WebVTT cues: [start, end, text]. */
function cuesOf(vtt: string): [string, string, string][] {
  expect(vtt.startsWith('WEBVTT\n\n')).toBe(true);
  return vtt
    .trim()
    .split(/\n\n/)
    .slice(1)
    .map((block) => {
      const [timing, text] = block.split('\n');
      const [start, end] = timing!.split(' --> ');
      return [start!, end!, text!];
    });
}

describe('video/storyboard', () => {
  it('WebVTT: a cue per tile, from its start to the next, with its sheet URL and #xywh; the URLs answer the tiles', async () => {
    const res = await call('pub/clip.mp4', 'video/storyboard,f_vtt,inter_1000,sw_96,tw_2,th_2,sf_png');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/vtt; charset=utf-8');
    const cues = cuesOf(res.body.toString());
    const sheet = `${server.url}/pub/clip.mp4?x-oss-process=${encodeURIComponent('video/sprite,ss_0,m_inter,inter_1000,num_0,sw_96,tw_2,th_2,pad_0,margin_0,f_png,i_0')}`;
    expect(cues).toEqual([
      ['00:00:00.000', '00:00:01.000', `${sheet}#xywh=0,0,96,72`],
      ['00:00:01.000', '00:00:02.000', `${sheet}#xywh=96,0,96,72`],
      ['00:00:02.000', '00:00:03.000', `${sheet}#xywh=0,72,96,72`],
      ['00:00:03.000', '00:00:04.000', `${sheet}#xywh=96,72,96,72`],
    ]);
    const image = Buffer.from(await (await fetch(sheet)).arrayBuffer());
    for (const [k, [, , text]] of cues.entries()) {
      const [x, y, w, h] = text.split('#xywh=')[1]!.split(',').map(Number) as [number, number, number, number];
      expect(await tileIndex(image, x, y, w, h)).toBe(25 * k);
    }
    const again = await call('pub/clip.mp4', 'video/storyboard,sw_96,tw_2,th_2,sf_png,inter_1000');
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.body.equals(res.body)).toBe(true);
    expect((await call('pub/clip.mp4', 'video/storyboard,sw_96,tw_2,th_2,sf_png,inter_1000', { 'if-none-match': String(res.headers.etag) })).status).toBe(304);
  });

  it('JSON (Mux/imgix shape); with several sheets every tile carries its sheet URL; X-Forwarded-Proto picks the scheme', async () => {
    const res = await call('pub/clip.mp4', 'video/storyboard,f_json,ss_500,inter_1000,sw_96,tw_2,th_1', { 'x-forwarded-proto': 'https' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const sheet = (i: number) =>
      `${server.url.replace('http:', 'https:')}/pub/clip.mp4?x-oss-process=${encodeURIComponent(`video/sprite,ss_500,m_inter,inter_1000,num_0,sw_96,tw_2,th_1,pad_0,margin_0,f_jpg,i_${i}`)}`;
    expect(JSON.parse(res.body.toString())).toEqual({
      url: sheet(0),
      tile_width: 96,
      tile_height: 72,
      duration: 4,
      tiles: [
        { start: 0.5, x: 0, y: 0, url: sheet(0) },
        { start: 1.5, x: 96, y: 0, url: sheet(0) },
        { start: 2.5, x: 0, y: 0, url: sheet(1) },
        { start: 3.5, x: 96, y: 0, url: sheet(1) },
      ],
    });
    // One sheet: the tiles carry no url of their own.
    const single = JSON.parse((await call('pub/clip.mp4', 'video/storyboard,f_json,m_avg,num_8,sw_64,tw_4,th_2')).body.toString());
    expect(single.tiles).toHaveLength(8);
    expect(single.tiles[1]).toEqual({ start: 0.5, x: 64, y: 0 });
    expect([single.tile_width, single.tile_height]).toEqual([64, 48]);
  });

  it('a private source: a V1 presigned storyboard lists sheet URLs signed with the same AccessKeyId and Expires', async () => {
    expect((await call('priv/clip.mp4', 'video/storyboard,inter_2000,sw_96,tw_2,th_1')).status).toBe(403);
    const client = ossClient(server.url, { ak: AK, secret: SECRET }, 'priv');
    const url = new URL(client.signatureUrl('clip.mp4', { expires: 600, process: 'video/storyboard,inter_2000,sw_96,tw_2,th_1' }));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const cues = cuesOf(await res.text());
    expect(cues).toHaveLength(2);
    const sheet = new URL(cues[0]![2].split('#')[0]!);
    expect(sheet.searchParams.get('OSSAccessKeyId')).toBe(AK);
    expect(sheet.searchParams.get('Expires')).toBe(url.searchParams.get('Expires'));
    expect(sheet.searchParams.get('x-oss-process')).toBe('video/sprite,ss_0,m_inter,inter_2000,num_0,sw_96,tw_2,th_1,pad_0,margin_0,f_jpg,i_0');
    const image = await fetch(sheet);
    expect(image.status).toBe(200);
    const body = Buffer.from(await image.arrayBuffer());
    expect(await tilesOf(body, 2, 2, 96, 72)).toEqual([0, 50]);
    // The signature is the credential: without it the sheet is refused.
    sheet.searchParams.delete('Signature');
    expect((await fetch(sheet)).status).toBe(403);
  });
  it('a V4 presigned storyboard lists sheets V4-signed in the same scope and validity; they answer', async () => {
    const client = ossClient(server.url, { ak: AK, secret: SECRET }, 'priv', { v4: true });
    const url = new URL(await client.signatureUrlV4('GET', 600, { queries: { 'x-oss-process': 'video/storyboard,inter_2000,sw_96,tw_2,th_1' } }, 'clip.mp4'));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const sheet = new URL(cuesOf(await res.text())[1]![2].split('#')[0]!);
    for (const name of ['x-oss-signature-version', 'x-oss-credential', 'x-oss-date', 'x-oss-expires']) {
      expect(sheet.searchParams.get(name), name).toBe(url.searchParams.get(name));
    }
    const image = await fetch(sheet);
    expect(image.status).toBe(200);
    expect(await tilesOf(Buffer.from(await image.arrayBuffer()), 2, 2, 96, 72)).toEqual([0, 50]);
    sheet.searchParams.set('x-oss-process', 'video/sprite,ss_0,m_inter,inter_2000,num_0,sw_96,tw_2,th_1,pad_0,margin_0,f_png,i_0');
    expect((await fetch(sheet)).status).toBe(403);
  });

  it('a header-signed storyboard lists sheets V1-presigned by the same key for the rest of the hour and the next', async () => {
    const client = ossClient(server.url, { ak: AK, secret: SECRET }, 'priv');
    const { content } = await client.get('clip.mp4', { process: 'video/storyboard,inter_2000,sw_96,tw_2,th_1' });
    const sheet = new URL(cuesOf(String(content))[0]![2].split('#')[0]!);
    expect(sheet.searchParams.get('OSSAccessKeyId')).toBe(AK);
    const expires = Number(sheet.searchParams.get('Expires')) * 1000;
    expect(expires % 3_600_000).toBe(0);
    expect(expires - Date.now()).toBeGreaterThan(3_600_000 - 5_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(7_200_000);
    expect((await fetch(sheet)).status).toBe(200);
  });

  it('STILLFRAME_PUBLIC_URL: sheet URLs under it, path-style or with {bucket} in the host', async () => {
    const clip = await fixture({ container: 'mp4', codec: 'h264', seconds: 4 });
    for (const [publicUrl, expected] of [
      ['https://cdn.example.com/media/', 'https://cdn.example.com/media/pub/dir/my%20clip.mp4?x-oss-process='],
      ['https://{bucket}.cdn.example.com', 'https://pub.cdn.example.com/dir/my%20clip.mp4?x-oss-process='],
    ] as const) {
      const behind = await startServer({ objects: { 'pub/dir/my clip.mp4': clip }, env: { STILLFRAME_PUBLIC_URL: publicUrl, STILLFRAME_WORKERS: '1' } });
      try {
        const res = await processCall(behind, 'pub/dir/my%20clip.mp4', 'video/storyboard,inter_2000,sw_96,tw_2,th_1', { host: 'internal:8080', 'x-forwarded-proto': 'http' });
        expect(res.status).toBe(200);
        const url = cuesOf(res.body.toString())[0]![2];
        expect(url.startsWith(expected), url).toBe(true);
      } finally {
        await behind.close();
      }
    }
  }, 60_000);
});

describe('video/animation', () => {
  it.each(['webp', 'gif'] as const)('%s: one page per 1/fps from ss, each showing its frame', async (format) => {
    const res = await call('pub/clip.mp4', `video/animation,ss_1000,d_1000,fps_5,w_96,f_${format}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(`image/${format}`);
    const meta = await sharp(res.body, { pages: -1 }).metadata();
    expect(meta.pages).toBe(5);
    expect([meta.width, meta.pageHeight]).toEqual([96, 72]);
    expect(meta.delay).toEqual(Array(5).fill(200));
    const pages: number[] = [];
    for (let i = 0; i < 5; i++) pages.push(await readFrameIndex(await sharp(res.body, { page: i }).png().toBuffer()));
    expect(pages).toEqual([1000, 1200, 1400, 1600, 1800].map((ms) => frameAt(ms)));
  });

  it('defaults to 320 px wide; stops at the end of the video; a second request is a hit', async () => {
    const process = 'video/animation,ss_3500,fps_4,f_webp';
    const res = await call('pub/clip.mp4', process);
    const meta = await sharp(res.body, { pages: -1 }).metadata();
    // 3.5, 3.75 s: the video ends at 4 s.
    expect([meta.pages, meta.width, meta.pageHeight]).toEqual([2, 320, 240]);
    expect((await call('pub/clip.mp4', process)).headers['x-cache']).toBe('HIT');
  });
});

const chromium = findBinary('chromium', '/usr/bin/chromium', 'chromium-browser');
if (!chromium) console.warn('SKIPPED: the Chromium storyboard test needs Debian\'s chromium (apt-get install chromium; .ci/run installs it)');

describe.skipIf(!chromium)('the storyboard WebVTT in headless Chromium', () => {
  it('a <track kind="metadata"> of the storyboard has the cues, times and #xywh text', async () => {
    const { chromium: playwright } = await import('playwright-core');
    const browser = await playwright.launchPersistentContext(await tempDir('chromium'), {
      executablePath: chromium!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/pub/player.html`);
      // Page-side code as strings: the test's TypeScript has no DOM types. readyState 2 = LOADED.
      await page.waitForFunction("document.getElementById('t').readyState === 2", undefined, { timeout: 30_000 });
      const cues = (await page.evaluate("[...document.getElementById('t').track.cues].map((c) => [c.startTime, c.endTime, c.text])")) as [number, number, string][];
      const sheet = (i: number) => `${server.url}/pub/clip.mp4?x-oss-process=${encodeURIComponent(`video/sprite,ss_0,m_inter,inter_1000,num_0,sw_96,tw_2,th_1,pad_0,margin_0,f_jpg,i_${i}`)}`;
      expect(cues).toEqual([
        [0, 1, `${sheet(0)}#xywh=0,0,96,72`],
        [1, 2, `${sheet(0)}#xywh=96,0,96,72`],
        [2, 3, `${sheet(1)}#xywh=0,0,96,72`],
        [3, 4, `${sheet(1)}#xywh=96,0,96,72`],
      ]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
