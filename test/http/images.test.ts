// `x-oss-process=image/…` over HTTP, against real capture workers and real sharp: OSS's worked examples,
// the snapshot chain (the frame code survives the image actions), `format,auto`, styles, watermarks from
// the same bucket, validators and the result cache, OSS error bodies, `sys/saveas` by POST — raw and
// through the official ali-oss client — and sources sharp cannot decode (HEIC, BMP) through the engine.
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferReader, estimateJpegQuality } from '../../src/image/jpeg-quality.js';
import { codeImage, fixture, frameAt, readFrameIndex } from '../support/fixtures.js';
import { ossClient, type SignedRequester } from '../support/oss-client.js';
import { processCall, startServer, type TestServer } from '../support/server.js';
import { bmpClaiming, colourDistance, ffmpegBmpFixture, gridHeicFixture, tileColour } from '../support/still-fixtures.js';

const AK = 'LTAI-image-key';
const SECRET = 'image-secret-0123456789';

let server: TestServer;
let photo: Buffer;

/** A 200×100 picture: red left half, blue right half (OSS's worked example's size). */
async function halves(width = 200, height = 100): Promise<Buffer> {
  const left = await sharp({ create: { width: width / 2, height, channels: 3, background: '#ff0000' } }).png().toBuffer();
  return sharp({ create: { width, height, channels: 3, background: '#0000ff' } })
    .composite([{ input: left, left: 0, top: 0 }])
    .png()
    .toBuffer();
}

beforeAll(async () => {
  photo = await sharp({ create: { width: 1200, height: 900, channels: 3, background: '#3080c0' } }).jpeg({ quality: 90 }).toBuffer();
  const logo = await sharp({ create: { width: 40, height: 20, channels: 4, background: '#00ff00ff' } }).png().toBuffer();
  server = await startServer({
    objects: {
      'pub/example.png': await halves(),
      'pub/photo.jpg': photo,
      'pub/code.jpg': await codeImage(7, { width: 320, height: 240, format: 'jpeg', quality: 90 }),
      'pub/logo.png': logo,
      'pub/clip.mp4': await fixture({ container: 'mp4', codec: 'h264', seconds: 4 }),
      'pub/noise.jpg': Buffer.from(Array.from({ length: 30_000 }, (_, i) => (i * 7919) % 256)),
      'pub/iphone.heic': gridHeicFixture(),
      'pub/paint.bmp': ffmpegBmpFixture(64, 48),
      'pub/huge.bmp': bmpClaiming(100_000, 100_000),
      'pub/anim.gif': await animatedGif(),
      'pub/drawing.svg': Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'),
      'priv/photo.jpg': photo,
    },
    env: {
      STILLFRAME_ACCESS_KEYS: `${AK}:${SECRET}`,
      STILLFRAME_BUCKET_ACL: 'pub:public-read,priv:private',
      STILLFRAME_ALLOW_PUT: 'true',
    },
    // ali-oss's V1 signing refuses IP endpoints.
    hostname: 'localhost',
  });
}, 120_000);
afterAll(() => server?.close());

const call = (object: string, process: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') => processCall(server, object, process, headers, method);

/** Three 60×40 frames (red, green, blue), 100 ms each. */
async function animatedGif(): Promise<Buffer> {
  const frames = await Promise.all(['#ff0000', '#00ff00', '#0000ff'].map((background) => sharp({ create: { width: 60, height: 40, channels: 3, background } }).raw().toBuffer()));
  return sharp(Buffer.concat(frames), { raw: { width: 60, height: 120, channels: 3, pageHeight: 40 } as { width: number; height: number; channels: 3 } })
    .gif({ delay: [100, 100, 100], loop: 0 })
    .toBuffer();
}

async function size(body: Buffer) {
  const meta = await sharp(body).metadata();
  return { width: meta.width, height: meta.height, format: meta.format };
}

const client = () => ossClient(server.url, { ak: AK, secret: SECRET }, 'priv');
const signed = () => client() as unknown as SignedRequester;

describe('OSS worked examples over HTTP', () => {
  it.each([
    ['lfit', 150, 75],
    ['mfit', 160, 80],
    ['fill', 150, 80],
    ['pad', 150, 80],
    ['fixed', 150, 80],
  ])('200×100 with resize,m_%s,w_150,h_80 → %i×%i, in the source format', async (mode, width, height) => {
    const res = await call('pub/example.png', `image/resize,m_${mode},w_150,h_80`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(await size(res.body)).toMatchObject({ width, height, format: 'png' });
    expect(res.headers['x-frame-time']).toBeUndefined();
  });

  it('actions apply left to right: resize then crop then format', async () => {
    const res = await call('pub/photo.jpg', 'image/resize,w_400/crop,w_100,h_50,g_center/format,webp');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/webp');
    expect(await size(res.body)).toMatchObject({ width: 100, height: 50, format: 'webp' });
  });

  it('info answers JSON about the source', async () => {
    const res = await call('pub/photo.jpg', 'image/info');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const info = JSON.parse(res.body.toString());
    expect(info).toMatchObject({ FileSize: { value: String(photo.length) }, Format: { value: 'jpg' }, ImageWidth: { value: '1200' }, ImageHeight: { value: '900' } });
  });

  it('average-hue answers the mean colour', async () => {
    const res = await call('pub/photo.jpg', 'image/average-hue');
    expect(res.status).toBe(200);
    const rgb = JSON.parse(res.body.toString()).RGB as string;
    const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(rgb.slice(i + 1, i + 3), 16));
    expect(Math.abs(r! - 0x30) + Math.abs(g! - 0x80) + Math.abs(b! - 0xc0)).toBeLessThan(12);
  });
});

describe('sources', () => {
  it('an iPhone-style grid HEIC: decoded by the engine, every tile where it belongs', async () => {
    const res = await call('pub/iphone.heic', 'image/format,png');
    expect(res.status).toBe(200);
    const { data, info } = await sharp(res.body).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([500, 400]);
    const at = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    // Tiles of 256: (0,0) → tile 0, (300,0) → tile 1, (0,300) → tile 2, (300,300) → tile 3.
    for (const [x, y, tile] of [[100, 100, 0], [400, 100, 1], [100, 350, 2], [400, 350, 3]] as const) {
      expect(colourDistance(at(x, y), tileColour({}, tile))).toBeLessThan(40);
    }
  });

  it('HEIC without a format action stays HEIC; BMP in, BMP out (encoded by the engine)', async () => {
    const heic = await call('pub/iphone.heic', 'image/resize,w_250');
    expect(heic.headers['content-type']).toBe('image/heic');
    expect(await size(heic.body)).toMatchObject({ width: 250, height: 200, format: 'heif' });
    const bmp = await call('pub/paint.bmp', 'image/resize,w_32');
    expect(bmp.status).toBe(200);
    expect(bmp.headers['content-type']).toBe('image/bmp');
    expect(bmp.body.subarray(0, 2).toString('latin1')).toBe('BM');
    expect(bmp.body.readInt32LE(18)).toBe(32);
  });

  it('an animated GIF keeps its frames through resize, and loses them through rotate', async () => {
    const resized = await call('pub/anim.gif', 'image/resize,w_30');
    expect(resized.headers['content-type']).toBe('image/gif');
    const meta = await sharp(resized.body).metadata();
    expect(meta).toMatchObject({ pages: 3, width: 30 });
    expect(meta.pageHeight ?? meta.height).toBe(20);
    const rotated = await call('pub/anim.gif', 'image/rotate,90');
    expect((await sharp(rotated.body).metadata()).pages ?? 1).toBe(1);
  });

  it('a BMP claiming 100000×100000 px: 400 before decoding; an SVG is not an image source', async () => {
    expect(await call('pub/huge.bmp', 'image/resize,w_10')).toMatchObject({ status: 400, code: 'InvalidArgument' });
    const svg = await call('pub/drawing.svg', 'image/resize,w_10');
    expect(svg).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(svg.message).toMatch(/not a JPEG, PNG, GIF, WebP, TIFF, BMP, HEIC or AVIF image/);
  });

  it('an output over 16,777,216 px is refused, naming the limit', async () => {
    const res = await call('pub/photo.jpg', 'image/resize,w_16000,h_16000,m_fixed,limit_0');
    expect(res).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(res.message).toMatch(/16777216|16,777,216/);
  });
});

describe('the snapshot chain (extension)', () => {
  it('video/snapshot,t_2000|image/resize,w_160|format,png: the frame at 2 s, resized, as PNG', async () => {
    const res = await call('pub/clip.mp4', 'video/snapshot,t_2000|image/resize,w_160|format,png');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(await size(res.body)).toMatchObject({ width: 160, format: 'png' });
    expect(await readFrameIndex(res.body)).toBe(frameAt(2000));
    expect(res.headers['x-frame-time']).toBe(String(2000));
  });

  it('m_fill to a square, keyframe mode: the right frame, the right size', async () => {
    const res = await call('pub/clip.mp4', 'video/snapshot,t_2500,m_fast,f_jpg|image/resize,m_fill,w_120,h_120');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/jpeg');
    expect(await size(res.body)).toMatchObject({ width: 120, height: 120 });
    expect(res.headers['x-frame-keyframe']).toBe('1');
  });
});

describe('contract shared with snapshots', () => {
  it('ETag from the source and the canonical process; 304 without work; a second GET is a cache hit', async () => {
    const a = await call('pub/photo.jpg', 'image/resize,w_300,h_200/quality,q_80');
    // The same request spelled differently: one cache entry, one ETag.
    const b = await call('pub/photo.jpg', 'image/resize,h_200,w_300,m_lfit/quality,q_80');
    expect(a.status).toBe(200);
    expect(b.headers.etag).toBe(a.headers.etag);
    expect(b.headers['x-cache']).toBe('HIT');
    const revalidated = await call('pub/photo.jpg', 'image/resize,w_300,h_200/quality,q_80', { 'if-none-match': String(a.headers.etag) });
    expect(revalidated.status).toBe(304);
  });

  it("quality on a stored JPEG follows OSS: q is a share of the source's quality (90 here), Q is capped by it", async () => {
    const written = async (process: string) => estimateJpegQuality(bufferReader((await call('pub/photo.jpg', process)).body));
    expect(await written('image/resize,w_200/quality,q_50')).toBe(45);
    expect(await written('image/resize,w_200/quality,Q_95')).toBe(90);
    expect(await written('image/resize,w_200/quality,Q_60')).toBe(60);
    // A frame has no source quality: q is absolute.
    expect(estimateJpegQuality(bufferReader((await call('pub/clip.mp4', 'video/snapshot,t_1000,f_jpg|image/quality,q_50')).body))).toBe(50);
  });

  it('format,auto picks AVIF or WebP by Accept and says Vary: Accept', async () => {
    const avif = await call('pub/photo.jpg', 'image/resize,w_100/format,auto', { accept: 'image/avif,image/webp,*/*' });
    expect(avif.headers['content-type']).toBe('image/avif');
    expect(avif.headers.vary).toBe('Accept');
    const webp = await call('pub/photo.jpg', 'image/resize,w_100/format,auto', { accept: 'image/webp,*/*' });
    expect(webp.headers['content-type']).toBe('image/webp');
    expect(webp.headers.etag).not.toBe(avif.headers.etag);
  });

  it('bad parameters: 400 InvalidArgument OSS XML naming the parameter, with OSS EC codes', async () => {
    const bad = await call('pub/photo.jpg', 'image/resize,m_huge,w_100');
    expect(bad).toMatchObject({ status: 400, code: 'InvalidArgument', ec: '0040-00000311' });
    expect(bad.message).toMatch(/m/);
    expect(await call('pub/photo.jpg', 'image/resize,p_0')).toMatchObject({ status: 400, ec: '0040-00000317' });
    expect(await call('pub/photo.jpg', 'image/crop,w_500,h_500,g_fac')).toMatchObject({ status: 400, ec: '0040-00000209' });
    expect(await call('pub/photo.jpg', 'image/resize,w_10/info')).toMatchObject({ status: 400, code: 'InvalidArgument' });
  });

  it('a GET carrying sys/saveas is refused', async () => {
    const res = await call('pub/photo.jpg', `image/resize,w_10|sys/saveas,o_${Buffer.from('x.jpg').toString('base64url')}`);
    expect(res).toMatchObject({ status: 400, code: 'InvalidArgument' });
  });

  it('bytes that are no image: 400, and the server goes on', async () => {
    const res = await call('pub/noise.jpg', 'image/resize,w_100');
    expect(res).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect((await call('pub/photo.jpg', 'image/resize,w_64')).status).toBe(200);
  });

  it('a private bucket asks for a signature; a presigned URL works', async () => {
    expect((await call('priv/photo.jpg', 'image/resize,w_100')).status).toBe(403);
    const url = client().signatureUrl('photo.jpg', { expires: 600, process: 'image/resize,w_100' });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await size(Buffer.from(await res.arrayBuffer()))).toMatchObject({ width: 100 });
  });
});

describe('watermarks', () => {
  it('an image watermark from the same bucket lands in the south-east corner; changing it changes the ETag', async () => {
    const mark = Buffer.from('logo.png').toString('base64url');
    const process = `image/watermark,image_${mark},g_se,x_10,y_10`;
    const first = await call('pub/photo.jpg', `${process}/format,png`);
    expect(first.status).toBe(200);
    const { data, info } = await sharp(first.body).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    expect(at(1200 - 10 - 20, 900 - 10 - 10)).toEqual([0, 255, 0]);
    expect(at(100, 100)).not.toEqual([0, 255, 0]);
    // Another writer rewrites the watermark object (through the store: the stat cache is told).
    const magenta = await sharp({ create: { width: 40, height: 20, channels: 4, background: '#ff00ffff' } }).png().toBuffer();
    await server.deps.store.write('pub', 'logo.png', Readable.from([magenta]), 'image/png');
    server.deps.stats.forget('pub', 'logo.png');
    const second = await call('pub/photo.jpg', `${process}/format,png`);
    expect(second.headers.etag).not.toBe(first.headers.etag);
  });

  it('a text watermark changes the pixels near its corner', async () => {
    const text = Buffer.from('stillframe').toString('base64url');
    const plain = await call('pub/photo.jpg', 'image/format,png');
    const marked = await call('pub/photo.jpg', `image/watermark,text_${text},color_FFFFFF,size_40,g_nw/format,png`);
    expect(marked.status).toBe(200);
    expect(Buffer.compare(plain.body, marked.body)).not.toBe(0);
  });
});

describe('styles', () => {
  it('a style put through the OSS API is used by style/<name>', async () => {
    // ali-oss 6.23's style calls belong to its old image client: its generic signed bucket request instead.
    const put = await signed().request({
      method: 'PUT',
      bucket: 'pub',
      subres: { style: '', styleName: 'thumb' },
      content: '<Style><Content>image/resize,m_fixed,w_64,h_48/format,png</Content></Style>',
      mime: 'xml',
      successStatuses: [200],
    });
    expect(put.res.status).toBe(200);
    const res = await call('pub/photo.jpg', 'style/thumb');
    expect(res.status).toBe(200);
    expect(await size(res.body)).toMatchObject({ width: 64, height: 48, format: 'png' });
    expect(await call('pub/photo.jpg', 'style/nope')).toMatchObject({ status: 404 });
  });
});

describe('sys/saveas', () => {
  it('ali-oss processObjectSave: the result is written to the target, described as OSS does', async () => {
    const oss = client() as unknown as { processObjectSave(source: string, target: string, process: string, bucket?: string): Promise<{ status: number; res: { data: Buffer } }> };
    const result = await oss.processObjectSave('photo.jpg', 'thumbs/photo-100.webp', 'image/resize,w_100/format,webp', 'priv');
    expect(result.status).toBe(200);
    const saved = await server.deps.store.stat('priv', 'thumbs/photo-100.webp');
    expect(saved.contentType).toBe('image/webp');
  });

  it('a snapshot saved by POST with URL-safe names; the frame is the right one', async () => {
    const process = `video/snapshot,t_1000,f_png,w_160|sys/saveas,o_${Buffer.from('frames/one.png').toString('base64url')},b_${Buffer.from('priv').toString('base64url')}`;
    const res = await signed().request({
      method: 'POST',
      bucket: 'pub',
      object: 'clip.mp4',
      subres: 'x-oss-process',
      content: new URLSearchParams({ 'x-oss-process': process }).toString(),
      mime: 'application/x-www-form-urlencoded',
      successStatuses: [200],
    });
    expect(res.res.status).toBe(200);
    expect(JSON.parse(String(res.data))).toMatchObject({ bucket: 'priv', object: 'frames/one.png', status: 'OK' });
    const stream = await server.deps.store.read('priv', 'frames/one.png');
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(await readFrameIndex(Buffer.concat(chunks))).toBe(frameAt(1000));
  });

  it('unsigned: the target may not be written', async () => {
    const body = `x-oss-process=${encodeURIComponent(`image/resize,w_10|sys/saveas,o_${Buffer.from('x.jpg').toString('base64url')},b_${Buffer.from('priv').toString('base64url')}`)}`;
    const res = await fetch(`${server.url}/pub/photo.jpg?x-oss-process`, { method: 'POST', body });
    expect(res.status).toBe(403);
  });
});

