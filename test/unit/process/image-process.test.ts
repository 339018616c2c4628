import { stringify } from 'node:querystring';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import {
  canonicalProcess, type ImageAction, parseProcess, parseSaveAsBody, parseStyleContent, type ProcessRequest,
  resolveAutoFormat, STYLE_NAME, validateStyleName,
} from '../../../src/process/image-process.js';

const limits = { maxOutputDimension: 16384 };
const parse = (s: string) => parseProcess(s, limits);
const b64 = (s: string) => Buffer.from(s).toString('base64url');

function actions(s: string): ImageAction[] {
  const request = parse(s);
  if (request.kind !== 'image') throw new Error(`expected ${s} to be an image process`);
  return request.actions;
}
const one = (s: string) => actions(s)[0];

interface Failure { status: number; code: string; message: string; ec: string | undefined }
function failure(fn: () => unknown): Failure {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message, ec: err.ec };
    throw err;
  }
  throw new Error('expected a failure');
}
const fails = (s: string) => failure(() => parse(s));
const canonical = (s: string) => canonicalProcess(parse(s));

const RESIZE_DEFAULTS = { action: 'resize', mode: 'lfit', width: undefined, height: undefined, long: undefined, short: undefined, percent: undefined, limit: true, color: 'FFFFFF' };
const WATERMARK_DEFAULTS = { action: 'watermark', opacity: 100, gravity: 'se', x: 10, y: 10, voffset: 0, text: undefined, image: undefined, order: 0, align: 0, interval: 0 };
const TEXT_DEFAULTS = { font: 'wqy-zenhei', color: '000000', size: 40, shadow: 0, rotate: 0, fill: false };

describe('parseProcess: actions with their defaults', () => {
  it.each<[string, ImageAction]>([
    ['image/resize,w_100', { ...RESIZE_DEFAULTS, width: 100 } as ImageAction],
    ['image/resize,p_50', { ...RESIZE_DEFAULTS, percent: 50 } as ImageAction],
    ['image/crop', { action: 'crop', x: 0, y: 0, width: undefined, height: undefined, gravity: 'nw' }],
    ['image/indexcrop,x_100', { action: 'indexcrop', axis: 'x', length: 100, index: 0 }],
    ['image/circle,r_100', { action: 'circle', radius: 100 }],
    ['image/rounded-corners,r_30', { action: 'rounded-corners', radius: 30 }],
    ['image/rotate,90', { action: 'rotate', degrees: 90 }],
    ['image/auto-orient,1', { action: 'auto-orient', enabled: true }],
    ['image/auto-orient,0', { action: 'auto-orient', enabled: false }],
    ['image/blur,r_3,s_2', { action: 'blur', radius: 3, sigma: 2 }],
    ['image/bright,50', { action: 'bright', value: 50 }],
    ['image/contrast,-50', { action: 'contrast', value: -50 }],
    ['image/sharpen,100', { action: 'sharpen', value: 100 }],
    ['image/quality,q_90', { action: 'quality', relative: 90, absolute: undefined }],
    ['image/quality,Q_90', { action: 'quality', relative: undefined, absolute: 90 }],
    ['image/format,png', { action: 'format', format: 'png' }],
    ['image/interlace,1', { action: 'interlace', enabled: true }],
    ['image/info', { action: 'info' }],
    ['image/average-hue', { action: 'average-hue' }],
    [`image/watermark,text_${b64('Hello')}`, { ...WATERMARK_DEFAULTS, text: { text: 'Hello', ...TEXT_DEFAULTS } } as ImageAction],
    [`image/watermark,image_${b64('panda.png')}`, { ...WATERMARK_DEFAULTS, image: { key: 'panda.png', actions: [], percent: undefined } } as ImageAction],
  ])('%s', (input, expected) => {
    expect(actions(input)).toEqual([expected]);
  });
});

describe('parseProcess: actions with every parameter', () => {
  it('resize', () => {
    expect(one('image/resize,m_pad,w_150,h_80,limit_0,color_ff00aa')).toEqual({ ...RESIZE_DEFAULTS, mode: 'pad', width: 150, height: 80, limit: false, color: 'FF00AA' });
    for (const mode of ['lfit', 'mfit', 'fill', 'pad', 'fixed']) expect(one(`image/resize,m_${mode},w_10`)).toMatchObject({ mode });
    expect(one('image/resize,l_300,s_200')).toEqual({ ...RESIZE_DEFAULTS, long: 300, short: 200 });
    expect(one('image/resize,w_100,h_100,p_200')).toEqual({ ...RESIZE_DEFAULTS, width: 100, height: 100, percent: 200 });
  });

  it('resize ignores l and s when w or h is given (but still checks them)', () => {
    expect(one('image/resize,w_100,l_300,s_200')).toEqual({ ...RESIZE_DEFAULTS, width: 100 });
    expect(one('image/resize,h_100,l_300')).toEqual({ ...RESIZE_DEFAULTS, height: 100 });
    expect(fails('image/resize,w_100,l_0').message).toBe('Expected integer between 1 and 16384 for resize l but received "0".');
  });

  it("resize keeps OSS's range whatever the snapshot limit (STILLFRAME_MAX_OUTPUT_DIMENSION) says", () => {
    const small = { maxOutputDimension: 4096 };
    expect(parseProcess('image/resize,w_5000', small)).toMatchObject({ actions: [{ width: 5000 }] });
    expect(failure(() => parseProcess('image/resize,w_16385', { maxOutputDimension: 100_000 })).message).toBe('Expected integer between 1 and 16384 for resize w but received "16385".');
  });

  it('crop', () => {
    expect(one('image/crop,x_10,y_20,w_300,h_200,g_center')).toEqual({ action: 'crop', x: 10, y: 20, width: 300, height: 200, gravity: 'center' });
    expect(one('image/crop,w_0,h_0')).toEqual({ action: 'crop', x: 0, y: 0, width: undefined, height: undefined, gravity: 'nw' });
    for (const g of ['nw', 'north', 'ne', 'west', 'center', 'east', 'sw', 'south', 'se']) expect(one(`image/crop,w_10,g_${g}`)).toMatchObject({ gravity: g });
  });

  it('indexcrop: y wins over x; i defaults to 0', () => {
    expect(one('image/indexcrop,y_100,i_10')).toEqual({ action: 'indexcrop', axis: 'y', length: 100, index: 10 });
    expect(one('image/indexcrop,x_50,y_100')).toEqual({ action: 'indexcrop', axis: 'y', length: 100, index: 0 });
    expect(fails('image/indexcrop,x_0,y_100').ec).toBe('0040-00000230');
  });

  it('quality: both q and Q kept, Q wins in the canonical form', () => {
    expect(one('image/quality,q_50,Q_80')).toEqual({ action: 'quality', relative: 50, absolute: 80 });
    expect(canonical('image/quality,q_50,Q_80')).toBe('image/quality,Q_80');
  });

  it('format: every output format, jpeg as jpg, and auto', () => {
    for (const f of ['jpg', 'png', 'webp', 'bmp', 'gif', 'tiff', 'heic', 'avif', 'auto']) expect(one(`image/format,${f}`)).toEqual({ action: 'format', format: f });
    expect(one('image/format,jpeg')).toEqual({ action: 'format', format: 'jpg' });
  });

  it('watermark: text with every parameter', () => {
    const input = `image/watermark,t_50,g_nw,x_0,y_4096,voffset_-1000,text_${b64('你好, world')},type_${b64('fangzhengkaiti')},color_ffffff,size_1000,shadow_100,rotate_360,fill_1`;
    expect(one(input)).toEqual({
      ...WATERMARK_DEFAULTS, opacity: 50, gravity: 'nw', x: 0, y: 4096, voffset: -1000,
      text: { text: '你好, world', font: 'fangzhengkaiti', color: 'FFFFFF', size: 1000, shadow: 100, rotate: 360, fill: true },
    });
  });

  it('watermark: text and image together with order, align, interval', () => {
    const input = `image/watermark,text_${b64('Hi')},image_${b64('logo.png')},order_1,align_2,interval_1000`;
    expect(one(input)).toEqual({
      ...WATERMARK_DEFAULTS, text: { text: 'Hi', ...TEXT_DEFAULTS }, image: { key: 'logo.png', actions: [], percent: undefined },
      order: 1, align: 2, interval: 1000,
    });
    expect(one(`image/watermark,text_${b64('Hi')},align_1`)).toMatchObject({ align: 1, order: 0 });
  });

  it('watermark: the image pre-processing is parsed, P_ taken out of it', () => {
    expect(one(`image/watermark,image_${b64('panda.png?x-oss-process=image/resize,P_30')}`)).toMatchObject({
      image: { key: 'panda.png', actions: [], percent: 30 },
    });
    expect(one(`image/watermark,image_${b64('dir/panda.png?x-oss-process=image/resize,w_100,P_1/rotate,90/crop,w_50')}`)).toMatchObject({
      image: {
        key: 'dir/panda.png', percent: 1,
        actions: [{ ...RESIZE_DEFAULTS, width: 100 }, { action: 'rotate', degrees: 90 }, { action: 'crop', width: 50 }],
      },
    });
    expect(one(`image/watermark,image_${b64('p.png?x-oss-process=image/resize,P_100')}`)).toMatchObject({ image: { percent: 100 } });
  });

  it('watermark image pre-processing: only image actions, P_ only there, in range, once', () => {
    const wm = (spec: string) => fails(`image/watermark,image_${b64(spec)}`).message;
    expect(wm('p.png?x-oss-process=image/resize,P_0')).toBe('Expected integer between 1 and 100 for resize P but received "0".');
    expect(wm('p.png?x-oss-process=image/resize,P_101')).toBe('Expected integer between 1 and 100 for resize P but received "101".');
    expect(wm('p.png?x-oss-process=image/resize,P_10/resize,P_20')).toBe('Parameter "P" appears more than once in the watermark image\'s x-oss-process.');
    expect(wm(`p.png?x-oss-process=image/watermark,text_${b64('x')}`)).toBe("watermark is not allowed in a watermark image's x-oss-process.");
    expect(wm('p.png?x-oss-process=image/info')).toBe("info is not allowed in a watermark image's x-oss-process.");
    expect(wm('p.png?x-oss-process=image/format,auto')).toBe('Expected one of jpg, png, webp, bmp, gif, tiff, heic, avif, jpeg for format but received "auto".');
    expect(wm('p.png?x-oss-process=video/snapshot')).toBe('The watermark image "p.png?x-oss-process=video/snapshot" may only carry ?x-oss-process=image/….');
    expect(wm('p.png?versionId=1')).toBe('The watermark image "p.png?versionId=1" may only carry ?x-oss-process=image/….');
    expect(wm('../p.png')).toBe('The watermark image "../p.png" is not a valid object key: The object key contains an empty, "." or ".." path segment.');
    expect(fails('image/resize,P_30').message).toBe('Unknown parameter "P" in resize: expected m, w, h, l, s, p, limit or color.');
  });

  it('watermark: text up to 64 characters (not bytes)', () => {
    expect(one(`image/watermark,text_${b64('字'.repeat(64))}`)).toMatchObject({ text: { text: '字'.repeat(64) } });
    const long = b64('a'.repeat(65));
    expect(fails(`image/watermark,text_${long}`)).toEqual({ status: 400, code: 'InvalidArgument', ec: undefined, message: `Expected base64 of at most 64 characters for watermark text but received "${long}".` });
  });

  it('watermark: fonts as OSS names them', () => {
    for (const font of ['wqy-zenhei', 'wqy-microhei', 'fangzhengshusong', 'fangzhengkaiti', 'fangzhengheiti', 'fangzhengfangsong', 'droidsansfallback']) {
      expect(one(`image/watermark,text_${b64('x')},type_${b64(font)}`)).toMatchObject({ text: { font } });
    }
    expect(fails(`image/watermark,text_${b64('x')},type_${b64('comic-sans')}`).message).toBe(
      'Expected one of wqy-zenhei, wqy-microhei, fangzhengshusong, fangzhengkaiti, fangzhengheiti, fangzhengfangsong, droidsansfallback for watermark type but received "comic-sans".',
    );
  });

  it('watermark: needs text or image; at most 3 image watermarks', () => {
    expect(fails('image/watermark,t_50').message).toBe('watermark needs text_ or image_ (or both).');
    const wm = `watermark,image_${b64('logo.png')}`;
    expect(actions(`image/${wm}/${wm}/${wm}/watermark,text_${b64('x')}`)).toHaveLength(4);
    expect(fails(`image/${wm}/${wm}/${wm}/${wm}`).message).toBe('At most 3 image watermarks are allowed in one x-oss-process; received 4.');
    expect(failure(() => parseProcess(`video/snapshot|image/${wm}/${wm}|${wm}/${wm}`, limits)).message).toBe('At most 3 image watermarks are allowed in one x-oss-process; received 4.');
  });
});

describe('parseProcess: base64 parameters', () => {
  const text = 'Hello? 世界 >>~';
  const standard = Buffer.from(text).toString('base64');
  const urlSafe = Buffer.from(text).toString('base64url');

  it('accepts URL-safe and standard alphabets, padded or not', () => {
    expect(standard).toMatch(/^[^=]*\/[^=]*\+[^=]*=$/);
    for (const spelling of [standard, standard.replace(/=+$/, ''), urlSafe, `${urlSafe}=`.slice(0, standard.length)]) {
      expect(one(`image/watermark,text_${spelling}`)).toMatchObject({ text: { text } });
    }
  });

  it('a standard-alphabet "/" does not end the watermark; a "+" that became a space is a "+"', () => {
    expect(one(`image/watermark,text_${standard},color_FF0000`)).toMatchObject({ text: { text, color: 'FF0000' } });
    expect(actions(`image/watermark,text_${standard}/rotate,90`)).toMatchObject([{ text: { text } }, { action: 'rotate', degrees: 90 }]);
    expect(one(`image/watermark,text_${standard.replaceAll('+', ' ')}`)).toMatchObject({ text: { text } });
    const key = 'wm/ÿÿ.png';
    expect(Buffer.from(key).toString('base64')).toContain('/');
    expect(one(`image/watermark,image_${Buffer.from(key).toString('base64')},t_50`)).toMatchObject({ opacity: 50, image: { key } });
  });

  it.each([
    ['text', 'not base64!'],
    ['text', 'a'],
    ['text', 'ab=c'],
    ['text', 'abc=='],
    ['text', ''],
    ['text', '_w'], // 0xFF: not UTF-8
    ['type', '!!'],
    ['image', '=='],
  ])('refuses %s_%s', (param, value) => {
    expect(fails(`image/watermark,${param}_${value}`)).toEqual({
      status: 400, code: 'InvalidArgument', ec: undefined,
      message: `Expected non-empty base64 (URL-safe or standard) of UTF-8 text for watermark ${param} but received "${value}".`,
    });
  });
});

describe('parseProcess: range edges', () => {
  it.each([
    ['image/resize,w_1'], ['image/resize,w_16384'], ['image/resize,h_1'], ['image/resize,h_16384'],
    ['image/resize,l_1'], ['image/resize,l_16384'], ['image/resize,s_1'], ['image/resize,s_16384'],
    ['image/resize,p_1'], ['image/resize,p_1000'], ['image/resize,w_1,limit_0'], ['image/resize,w_1,limit_1'],
    ['image/crop,x_0,y_0,w_0,h_0'], ['image/crop,x_2147483647,y_2147483647,w_2147483647,h_2147483647'],
    ['image/indexcrop,x_1'], ['image/indexcrop,y_1,i_0'], ['image/indexcrop,x_2147483647,i_2147483647'],
    ['image/circle,r_1'], ['image/circle,r_4096'], ['image/rounded-corners,r_1'], ['image/rounded-corners,r_4096'],
    ['image/rotate,0'], ['image/rotate,360'], ['image/blur,r_1,s_1'], ['image/blur,r_50,s_50'],
    ['image/bright,-100'], ['image/bright,100'], ['image/bright,0'], ['image/contrast,-100'], ['image/contrast,100'],
    ['image/sharpen,50'], ['image/sharpen,399'], ['image/quality,q_1'], ['image/quality,q_100'], ['image/quality,Q_1'],
    ['image/quality,Q_100'], ['image/interlace,0'],
    [`image/watermark,text_${b64('x')},t_0,x_0,y_0,voffset_1000,size_1,shadow_0,rotate_0,fill_0,order_0,align_0,interval_0`],
    [`image/watermark,text_${b64('x')},t_100,x_4096,y_4096,voffset_-1000,size_1000,shadow_100,rotate_360,interval_1000`],
  ])('accepts %s', (input) => {
    expect(() => parse(input)).not.toThrow();
  });

  const text = `text_${b64('x')}`;
  it.each<[string, string, string?]>([
    ['image/resize,w_0', 'Expected integer between 1 and 16384 for resize w but received "0".'],
    ['image/resize,w_16385', 'Expected integer between 1 and 16384 for resize w but received "16385".'],
    ['image/resize,h_0', 'Expected integer between 1 and 16384 for resize h but received "0".'],
    ['image/resize,h_16385', 'Expected integer between 1 and 16384 for resize h but received "16385".'],
    ['image/resize,l_16385', 'Expected integer between 1 and 16384 for resize l but received "16385".'],
    ['image/resize,s_0', 'Expected integer between 1 and 16384 for resize s but received "0".'],
    ['image/resize,p_0', 'Expected integer between 1 and 1000 for resize p but received "0".', '0040-00000317'],
    ['image/resize,p_1001', 'Expected integer between 1 and 1000 for resize p but received "1001".', '0040-00000317'],
    ['image/resize,p_abc', 'Expected integer between 1 and 1000 for resize p but received "abc".', '0040-00000317'],
    ['image/resize,m_scale,w_10', 'Expected one of lfit, mfit, fill, pad, fixed for resize m but received "scale".', '0040-00000311'],
    ['image/resize,w_10,limit_2', 'Expected one of 0, 1 for resize limit but received "2".'],
    ['image/resize,w_10,color_FFF', 'Expected hex colour RRGGBB for resize color but received "FFF".'],
    ['image/resize,w_10,color_GGGGGG', 'Expected hex colour RRGGBB for resize color but received "GGGGGG".'],
    ['image/crop,x_-1', 'Expected integer >= 0 for crop x but received "-1".'],
    ['image/crop,y_-1', 'Expected integer >= 0 for crop y but received "-1".'],
    ['image/crop,w_-1', 'Expected integer >= 0 for crop w but received "-1".'],
    ['image/crop,h_2147483648', 'Expected integer >= 0 for crop h but received "2147483648".'],
    ['image/crop,w_500,h_500,g_fac', 'Expected one of nw, north, ne, west, center, east, sw, south, se for crop g but received "fac".', '0040-00000209'],
    ['image/indexcrop,x_0', 'Expected integer >= 1 for indexcrop x but received "0".', '0040-00000230'],
    ['image/indexcrop,y_0', 'Expected integer >= 1 for indexcrop y but received "0".', '0040-00000224'],
    ['image/indexcrop,y_abc', 'Expected integer >= 1 for indexcrop y but received "abc".', '0040-00000224'],
    ['image/indexcrop,y_100,i_abc', 'Expected integer >= 0 for indexcrop i but received "abc".', '0040-00000229'],
    ['image/indexcrop,y_100,i_-1', 'Expected integer >= 0 for indexcrop i but received "-1".', '0040-00000229'],
    ['image/circle,r_0', 'Expected integer between 1 and 4096 for circle r but received "0".'],
    ['image/circle,r_4097', 'Expected integer between 1 and 4096 for circle r but received "4097".'],
    ['image/rounded-corners,r_0', 'Expected integer between 1 and 4096 for rounded-corners r but received "0".'],
    ['image/rounded-corners,r_4097', 'Expected integer between 1 and 4096 for rounded-corners r but received "4097".'],
    ['image/rotate,-1', 'Expected integer between 0 and 360 for rotate but received "-1".'],
    ['image/rotate,361', 'Expected integer between 0 and 360 for rotate but received "361".'],
    ['image/auto-orient,2', 'Expected one of 0, 1 for auto-orient but received "2".'],
    ['image/blur,r_0,s_1', 'Expected integer between 1 and 50 for blur r but received "0".'],
    ['image/blur,r_51,s_1', 'Expected integer between 1 and 50 for blur r but received "51".'],
    ['image/blur,r_1,s_0', 'Expected integer between 1 and 50 for blur s but received "0".'],
    ['image/blur,r_1,s_51', 'Expected integer between 1 and 50 for blur s but received "51".'],
    ['image/bright,-101', 'Expected integer between -100 and 100 for bright but received "-101".'],
    ['image/bright,101', 'Expected integer between -100 and 100 for bright but received "101".'],
    ['image/contrast,-101', 'Expected integer between -100 and 100 for contrast but received "-101".'],
    ['image/contrast,101', 'Expected integer between -100 and 100 for contrast but received "101".'],
    ['image/sharpen,49', 'Expected integer between 50 and 399 for sharpen but received "49".'],
    ['image/sharpen,400', 'Expected integer between 50 and 399 for sharpen but received "400".'],
    ['image/quality,q_0', 'Expected integer between 1 and 100 for quality q but received "0".'],
    ['image/quality,q_101', 'Expected integer between 1 and 100 for quality q but received "101".'],
    ['image/quality,Q_0', 'Expected integer between 1 and 100 for quality Q but received "0".'],
    ['image/quality,Q_101', 'Expected integer between 1 and 100 for quality Q but received "101".'],
    ['image/format,jfif', 'Expected one of jpg, png, webp, bmp, gif, tiff, heic, avif, jpeg, auto for format but received "jfif".'],
    ['image/format,PNG', 'Expected one of jpg, png, webp, bmp, gif, tiff, heic, avif, jpeg, auto for format but received "PNG".'],
    ['image/interlace,2', 'Expected one of 0, 1 for interlace but received "2".'],
    [`image/watermark,${text},t_101`, 'Expected integer between 0 and 100 for watermark t but received "101".'],
    [`image/watermark,${text},t_-1`, 'Expected integer between 0 and 100 for watermark t but received "-1".'],
    [`image/watermark,${text},g_middle`, 'Expected one of nw, north, ne, west, center, east, sw, south, se for watermark g but received "middle".'],
    [`image/watermark,${text},x_4097`, 'Expected integer between 0 and 4096 for watermark x but received "4097".'],
    [`image/watermark,${text},y_-1`, 'Expected integer between 0 and 4096 for watermark y but received "-1".'],
    [`image/watermark,${text},voffset_1001`, 'Expected integer between -1000 and 1000 for watermark voffset but received "1001".'],
    [`image/watermark,${text},voffset_-1001`, 'Expected integer between -1000 and 1000 for watermark voffset but received "-1001".'],
    [`image/watermark,${text},color_12345`, 'Expected hex colour RRGGBB for watermark color but received "12345".'],
    [`image/watermark,${text},size_0`, 'Expected integer between 1 and 1000 for watermark size but received "0".'],
    [`image/watermark,${text},size_1001`, 'Expected integer between 1 and 1000 for watermark size but received "1001".'],
    [`image/watermark,${text},shadow_101`, 'Expected integer between 0 and 100 for watermark shadow but received "101".'],
    [`image/watermark,${text},rotate_361`, 'Expected integer between 0 and 360 for watermark rotate but received "361".'],
    [`image/watermark,${text},fill_2`, 'Expected one of 0, 1 for watermark fill but received "2".'],
    [`image/watermark,${text},order_2`, 'Expected one of 0, 1 for watermark order but received "2".'],
    [`image/watermark,${text},align_3`, 'Expected one of 0, 1, 2 for watermark align but received "3".'],
    [`image/watermark,${text},interval_1001`, 'Expected integer between 0 and 1000 for watermark interval but received "1001".'],
    [`image/watermark,${text},interval_-1`, 'Expected integer between 0 and 1000 for watermark interval but received "-1".'],
  ])('refuses %s', (input, message, ec) => {
    expect(fails(input)).toEqual({ status: 400, code: 'InvalidArgument', message, ec });
  });

  it.each([
    ['image/resize,w_0100', 'resize w', '1 and 16384', '0100'],
    ['image/resize,w_+100', 'resize w', '1 and 16384', '+100'],
    ['image/resize,w_ 100', 'resize w', '1 and 16384', ' 100'],
    ['image/resize,w_100 ', 'resize w', '1 and 16384', '100 '],
    ['image/resize,w_1e2', 'resize w', '1 and 16384', '1e2'],
    ['image/resize,w_100.0', 'resize w', '1 and 16384', '100.0'],
    ['image/resize,w_0x10', 'resize w', '1 and 16384', '0x10'],
    ['image/resize,w_', 'resize w', '1 and 16384', ''],
    ['image/rotate,090', 'rotate', '0 and 360', '090'],
    ['image/bright,-0', 'bright', '-100 and 100', '-0'],
    ['image/bright,+5', 'bright', '-100 and 100', '+5'],
    ['image/contrast,-05', 'contrast', '-100 and 100', '-05'],
  ])('accepts one spelling per number: refuses %j', (input, subject, range, received) => {
    expect(fails(input).message).toBe(`Expected integer between ${range} for ${subject} but received "${received}".`);
  });
});

describe('parseProcess: malformed actions and parameters', () => {
  it.each([
    ['image/resize,w_100,w_200', 'Parameter "w" appears more than once in resize.'],
    [`image/watermark,text_${b64('a')},text_${b64('b')}`, 'Parameter "text" appears more than once in watermark.'],
    ['image/resize,w100', 'Malformed parameter "w100" in resize: expected name_value.'],
    ['image/resize,_100', 'Malformed parameter "_100" in resize: expected name_value.'],
    ['image/resize,,w_100', 'Malformed parameter "" in resize: expected name_value.'],
    ['image/resize,z_1', 'Unknown parameter "z" in resize: expected m, w, h, l, s, p, limit or color.'],
    ['image/resize,W_100', 'Unknown parameter "W" in resize: expected m, w, h, l, s, p, limit or color.'],
    ['image/crop,r_1', 'Unknown parameter "r" in crop: expected x, y, w, h or g.'],
    ['image/resize', 'resize needs at least one of w, h, l, s or p.'],
    ['image/resize,m_fill,limit_0', 'resize needs at least one of w, h, l, s or p.'],
    ['image/indexcrop,i_1', 'indexcrop needs x or y (the slice length, integer >= 1).'],
    ['image/circle', 'Parameter "r" is required in circle: integer between 1 and 4096.'],
    ['image/rounded-corners', 'Parameter "r" is required in rounded-corners: integer between 1 and 4096.'],
    ['image/blur,r_3', 'Parameter "s" is required in blur: integer between 1 and 50.'],
    ['image/blur,s_3', 'Parameter "r" is required in blur: integer between 1 and 50.'],
    ['image/quality', 'quality needs q (relative) or Q (absolute), integer between 1 and 100.'],
    ['image/rotate', 'rotate takes one value: rotate,<integer between 0 and 360>.'],
    ['image/rotate,90,1', 'rotate takes one value: rotate,<integer between 0 and 360>.'],
    ['image/auto-orient', 'auto-orient takes one value: auto-orient,<0 or 1>.'],
    ['image/format', 'format takes one value: format,<jpg|png|webp|bmp|gif|tiff|heic|avif|jpeg|auto>.'],
    ['image/rotate,r_90', 'Expected integer between 0 and 360 for rotate but received "r_90".'],
    ['image/info,x_1', 'info takes no parameters.'],
    ['image/average-hue,1', 'average-hue takes no parameters.'],
    ['image/foo', 'Unknown image action "foo": expected resize, crop, indexcrop, circle, rounded-corners, rotate, auto-orient, blur, bright, contrast, sharpen, watermark, quality, format, interlace, info or average-hue.'],
    ['image/Resize,w_100', 'Unknown image action "Resize": expected resize, crop, indexcrop, circle, rounded-corners, rotate, auto-orient, blur, bright, contrast, sharpen, watermark, quality, format, interlace, info or average-hue.'],
    ['image/', 'Empty image action in "": actions are separated by one "/".'],
    ['image/resize,w_100/', 'Empty image action in "resize,w_100/": actions are separated by one "/".'],
    ['image/resize,w_100//rotate,90', 'Empty image action in "resize,w_100//rotate,90": actions are separated by one "/".'],
    ['image/info/resize,w_100', 'info cannot be combined with other actions.'],
    ['image/resize,s_700,limit_0/info', 'info cannot be combined with other actions.'],
    ['image/info/info', 'info cannot be combined with other actions.'],
    ['image/resize,w_100|rotate,90', '"|" may only follow video/snapshot in x-oss-process.'],
    ['', 'Unsupported x-oss-process "": expected image/…, style/<name> or video/snapshot,….'],
    ['resize,w_100', 'Unsupported x-oss-process "resize": expected image/…, style/<name> or video/snapshot,….'],
    ['image', 'Unsupported x-oss-process "image": expected image/…, style/<name> or video/snapshot,….'],
    ['audio/convert', 'Unsupported x-oss-process "audio": expected image/…, style/<name> or video/snapshot,….'],
  ])('refuses %j', (input, message) => {
    expect(fails(input)).toEqual({ status: 400, code: 'InvalidArgument', message, ec: undefined });
  });

  it('caps the length of a process at 4096 characters', () => {
    const longest = `image/${'rotate,90/'.repeat(408)}rotate,180`;
    expect(longest).toHaveLength(4096);
    expect(actions(longest)).toHaveLength(409);
    expect(fails(`${longest}0`).message).toBe('x-oss-process is longer than 4096 characters.');
  });

  it('refuses sys/saveas on a GET, wherever it is', () => {
    for (const input of [`image/resize,w_100|sys/saveas,o_${b64('a.jpg')}`, `video/snapshot,t_1|sys/saveas,o_${b64('a.jpg')}`, 'sys/saveas,o_YQ', `style/s|sys/saveas,o_${b64('a')}`]) {
      expect(fails(input)).toEqual({
        status: 400, code: 'InvalidArgument', ec: undefined,
        message: 'sys/saveas is only allowed in a POST /{bucket}/{key}?x-oss-process request body.',
      });
    }
  });
});

describe('parseProcess: chains', () => {
  it('applies actions left to right, repeats allowed', () => {
    expect(actions('image/resize,w_200/rotate,90/resize,w_100/format,webp').map((a) => a.action)).toEqual(['resize', 'rotate', 'resize', 'format']);
    expect(actions('image/rotate,90/resize,w_200')[0]).toEqual({ action: 'rotate', degrees: 90 });
    expect(actions('image/resize,w_300/quality,q_90/average-hue').map((a) => a.action)).toEqual(['resize', 'quality', 'average-hue']);
  });

  it('video/snapshot alone, and followed by |image/… segments (TOS grammar)', () => {
    expect(parse('video/snapshot,t_1000')).toEqual({
      kind: 'snapshot', actions: [],
      snapshot: { timeMs: 1000, width: 0, height: 0, seek: 'exact', format: 'jpg', orientation: 'none' },
    });
    const chained = parse('video/snapshot,t_1000,f_png,w_800|image/resize,w_100/rotate,90|crop,w_50|image/format,webp');
    expect(chained).toMatchObject({
      kind: 'snapshot', snapshot: { timeMs: 1000, width: 800, format: 'png' },
      actions: [{ action: 'resize', width: 100 }, { action: 'rotate' }, { action: 'crop', width: 50 }, { action: 'format', format: 'webp' }],
    });
  });

  it('video/snapshot chains: the first image segment names image/; errors of the snapshot keep their EC', () => {
    expect(fails('video/snapshot,t_1000|resize,w_100').message).toBe('The image actions after video/snapshot must start with image/ (received "resize,w_100").');
    expect(fails('video/snapshot,t_1000|').message).toBe('The image actions after video/snapshot must start with image/ (received "").');
    expect(fails('video/snapshot,t_1000|image/resize,w_100|').message).toBe('Empty image action in "": actions are separated by one "/".');
    expect(fails('video/snapshot,t_1000|image/info').message).toBe('info cannot be combined with other actions.');
    expect(fails('video/snapshot,t_x|image/resize,w_100')).toEqual({ status: 400, code: 'InvalidArgument', message: 'Expected integer >= 0 for t but received "x".', ec: '0053-00000101' });
    expect(fails('video/convert,t_1').ec).toBe('0053-00000109');
    expect(fails(`video/snapshot,${'t_1,'.repeat(80)}t_1|image/rotate,90`).ec).toBe('0053-00000109');
    expect(fails('video/snapshot|image/resize,w_0').message).toBe('Expected integer between 1 and 16384 for resize w but received "0".');
  });

  it('the snapshot w/h keep the configured limit', () => {
    expect(failure(() => parseProcess('video/snapshot,w_5000|image/rotate,90', { maxOutputDimension: 4096 })).ec).toBe('0053-00000104');
  });
});

describe('parseProcess: style/', () => {
  it('names a style', () => {
    expect(parse('style/thumb_v2.small-1')).toEqual({ kind: 'style', name: 'thumb_v2.small-1' });
    expect(parse(`style/${'a'.repeat(63)}`)).toEqual({ kind: 'style', name: 'a'.repeat(63) });
  });

  it.each(['', 'a b', 'a/b', 'a'.repeat(64), 'ü', 'a,b', 'a/resize,w_100'])('refuses style/%s with 0017-00000251', (name) => {
    expect(fails(`style/${name}`)).toEqual({ status: 400, code: 'InvalidArgument', ec: '0017-00000251', message: `The value: ${name} of parameter: stylename is invalid.` });
  });
});

describe('canonicalProcess', () => {
  it('spells defaults out in a fixed order', () => {
    expect(canonical('image/resize,w_100')).toBe('image/resize,m_lfit,w_100,limit_1');
    expect(canonical('image/resize,color_00ff00,m_pad,h_50,w_100,limit_0')).toBe('image/resize,m_pad,w_100,h_50,limit_0,color_00FF00');
    expect(canonical('image/crop,g_se,h_10,w_20')).toBe('image/crop,x_0,y_0,w_20,h_10,g_se');
    expect(canonical('image/indexcrop,i_2,x_10')).toBe('image/indexcrop,x_10,i_2');
    expect(canonical('image/blur,s_2,r_3/circle,r_5/rounded-corners,r_6')).toBe('image/blur,r_3,s_2/circle,r_5/rounded-corners,r_6');
    expect(canonical('image/rotate,90/auto-orient,0/bright,-5/contrast,5/sharpen,100/interlace,1')).toBe('image/rotate,90/auto-orient,0/bright,-5/contrast,5/sharpen,100/interlace,1');
    expect(canonical('image/format,jpeg/quality,q_80/info'.replace('/info', ''))).toBe('image/format,jpg/quality,q_80');
    expect(canonical('image/info')).toBe('image/info');
    expect(canonical('image/average-hue')).toBe('image/average-hue');
    expect(canonical(`image/watermark,text_${Buffer.from('Hi>?').toString('base64')}`)).toBe(
      `image/watermark,t_100,g_se,x_10,y_10,voffset_0,text_${b64('Hi>?')},type_${b64('wqy-zenhei')},color_000000,size_40,shadow_0,rotate_0,fill_0,order_0,align_0,interval_0`,
    );
    expect(canonical('style/thumb')).toBe('style/thumb');
    expect(canonical('video/snapshot,f_png,t_1000')).toBe('video/snapshot,t_1000,w_0,h_0,f_png');
    expect(canonical('video/snapshot,t_1000|image/rotate,90|resize,w_10')).toBe('video/snapshot,t_1000,w_0,h_0,f_jpg|image/rotate,90/resize,m_lfit,w_10,limit_1');
  });

  it.each([
    ['image/resize,w_100,h_50,m_fill', 'image/resize,m_fill,h_50,w_100,limit_1'],
    ['image/resize,w_100', 'image/resize,w_100,m_lfit,limit_1,color_FFFFFF'],
    ['image/resize,w_100,color_123456', 'image/resize,w_100'],
    ['image/resize,m_pad,w_100,color_abcdef', 'image/resize,m_pad,w_100,color_ABCDEF'],
    ['image/resize,w_100,l_50,s_20', 'image/resize,w_100'],
    ['image/crop,w_0,h_0', 'image/crop,x_0,y_0,g_nw'],
    ['image/crop,x_5,y_6,w_7,h_8,g_south', 'image/crop,g_south,h_8,w_7,y_6,x_5'],
    ['image/indexcrop,x_50,y_100', 'image/indexcrop,y_100,i_0'],
    ['image/quality,q_10,Q_80', 'image/quality,Q_80'],
    ['image/format,jpeg', 'image/format,jpg'],
    ['image/blur,r_3,s_2', 'image/blur,s_2,r_3'],
    [`image/watermark,text_${Buffer.from('你好').toString('base64')},color_ff0000`, `image/watermark,color_FF0000,t_100,text_${b64('你好')},type_${b64('wqy-zenhei')},g_se,x_10,y_10,voffset_0,size_40`],
    [`image/watermark,image_${b64('a.png')},color_ff0000,size_20`, `image/watermark,image_${b64('a.png')}`],
    [`image/watermark,image_${b64('a.png?x-oss-process=image/resize,P_30/rotate,90')}`, `image/watermark,image_${b64('a.png?x-oss-process=image/rotate,90/resize,P_30')}`],
    [`image/watermark,image_${b64('a.png?x-oss-process=image/resize,w_10,P_30')}`, `image/watermark,image_${Buffer.from('a.png?x-oss-process=image/resize,P_30/resize,w_10').toString('base64')}`],
    ['video/snapshot,t_1000,f_png|image/format,webp', 'video/snapshot,t_1000|image/format,webp'],
    ['video/snapshot,t_1000|image/rotate,90|resize,w_10', 'video/snapshot,t_1000|image/rotate,90/resize,w_10'],
    ['video/snapshot,t_1000|image/rotate,90|image/resize,w_10', 'video/snapshot,t_1000|image/rotate,90|resize,w_10'],
  ])('%s and %s are one request', (a, b) => {
    expect(canonical(a)).toBe(canonical(b));
  });

  it.each([
    ['image/resize,w_100', 'image/resize,h_100'],
    ['image/resize,w_100', 'image/resize,w_100,limit_0'],
    ['image/resize,m_pad,w_100', 'image/resize,m_pad,w_100,color_000000'],
    ['image/resize,l_100', 'image/resize,s_100'],
    ['image/resize,w_100/rotate,90', 'image/rotate,90/resize,w_100'],
    ['image/crop,w_10', 'image/crop,h_10'],
    ['image/indexcrop,x_10', 'image/indexcrop,y_10'],
    ['image/quality,q_80', 'image/quality,Q_80'],
    ['image/bright,5', 'image/contrast,5'],
    ['image/auto-orient,0', 'image/auto-orient,1'],
    ['image/format,auto', 'image/format,jpg'],
    [`image/watermark,text_${b64('a')}`, `image/watermark,text_${b64('b')}`],
    [`image/watermark,text_${b64('a')}`, `image/watermark,text_${b64('a')},type_${b64('wqy-microhei')}`],
    [`image/watermark,image_${b64('a.png')}`, `image/watermark,image_${b64('a.png?x-oss-process=image/resize,P_30')}`],
    [`image/watermark,image_${b64('a.png')},text_${b64('a')}`, `image/watermark,image_${b64('a.png')},text_${b64('a')},order_1`],
    ['video/snapshot,t_1000,f_png', 'video/snapshot,t_1000'],
    ['video/snapshot,t_1000,f_png|image/rotate,90', 'video/snapshot,t_1000|image/rotate,90'],
    ['video/snapshot,t_1000|image/rotate,90', 'image/rotate,90'],
    ['style/a', 'style/b'],
  ])('%s and %s are different requests', (a, b) => {
    expect(canonical(a)).not.toBe(canonical(b));
  });

  it('parses back to the same request', () => {
    for (const input of [
      'image/resize,m_pad,w_100,h_50,color_00ff00/crop,w_10,g_center/indexcrop,y_5,i_1/rotate,90/format,png',
      `image/watermark,text_${b64('Hi')},image_${b64('a.png?x-oss-process=image/resize,w_10,P_30/circle,r_5')},g_center,order_1`,
      'video/snapshot,t_5,f_png,m_fast,ar_auto|image/blur,r_3,s_2|quality,Q_50',
      'style/thumb',
    ]) {
      const request: ProcessRequest = parse(input);
      expect(parse(canonicalProcess(request))).toEqual(request);
      expect(canonicalProcess(parse(canonicalProcess(request)))).toBe(canonicalProcess(request));
    }
  });
});

describe('resolveAutoFormat', () => {
  const auto = actions('image/resize,w_100/format,auto');
  const resolved = (accept: string | undefined) => resolveAutoFormat(auto, accept).actions[1];

  it('avif, else webp, else jpg by Accept', () => {
    expect(resolved('image/avif,image/webp,image/apng,image/*,*/*;q=0.8')).toEqual({ action: 'format', format: 'avif' });
    expect(resolved('image/webp,*/*')).toEqual({ action: 'format', format: 'webp' });
    expect(resolved('IMAGE/WEBP ; q=0.5')).toEqual({ action: 'format', format: 'webp' });
    expect(resolved('image/avif;q=0, image/webp')).toEqual({ action: 'format', format: 'webp' });
    expect(resolved('image/*,*/*')).toEqual({ action: 'format', format: 'jpg' });
    expect(resolved('')).toEqual({ action: 'format', format: 'jpg' });
    expect(resolved(undefined)).toEqual({ action: 'format', format: 'jpg' });
  });

  it('tells the route to vary on Accept only when it negotiated', () => {
    expect(resolveAutoFormat(auto, 'image/webp').negotiated).toBe(true);
    expect(resolveAutoFormat(auto, undefined).negotiated).toBe(true);
    const fixed = actions('image/resize,w_100/format,png');
    expect(resolveAutoFormat(fixed, 'image/avif')).toEqual({ actions: fixed, negotiated: false });
    expect(resolveAutoFormat(auto, 'image/webp').actions[0]).toBe(auto[0]);
  });

  it('the resolved request has its own canonical form', () => {
    const request = parse('image/format,auto');
    if (request.kind !== 'image') throw new Error('image');
    const { actions: webp } = resolveAutoFormat(request.actions, 'image/webp');
    expect(canonicalProcess(request)).toBe('image/format,auto');
    expect(canonicalProcess({ kind: 'image', actions: webp })).toBe('image/format,webp');
  });
});

describe('parseSaveAsBody', () => {
  // Standard base64 of this key holds all of + / =.
  const key = 'w/?>~~.png';
  const bucket = 'target-bucket';
  const std = (s: string) => Buffer.from(s).toString('base64');

  it('the documented example', () => {
    expect(parseSaveAsBody('x-oss-process=image/resize,w_100|sys/saveas,o_dGVzdC5qcGc,b_dGVzdA')).toEqual({
      process: 'image/resize,w_100', saveAs: { key: 'test.jpg', bucket: 'test' },
    });
  });

  it('standard base64 with padding, unescaped', () => {
    expect(std(key)).toMatch(/\+.*\/|\/.*\+/);
    expect(std(key)).toMatch(/=$/);
    expect(parseSaveAsBody(`x-oss-process=image/resize,w_100|sys/saveas,o_${std(key)},b_${std(bucket)}`)).toEqual({
      process: 'image/resize,w_100', saveAs: { key, bucket },
    });
  });

  it('URL-safe unpadded base64; b optional', () => {
    expect(parseSaveAsBody(`x-oss-process=image/resize,w_100/rotate,90|sys/saveas,o_${b64(key)}`)).toEqual({
      process: 'image/resize,w_100/rotate,90', saveAs: { key, bucket: undefined },
    });
  });

  it('exactly as ali-oss processObjectSave sends it (standard base64, querystring.stringify)', () => {
    const body = stringify({ 'x-oss-process': `image/resize,w_100|sys/saveas,o_${std(key)},b_${std(bucket)}` });
    expect(body).toContain('%2B');
    expect(parseSaveAsBody(body)).toEqual({ process: 'image/resize,w_100', saveAs: { key, bucket } });
  });

  it('a + that a form decoder turned into a space is a +', () => {
    expect(std(key)).toContain('+');
    const body = `x-oss-process=${encodeURIComponent(`image/resize,w_100|sys/saveas,o_${std(key)}`).replaceAll('%2B', '+')}`;
    expect(parseSaveAsBody(body).saveAs.key).toBe(key);
  });

  it('a snapshot chain, and a style', () => {
    expect(parseSaveAsBody(`x-oss-process=video/snapshot,t_1000,f_jpg|image/rotate,90|sys/saveas,o_${b64('a.jpg')}`)).toEqual({
      process: 'video/snapshot,t_1000,f_jpg|image/rotate,90', saveAs: { key: 'a.jpg', bucket: undefined },
    });
    expect(parseSaveAsBody(`x-oss-process=style/thumb|sys/saveas,o_${b64('a.jpg')}`).process).toBe('style/thumb');
  });

  it.each([
    ['', 'The request body must be x-oss-process=<process>|sys/saveas,o_<base64 key>[,b_<base64 bucket>].'],
    ['process=image/resize,w_1', 'The request body must be x-oss-process=<process>|sys/saveas,o_<base64 key>[,b_<base64 bucket>].'],
    [`x-oss-process=a|sys/saveas,o_${b64('a')}&x-oss-process=b`, 'x-oss-process appears more than once in the request body.'],
    ['x-oss-process=image/resize,w_100', 'x-oss-process has no sys/saveas: expected x-oss-process=<process>|sys/saveas,o_<base64 key>[,b_<base64 bucket>].'],
    [`x-oss-process=sys/saveas,o_${b64('a')}|image/resize,w_100`, 'sys/saveas must be the last "|" segment of x-oss-process.'],
    [`x-oss-process=image/resize,w_100|sys/saveasx,o_${b64('a')}`, 'sys/saveas must be the last "|" segment of x-oss-process.'],
    [`x-oss-process=sys/saveas,o_${b64('a')}`, 'x-oss-process has nothing to save before sys/saveas.'],
    [`x-oss-process=|sys/saveas,o_${b64('a')}`, 'x-oss-process has nothing to save before sys/saveas.'],
    [`x-oss-process=image/rotate,90|sys/saveas,o_${b64('a')}|sys/saveas,o_${b64('b')}`, 'sys/saveas appears more than once in x-oss-process.'],
    ['x-oss-process=image/rotate,90|sys/saveas', 'Parameter "o" (base64 of the target object key) is required in sys/saveas.'],
    [`x-oss-process=image/rotate,90|sys/saveas,b_${b64('bucket')}`, 'Parameter "o" (base64 of the target object key) is required in sys/saveas.'],
    [`x-oss-process=image/rotate,90|sys/saveas,o_${b64('a')},o_${b64('b')}`, 'Parameter "o" appears more than once in sys/saveas.'],
    [`x-oss-process=image/rotate,90|sys/saveas,o_${b64('a')},x_1`, 'Unknown parameter "x" in sys/saveas: expected o or b.'],
    ['x-oss-process=image/rotate,90|sys/saveas,o_!!', 'Expected non-empty base64 (URL-safe or standard) of UTF-8 text for sys/saveas o but received "!!".'],
    ['x-oss-process=image/rotate,90|sys/saveas,o_', 'Expected non-empty base64 (URL-safe or standard) of UTF-8 text for sys/saveas o but received "".'],
  ])('refuses %j', (body, message) => {
    expect(failure(() => parseSaveAsBody(body))).toEqual({ status: 400, code: 'InvalidArgument', message, ec: undefined });
  });

  it('refuses target names the store would refuse', () => {
    expect(failure(() => parseSaveAsBody(`x-oss-process=image/rotate,90|sys/saveas,o_${b64('../x.jpg')}`))).toMatchObject({ status: 400, code: 'InvalidObjectName' });
    expect(failure(() => parseSaveAsBody(`x-oss-process=image/rotate,90|sys/saveas,o_${b64('a.jpg')},b_${b64('Bad_Bucket')}`))).toMatchObject({ status: 400, code: 'InvalidBucketName' });
  });
});

describe('styles', () => {
  it('STYLE_NAME and validateStyleName', () => {
    expect(STYLE_NAME.test('a.B_c-9')).toBe(true);
    expect(() => validateStyleName('a')).not.toThrow();
    expect(() => validateStyleName('a'.repeat(63))).not.toThrow();
    expect(failure(() => validateStyleName(''))).toEqual({ status: 400, code: 'InvalidArgument', ec: '0017-00000250', message: 'The value:  of parameter: stylename is invalid.' });
    expect(failure(() => validateStyleName('a'.repeat(64))).ec).toBe('0017-00000250');
    expect(failure(() => validateStyleName('a b'))).toEqual({ status: 400, code: 'InvalidArgument', ec: '0017-00000251', message: 'The value: a b of parameter: stylename is invalid.' });
    expect(failure(() => validateStyleName('a/b')).ec).toBe('0017-00000251');
  });

  it('parseStyleContent accepts what parseProcess accepts', () => {
    expect(parseStyleContent('image/resize,p_60', limits)).toEqual({ kind: 'image', actions: [{ ...RESIZE_DEFAULTS, percent: 60 }] });
    expect(parseStyleContent('video/snapshot,t_1000|image/rotate,90', limits).kind).toBe('snapshot');
  });

  it.each([';', ' ', '(', ')', "'", '*', '?'])('parseStyleContent refuses %j with 0017-00000253', (c) => {
    expect(failure(() => parseStyleContent(`image/resize,p_60${c}`, limits))).toEqual({ status: 400, code: 'BadRequest', ec: '0017-00000253', message: 'Style content is invalid.' });
  });

  it('parseStyleContent refuses style references and saveas; other errors are the parser\'s', () => {
    expect(failure(() => parseStyleContent('style/other', limits))).toEqual({ status: 400, code: 'BadRequest', ec: '0017-00000253', message: 'Style content is invalid. A style cannot refer to another style.' });
    expect(failure(() => parseStyleContent(`image/rotate,90|sys/saveas,o_${b64('a')}`, limits))).toEqual({ status: 400, code: 'BadRequest', ec: '0017-00000253', message: 'Style content is invalid. sys/saveas is not allowed in a style.' });
    expect(failure(() => parseStyleContent('image/resize,p_0', limits))).toMatchObject({ status: 400, code: 'InvalidArgument', ec: '0040-00000317' });
    expect(failure(() => parseStyleContent('', limits)).code).toBe('InvalidArgument');
  });
});
