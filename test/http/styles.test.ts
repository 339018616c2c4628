// Image styles (PutStyle, GetStyle, ListStyle, DeleteStyle) through a real server: the OSS XML shapes,
// the 50-style limit, name and content rules, bad XML, virtual-hosted buckets, persistence of the
// embedded store across a restart on the same state directory, and access: unsigned writes refused once
// keys exist, requests signed by the ali-oss client (V1 and V4) accepted.
import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ossClient, type SignedRequester } from '../support/oss-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { parseErrorXml } from '../support/xml.js';

const styleBody = (content: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<Style>\n  <Content>${content}</Content>\n</Style>\n`;

/** `<Style>` elements of a GetStyle/ListStyle body, as { Name, Content, … }. */
function styles(xml: string): Record<string, string>[] {
  return [...xml.matchAll(/<Style>([\s\S]*?)<\/Style>/g)].map((m) =>
    Object.fromEntries([...m[1]!.matchAll(/<(\w+)>([^<]*)<\/\1>/g)].map((f) => [f[1]!, f[2]!])),
  );
}

async function expectError(res: Response, status: number, code: string, extra: { message?: string | RegExp; ec?: string } = {}) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/xml');
  const error = parseErrorXml(await res.text());
  expect(error.Code).toBe(code);
  if (typeof extra.message === 'string') expect(error.Message).toBe(extra.message);
  else if (extra.message) expect(error.Message).toMatch(extra.message);
  if (extra.ec) {
    expect(error.EC).toBe(extra.ec);
    expect(res.headers.get('x-oss-ec')).toBe(extra.ec);
  }
}

describe('styles, open server', () => {
  let server: TestServer;
  const put = (bucket: string, name: string, body: string, init: RequestInit = {}) =>
    fetch(`${server.url}/${bucket}?style&styleName=${encodeURIComponent(name)}`, { method: 'PUT', body, ...init });
  const get = (bucket: string, name?: string) => fetch(`${server.url}/${bucket}?style${name === undefined ? '' : `&styleName=${encodeURIComponent(name)}`}`);
  const del = (bucket: string, name: string) => fetch(`${server.url}/${bucket}?style&styleName=${encodeURIComponent(name)}`, { method: 'DELETE' });

  beforeAll(async () => {
    server = await startServer({ objects: { 'media/a.txt': Buffer.from('object bytes') }, env: { STILLFRAME_DOMAIN: 'img.test', STILLFRAME_ALLOW_PUT: 'true' } });
  });
  afterAll(() => server?.close());

  it('put, get, list, replace, delete', async () => {
    const before = Date.now();
    const created = await put('media', 'small', styleBody('image/resize,p_60'));
    expect(created.status).toBe(200);
    expect(await created.text()).toBe('');
    expect(created.headers.get('x-oss-request-id')).toMatch(/^[0-9A-F]{24}$/);

    const got = await get('media', 'small');
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/xml');
    const text = await got.text();
    expect(text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Style>\n/);
    const [style] = styles(text);
    expect(style).toEqual({
      Name: 'small',
      Content: 'image/resize,p_60',
      Category: 'image',
      CreateTime: expect.stringMatching(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/),
      LastModifyTime: expect.any(String),
    });
    expect(Date.parse(style!.CreateTime!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);

    // A second style, then a replacement: CreateTime kept, content changed.
    expect((await put('media', 'a.thumb-1_x', styleBody('image/resize,w_100/quality,q_80'))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await put('media', 'small', styleBody('image/resize,p_50'))).status).toBe(200);
    const listed = await get('media');
    expect(listed.status).toBe(200);
    const listText = await listed.text();
    expect(listText).toMatch(/<StyleList>[\s\S]*<\/StyleList>/);
    const all = styles(listText);
    expect(all.map((s) => [s.Name, s.Content])).toEqual([
      ['a.thumb-1_x', 'image/resize,w_100/quality,q_80'],
      ['small', 'image/resize,p_50'],
    ]);
    const replaced = all[1]!;
    expect(replaced.CreateTime).toBe(style!.CreateTime);
    expect(Date.parse(replaced.LastModifyTime!)).toBeGreaterThan(Date.parse(replaced.CreateTime!));

    // Styles are per bucket.
    expect(styles(await (await get('other')).text())).toEqual([]);
    await expectError(await get('other', 'small'), 404, 'NoSuchStyle');

    const deleted = await del('media', 'small');
    expect(deleted.status).toBe(204);
    await expectError(await get('media', 'small'), 404, 'NoSuchStyle', { message: /small/ });
    // Deleting what is not there is not an error (as other OSS deletes).
    expect((await del('media', 'small')).status).toBe(204);
    expect(styles(await (await get('media')).text()).map((s) => s.Name)).toEqual(['a.thumb-1_x']);
    expect((await del('media', 'a.thumb-1_x')).status).toBe(204);
  });

  it('DeleteStyle as OSS documents it (`?style=<bucket>`) and HEAD', async () => {
    expect((await put('media', 'h', styleBody('image/rotate,90'))).status).toBe(200);
    const head = await fetch(`${server.url}/media?style&styleName=h`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect((await fetch(`${server.url}/media?style=media&styleName=h`, { method: 'DELETE' })).status).toBe(204);
    await expectError(await get('media', 'h'), 404, 'NoSuchStyle');
  });

  it('the bucket URL with a trailing slash and a virtual-hosted bucket are the same bucket', async () => {
    expect((await put('vhost', 'one', styleBody('image/resize,w_10'))).status).toBe(200);
    const slash = await fetch(`${server.url}/vhost/?style&styleName=one`);
    expect(slash.status).toBe(200);
    const hosted = await request(`${server.url}/?style`, { headers: { host: 'vhost.img.test' } });
    expect(hosted.statusCode).toBe(200);
    expect(styles(await hosted.body.text()).map((s) => s.Name)).toEqual(['one']);
    const hostedPut = await request(`${server.url}/?style&styleName=two`, { method: 'PUT', headers: { host: 'vhost.img.test' }, body: styleBody('image/resize,w_20') });
    expect(hostedPut.statusCode).toBe(200);
    await hostedPut.body.dump();
    expect(styles(await (await get('vhost')).text()).map((s) => s.Name)).toEqual(['one', 'two']);
  });

  it('an object URL with a `style` parameter is still the object', async () => {
    const res = await fetch(`${server.url}/media/a.txt?style`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('object bytes');
  });

  it('at most 50 styles per bucket; replacing one at the limit is fine', async () => {
    for (let i = 0; i < 50; i++) expect((await put('full', `s${i}`, styleBody(`image/resize,w_${i + 1}`))).status).toBe(200);
    await expectError(await put('full', 's50', styleBody('image/resize,w_1')), 400, 'InvalidArgument', { message: /50 styles/ });
    expect((await put('full', 's7', styleBody('image/resize,w_700'))).status).toBe(200);
    const all = styles(await (await get('full')).text());
    expect(all).toHaveLength(50);
    expect(all.find((s) => s.Name === 's7')?.Content).toBe('image/resize,w_700');
    // Room again after a delete.
    expect((await del('full', 's0')).status).toBe(204);
    expect((await put('full', 's50', styleBody('image/resize,w_1'))).status).toBe(200);
  });

  it('concurrent puts to one bucket: exactly 50 succeed, the file is whole, no temporary file is left', async () => {
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => put('race', `r${i}`, styleBody(`image/resize,w_${i + 1}`))));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(50);
    expect(answers.filter((r) => r.status === 400)).toHaveLength(10);
    for (const r of answers) await r.body?.cancel();
    expect(styles(await (await get('race')).text())).toHaveLength(50);
    const dir = join(server.root, '.stillframe', 'styles');
    expect((await readdir(dir)).filter((f) => f.startsWith('race'))).toEqual(['race.json']);
    expect((JSON.parse(await readFile(join(dir, 'race.json'), 'utf8')) as { styles: unknown[] }).styles).toHaveLength(50);
  });

  it('bad style names → 400 InvalidArgument 0017-00000251 (characters) or 0017-00000250 (length)', async () => {
    for (const [name, ec] of [['Images!tyle', '0017-00000251'], ['a b', '0017-00000251'], ['ümlaut', '0017-00000251'], ['a/b', '0017-00000251'], ['x'.repeat(64), '0017-00000250'], ['', '0017-00000250']] as const) {
      await expectError(await put('media', name, styleBody('image/resize,p_60')), 400, 'InvalidArgument', {
        message: `The value: ${name} of parameter: stylename is invalid.`,
        ec,
      });
    }
    await expectError(await get('media', 'bad!name'), 400, 'InvalidArgument', { ec: '0017-00000251' });
    await expectError(await del('media', 'bad!name'), 400, 'InvalidArgument', { ec: '0017-00000251' });
    // 63 characters is fine.
    expect((await put('media', 'N'.repeat(63), styleBody('image/resize,p_60'))).status).toBe(200);
    expect((await del('media', 'N'.repeat(63))).status).toBe(204);
    // PUT and DELETE need a name.
    await expectError(await fetch(`${server.url}/media?style`, { method: 'PUT', body: styleBody('image/resize,p_60') }), 400, 'InvalidArgument', { message: /styleName/ });
    await expectError(await fetch(`${server.url}/media?style`, { method: 'DELETE' }), 400, 'InvalidArgument', { message: /styleName/ });
    await expectError(await fetch(`${server.url}/media?style&styleName=a&styleName=b`), 400, 'InvalidArgument', { message: /more than once/ });
  });

  it('bad bucket names → 400 InvalidBucketName', async () => {
    await expectError(await fetch(`${server.url}/Bad_Bucket?style`), 400, 'InvalidBucketName');
    await expectError(await fetch(`${server.url}/?style`), 400, 'InvalidBucketName');
  });

  it('bad XML → 400 MalformedXML', async () => {
    for (const body of [
      '',
      'image/resize,p_60',
      '<Style><Content>image/resize,p_60</Content>',
      '<Style><Content>image/resize,p_60</Content><Content>image/resize,p_50</Content></Style>',
      '<Style><Name>x</Name><Content>image/resize,p_60</Content></Style>',
      '<Style><Content><b>image/resize,p_60</b></Content></Style>',
      '<Style><Content></Content></Style>',
      '<Style><Content>image/resize&p_60</Content></Style>',
      '<Style><Content>image/resize,p_60&#0;</Content></Style>',
      '<style><content>image/resize,p_60</content></style>',
      '<Style><Content>image/resize,p_60</Content></Style><Style/>',
    ]) {
      await expectError(await put('media', 'x', body), 400, 'MalformedXML');
    }
    expect(styles(await (await get('media')).text())).toEqual([]);
    // Entities are decoded; declaration and whitespace are optional.
    expect((await put('media', 'ent', '<Style><Content>image/resize,&#x70;_60</Content></Style>')).status).toBe(200);
    expect(styles(await (await get('media', 'ent')).text())[0]!.Content).toBe('image/resize,p_60');
    expect((await del('media', 'ent')).status).toBe(204);
  });

  it('invalid content → 400 BadRequest 0017-00000253', async () => {
    for (const content of ['image/resize,p_60;', 'image/resize,p 60', 'image/resize,(p_60)', "image/resize,p_'60'", 'image/resize,p_*', 'image/resize,p_60?', 'style/other', 'image/resize,p_60|sys/saveas,o_dGVzdA']) {
      await expectError(await put('media', 'bad', styleBody(content)), 400, 'BadRequest', { message: /^Style content is invalid\./, ec: '0017-00000253' });
    }
    // A parameter out of range is named, as in a URL.
    await expectError(await put('media', 'bad', styleBody('image/resize,w_0')), 400, 'InvalidArgument', { message: /resize w/ });
    await expectError(await get('media', 'bad'), 404, 'NoSuchStyle');
  });

  it('a body over STILLFRAME_MAX_BODY_BYTES → 413; a wrong Content-MD5 → 400', async () => {
    const big = styleBody(`image/resize,p_60${' '.repeat(1024 ** 2)}`);
    const res = await request(`${server.url}/media?style&styleName=big`, { method: 'PUT', body: big });
    expect(res.statusCode).toBe(413);
    await res.body.dump();
    await expectError(await put('media', 'md5', styleBody('image/resize,p_60'), { headers: { 'content-md5': '1B2M2Y8AsgTpgAmY7PhCfg==' } }), 400, 'InvalidDigest');
  });

  it('other methods → 405', async () => {
    await expectError(await fetch(`${server.url}/media?style&styleName=x`, { method: 'POST', body: 'x' }), 405, 'MethodNotAllowed');
  });
});

describe('styles, embedded store across a restart', () => {
  it('a style put before close() is there after the next start on the same state directory', async () => {
    const state = await mkdtemp(join(tmpdir(), 'stillframe-styles-state-'));
    try {
      const start = () => startServer({ env: { STILLFRAME_STATE_DIR: state } });
      const first = await start();
      try {
        expect((await fetch(`${first.url}/media?style&styleName=keep`, { method: 'PUT', body: styleBody('image/resize,p_60') })).status).toBe(200);
        expect((await fetch(`${first.url}/media?style&styleName=gone`, { method: 'PUT', body: styleBody('image/resize,p_10') })).status).toBe(200);
        expect((await fetch(`${first.url}/media?style&styleName=gone`, { method: 'DELETE' })).status).toBe(204);
      } finally {
        await first.close();
      }
      // One JSON file per bucket, no temporary file left behind.
      expect(await readdir(join(state, 'styles'))).toEqual(['media.json']);
      const file = JSON.parse(await readFile(join(state, 'styles', 'media.json'), 'utf8')) as { styles: { name: string; content: string }[] };
      expect(file.styles.map((s) => [s.name, s.content])).toEqual([['keep', 'image/resize,p_60']]);

      const second = await start();
      try {
        const all = styles(await (await fetch(`${second.url}/media?style`)).text());
        expect(all.map((s) => [s.Name, s.Content])).toEqual([['keep', 'image/resize,p_60']]);
      } finally {
        await second.close();
      }
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  });
});

describe('styles, access keys', () => {
  const AK = 'LTAI-style-key';
  const SECRET = 'style-secret-0123456789';
  const AK2 = 'LTAI-pub-only';
  const SECRET2 = 'pub-only-secret';
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer({
      env: {
        STILLFRAME_ACCESS_KEYS: `${AK}:${SECRET},${AK2}:${SECRET2}`,
        STILLFRAME_BUCKET_ACL: 'pub:public-read',
        STILLFRAME_KEY_BUCKETS: `${AK2}:pub`,
      },
      // ali-oss's V1 signing refuses IP endpoints.
      hostname: 'localhost',
    });
  });
  afterAll(() => server?.close());

  const client = (bucket: string, options: { ak?: string; secret?: string; v4?: boolean } = {}) =>
    ossClient(server.url, { ak: options.ak ?? AK, secret: options.secret ?? SECRET }, bucket, options);

  /** A V1 Authorization header, computed here from OSS's formula (not the server's code). */
  function signedV1(method: string, bucket: string, query: string, secret = SECRET, ak = AK, contentType = '') {
    const date = new Date().toUTCString();
    const resource = `/${bucket}/?${query.split('&').sort().join('&')}`;
    const signature = createHmac('sha1', secret).update([method, '', contentType, date, resource].join('\n')).digest('base64');
    return { date, authorization: `OSS ${ak}:${signature}`, ...(contentType ? { 'content-type': contentType } : {}) };
  }

  it('unsigned PutStyle, GetStyle, ListStyle and DeleteStyle on a private bucket → 403', async () => {
    await expectError(await fetch(`${server.url}/priv?style&styleName=a`, { method: 'PUT', body: styleBody('image/resize,p_60') }), 403, 'AccessDenied');
    await expectError(await fetch(`${server.url}/priv?style&styleName=a`), 403, 'AccessDenied');
    await expectError(await fetch(`${server.url}/priv?style`), 403, 'AccessDenied');
    await expectError(await fetch(`${server.url}/priv?style&styleName=a`, { method: 'DELETE' }), 403, 'AccessDenied');
  });

  it('a public-read bucket: anyone reads its styles, only a key writes them', async () => {
    const body = styleBody('image/resize,p_60');
    await expectError(await fetch(`${server.url}/pub?style&styleName=a`, { method: 'PUT', body }), 403, 'AccessDenied');
    const signed = await fetch(`${server.url}/pub?style&styleName=a`, { method: 'PUT', body, headers: signedV1('PUT', 'pub', 'style&styleName=a', SECRET, AK, 'application/xml') });
    expect(signed.status).toBe(200);
    expect(styles(await (await fetch(`${server.url}/pub?style`)).text()).map((s) => s.Name)).toEqual(['a']);
    await expectError(await fetch(`${server.url}/pub?style&styleName=a`, { method: 'DELETE' }), 403, 'AccessDenied');
  });

  it('the style name is signed: a request re-pointed to another style fails', async () => {
    const headers = signedV1('PUT', 'priv', 'style&styleName=a', SECRET, AK, 'application/xml');
    await expectError(await fetch(`${server.url}/priv?style&styleName=b`, { method: 'PUT', body: styleBody('image/resize,p_60'), headers }), 403, 'SignatureDoesNotMatch');
  });

  it('a key limited to other buckets may not write this one', async () => {
    const headers = signedV1('PUT', 'priv', 'style&styleName=a', SECRET2, AK2, 'application/xml');
    await expectError(await fetch(`${server.url}/priv?style&styleName=a`, { method: 'PUT', body: styleBody('image/resize,p_60'), headers }), 403, 'AccessDenied', { message: /may not write/ });
  });

  it.each([
    ['V1', false],
    ['V4', true],
  ])('requests signed by ali-oss (%s): put, get, list, delete', async (_name, v4) => {
    const oss = client('priv', { v4 }) as unknown as SignedRequester;
    const name = v4 ? 'sig-v4' : 'sig-v1';
    // ali-oss 6.23's style methods belong to its old IMG channel client (ImageClient): for a bucket, its
    // generic signed request, built as its bucket calls build theirs (_bucketRequestParams + subres).
    const put = await oss.request({
      method: 'PUT',
      bucket: 'priv',
      subres: { style: '', styleName: name },
      content: styleBody('image/resize,p_60'),
      mime: 'xml',
      successStatuses: [200],
    });
    expect(put.res.status).toBe(200);
    const got = await oss.request({ method: 'GET', bucket: 'priv', subres: { style: '', styleName: name }, successStatuses: [200] });
    expect(styles(String(got.data))[0]).toMatchObject({ Name: name, Content: 'image/resize,p_60' });
    const list = await oss.request({ method: 'GET', bucket: 'priv', subres: { style: '' }, successStatuses: [200] });
    expect(styles(String(list.data)).map((s) => s.Name)).toContain(name);
    const deleted = await oss.request({ method: 'DELETE', bucket: 'priv', subres: { style: '', styleName: name }, successStatuses: [204] });
    expect(deleted.res.status).toBe(204);
  });
});
