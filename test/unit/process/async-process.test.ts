// `x-oss-async-process` → IMM CreateMediaConvertTask (src/process/async-process.ts): the body's shape,
// saveas and notify decoding (any base64 spelling), every parameter's range named in its 400, OSS's
// output naming rule, and the IMM JSON each action maps to — the snapshots one accepted by the IMM
// parser itself; sprites and animations checked field by field until the IMM parser takes them.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import {
  asyncProjectName,
  convertTaskParams,
  hasExtension,
  outputUri,
  parseAsyncProcess,
  parseAsyncProcessBody,
} from '../../../src/process/async-process.js';
import { parseConvertTask } from '../../../src/process/imm-request.js';

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const b64std = (s: string) => Buffer.from(s).toString('base64');
const saveas = (o: string, b?: string) => `sys/saveas,o_${b64url(o)}${b === undefined ? '' : `,b_${b64url(b)}`}`;
const source = { bucket: 'media', key: 'in/clip.mp4' };

function failure(fn: () => unknown): { status: number; code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an error');
}

/** The one IMM target spec of a mapped process. */
function target(process: string, src = source) {
  const params = convertTaskParams(parseAsyncProcess(process), src, 'media');
  const targets = params.Targets as { Image: Record<string, Record<string, unknown>[]> }[];
  expect(targets).toHaveLength(1);
  const lists = Object.entries(targets[0]!.Image);
  expect(lists).toHaveLength(1);
  const [field, specs] = lists[0]!;
  expect(specs).toHaveLength(1);
  return { field, spec: specs[0]!, params };
}

describe('the body', () => {
  it('is form-encoded, standard padded base64 percent-encoded as ali-oss sends it', () => {
    const value = `video/snapshots,f_jpg,num_3,inter_1000|sys/saveas,o_${b64std('out/f')},b_${b64std('thumbs')}/notify,topic_${b64std('my-topic')}`;
    const parsed = parseAsyncProcessBody(new URLSearchParams({ 'x-oss-async-process': value }).toString());
    expect(parsed).toMatchObject({ action: 'video/snapshots', saveAs: { key: 'out/f', bucket: 'thumbs' }, topic: 'my-topic' });
  });

  it('takes URL-safe or standard base64, padded or not; "+" read as a space is restored', () => {
    // "??>" encodes to "Pz8+" (standard) / "Pz8-" (URL-safe): both alphabets' specials.
    for (const o of [b64std('a??>.jpg'), b64url('a??>.jpg'), b64std('a??>.jpg').replace(/=+$/, ''), b64std('a??>.jpg').replace('+', ' ')]) {
      expect(parseAsyncProcess(`video/snapshots,f_jpg,num_1|sys/saveas,o_${o}`).saveAs.key).toBe('a??>.jpg');
    }
  });

  it('a standard-alphabet "/" inside o_ is not taken for /notify', () => {
    const key = 'x/???';
    expect(b64std(key)).toContain('/');
    const parsed = parseAsyncProcess(`video/snapshots,f_jpg|sys/saveas,o_${b64std(key)}/notify,topic_${b64std('t')}`);
    expect(parsed).toMatchObject({ saveAs: { key }, topic: 't' });
  });

  it.each([
    ['', /request body must be x-oss-async-process=/],
    ['x-oss-process=video%2Fsnapshots', /request body must be/],
    [`x-oss-async-process=a&x-oss-async-process=b`, /more than once/],
    [`x-oss-async-process=${encodeURIComponent('video/snapshots,f_jpg')}`, /has no sys\/saveas/],
    [`x-oss-async-process=${encodeURIComponent(`${saveas('a')}|video/snapshots,f_jpg`)}`, /must be the last/],
    [`x-oss-async-process=${encodeURIComponent(`video/snapshots,f_jpg|image/resize,w_10|${saveas('a')}`)}`, /one action then sys\/saveas/],
    [`x-oss-async-process=${encodeURIComponent(`video/gif,f_jpg|${saveas('a')}`)}`, /Unknown x-oss-async-process action "video\/gif"/],
    [`x-oss-async-process=${encodeURIComponent(`video/snapshot,t_1000|${saveas('a')}`)}`, /video\/snapshot \(one frame\) is synchronous/],
    [`x-oss-async-process=${encodeURIComponent('video/snapshots,f_jpg|sys/saveas')}`, /"o" .* is required in sys\/saveas/],
    [`x-oss-async-process=${encodeURIComponent('video/snapshots,f_jpg|sys/saveas,o_###')}`, /sys\/saveas o/],
    [`x-oss-async-process=${encodeURIComponent(`video/snapshots,f_jpg|sys/saveas,o_${b64url('a')},b_${b64url('Bad_Bucket')}`)}`, /bucket name/],
    [`x-oss-async-process=${encodeURIComponent(`video/snapshots,f_jpg|${saveas('a')}/notify`)}`, /"topic" .* is required in notify/],
    [`x-oss-async-process=${encodeURIComponent(`video/snapshots,f_jpg|${saveas('a')}/notify,queue_${b64url('q')}`)}`, /Unknown parameter "queue" in notify/],
  ])('400 for %s', (body, message) => {
    const err = failure(() => parseAsyncProcessBody(body));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });
});

describe('parameters: each bad value is a 400 naming it', () => {
  it.each([
    ['video/snapshots,f_gif', 'video/snapshots f'],
    ['video/snapshots,f_jpg,w_31', 'video/snapshots w'],
    ['video/snapshots,f_jpg,h_4097', 'video/snapshots h'],
    ['video/snapshots,f_jpg,pw_0', 'video/snapshots pw'],
    ['video/snapshots,f_jpg,ph_201', 'video/snapshots ph'],
    ['video/snapshots,f_jpg,pw_150', 'video/snapshots pw'],
    ['video/snapshots,f_jpg,ss_-1', 'video/snapshots ss'],
    ['video/snapshots,f_jpg,inter_-1', 'video/snapshots inter'],
    ['video/snapshots,f_jpg,num_x', 'video/snapshots num'],
    ['video/snapshots,f_jpg,scaletype_pad', 'video/snapshots scaletype'],
    ['video/sprite,f_webp', 'video/sprite f'],
    ['video/sprite,f_jpg,m_scene', 'video/sprite m'],
    ['video/sprite,f_jpg,m_dhash,thr_101', 'video/sprite thr'],
    ['video/sprite,f_jpg,thr_10', 'video/sprite thr'],
    ['video/sprite,f_jpg,m_avg', 'video/sprite num'],
    ['video/sprite,f_jpg,sw_10', 'video/sprite sw'],
    ['video/sprite,f_jpg,psh_300', 'video/sprite psh'],
    ['video/sprite,f_jpg,tw_0', 'video/sprite tw'],
    ['video/sprite,f_jpg,th_101', 'video/sprite th'],
    ['video/sprite,f_jpg,pad_-1', 'video/sprite pad'],
    ['video/sprite,f_jpg,margin_257', 'video/sprite margin'],
    ['video/animation,f_jpg', 'video/animation f'],
    ['video/animation,f_gif,fps_0', 'video/animation fps'],
    ['video/animation,f_gif,fps_61', 'video/animation fps'],
    ['video/animation,f_gif,w_5000', 'video/animation w'],
    ['video/animation,f_webp,scaletype_x', 'video/animation scaletype'],
  ])('%s', (action, named) => {
    const err = failure(() => parseAsyncProcess(`${action}|${saveas('out/x')}`));
    expect(err).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(err.message).toContain(` for ${named} but received`);
  });

  it.each([
    ['video/snapshots,f_jpg,t_1000', /Unknown parameter "t" in video\/snapshots/],
    ['video/sprite,f_jpg,w_100', /Unknown parameter "w" in video\/sprite/],
    ['video/animation,f_gif,m_key', /Unknown parameter "m" in video\/animation/],
    ['video/snapshots,f_jpg,num_2,num_3', /"num" appears more than once/],
    ['video/snapshots,num_2', /"f" is required in video\/snapshots/],
    ['video/sprite,num_2', /"f" is required in video\/sprite/],
    ['video/animation,num_2', /"f" is required in video\/animation/],
  ])('%s', (action, message) => {
    const err = failure(() => parseAsyncProcess(`${action}|${saveas('out/x')}`));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });
});

describe('video/snapshots → Targets[].Image.Snapshots', () => {
  it('ms → s, w/h → Width/Height, scaletype; the whole request as the IMM parser accepts it', () => {
    const { field, spec, params } = target(`video/snapshots,ss_1500,f_png,num_4,inter_250,w_160,h_90,scaletype_crop|${saveas('frames/f', 'thumbs')}/notify,topic_${b64url('done')}`);
    expect(field).toBe('Snapshots');
    expect(spec).toEqual({ Format: 'png', URI: 'oss://thumbs/frames/f_{index}.{autoext}', StartTime: 1.5, Interval: 0.25, Number: 4, Width: 160, Height: 90, ScaleType: 'crop' });
    expect(params).toMatchObject({ ProjectName: 'media', Sources: [{ URI: 'oss://media/in/clip.mp4' }], Notification: { MNS: { TopicName: 'done' } } });
    const request = parseConvertTask(params, { maxOutputDimension: 4096, maxFramesPerTask: 1000 }, new Date());
    expect(request).toMatchObject({ projectName: 'media', topic: 'done', sources: [{ bucket: 'media', key: 'in/clip.mp4' }] });
    expect(request.snapshots[0]).toMatchObject({ format: 'png', startTime: 1.5, interval: 0.25, number: 4, mode: 'interval', width: { pixels: 160 }, height: { pixels: 90 }, scaleType: 'crop' });
  });

  it('pw/ph → ratios; 100 is the source size (no field); ignored once w or h is set', () => {
    expect(target(`video/snapshots,f_jpg,pw_50,ph_25|${saveas('f')}`).spec).toMatchObject({ Width: 0.5, Height: 0.25 });
    expect(target(`video/snapshots,f_jpg,pw_100|${saveas('f')}`).spec).not.toHaveProperty('Width');
    const sized = target(`video/snapshots,f_jpg,w_64,pw_50,ph_50|${saveas('f')}`).spec;
    expect(sized).toMatchObject({ Width: 64 });
    expect(sized).not.toHaveProperty('Height');
  });

  it('only what the request says: defaults are IMM\'s', () => {
    const { spec, params } = target(`video/snapshots,f_jpg|${saveas('f')}`);
    expect(spec).toEqual({ Format: 'jpg', URI: 'oss://media/f_{index}.{autoext}' });
    expect(params).not.toHaveProperty('Notification');
    expect(parseConvertTask(params, { maxOutputDimension: 4096, maxFramesPerTask: 1000 }, new Date()).snapshots[0]).toMatchObject({ interval: 1, number: 0 });
  });
});

describe('video/sprite → Targets[].Image.Sprites', () => {
  it('every field, OSS names and units to IMM\'s', () => {
    const { field, spec } = target(`video/sprite,ss_2000,f_jpg,m_dhash,thr_20,num_50,inter_500,sw_120,sh_68,tw_10,th_5,pad_4,margin_8,scaletype_fit|${saveas('sprites/s')}`);
    expect(field).toBe('Sprites');
    expect(spec).toEqual({
      Format: 'jpg', URI: 'oss://media/sprites/s_{index}.{autoext}', StartTime: 2, Interval: 0.5, Number: 50, Mode: 'dhash', Threshold: 20,
      ScaleType: 'fit', ScaleWidth: 120, ScaleHeight: 68, TileWidth: 10, TileHeight: 5, Pad: 4, Margin: 8,
    });
  });

  it('inter_0 ("every frame") → an Interval shorter than any frame (1 ms), which takes each frame once', () => {
    expect(target(`video/sprite,f_jpg,inter_0|${saveas('s')}`).spec).toMatchObject({ Interval: 0.001 });
    expect(target(`video/snapshots,f_jpg,inter_0,num_5|${saveas('f')}`).spec).toMatchObject({ Interval: 0.001, Number: 5 });
  });

  it('OSS\'s official example', () => {
    const { spec } = target(`video/sprite,f_jpg,sw_100,sh_100,inter_10000,tw_10,th_10,pad_0,margin_0|${saveas('s')}`);
    expect(spec).toEqual({ Format: 'jpg', URI: 'oss://media/s_{index}.{autoext}', Interval: 10, ScaleWidth: 100, ScaleHeight: 100, TileWidth: 10, TileHeight: 10, Pad: 0, Margin: 0 });
  });

  it.each([
    ['inter', 'interval'],
    ['key', 'keyframe'],
    ['avg,num_9', 'average'],
  ])('m_%s → Mode %s', (m, mode) => {
    expect(target(`video/sprite,f_png,m_${m}|${saveas('s')}`).spec).toMatchObject({ Mode: mode });
  });

  it('m_dhash without thr: Threshold 0 (OSS\'s default); psw/psh → ratios', () => {
    const { spec } = target(`video/sprite,f_png,m_dhash,psw_25,psh_50|${saveas('s')}`);
    expect(spec).toMatchObject({ Mode: 'dhash', Threshold: 0, ScaleWidth: 0.25, ScaleHeight: 0.5 });
  });

  it('a named sprite (with an extension) must fit one sheet', () => {
    expect(target(`video/sprite,f_jpg,num_36|${saveas('s.jpg')}`).spec.URI).toBe('oss://media/s.jpg');
    expect(failure(() => parseAsyncProcess(`video/sprite,f_jpg,num_37|${saveas('s.jpg')}`)).message).toMatch(/more than one sheet of 36 tiles/);
    expect(target(`video/sprite,f_jpg,num_100,tw_10,th_10|${saveas('s.jpg')}`).spec.URI).toBe('oss://media/s.jpg');
    // num unset runs to the end: perhaps several sheets.
    expect(failure(() => parseAsyncProcess(`video/sprite,f_jpg,inter_10000|${saveas('s.jpg')}`)).message).toMatch(/num unset \(until the end\) may need more than one sheet of 36 tiles: set num \(at most 36\)/);
  });
});

describe('video/animation → Targets[].Image.Animations', () => {
  it('every field', () => {
    const { field, spec } = target(`video/animation,ss_500,f_webp,w_320,h_180,inter_200,num_25,fps_10,scaletype_crop|${saveas('anim/a.webp', 'previews')}`);
    expect(field).toBe('Animations');
    expect(spec).toEqual({ Format: 'webp', URI: 'oss://previews/anim/a.webp', StartTime: 0.5, Interval: 0.2, Number: 25, FrameRate: 10, Width: 320, Height: 180, ScaleType: 'crop' });
  });

  it('OSS\'s official example; one output, so its name is kept as given', () => {
    const { spec } = target(`video/animation,f_gif,w_100,h_100,inter_1000|${saveas('a')}`);
    expect(spec).toEqual({ Format: 'gif', URI: 'oss://media/a', Width: 100, Height: 100, Interval: 1 });
  });
});

describe('output naming', () => {
  it('no extension → OSS\'s sequence suffix _{index}.{autoext}; an extension names one object', () => {
    expect(hasExtension('a/b')).toBe(false);
    expect(hasExtension('a.d/b')).toBe(false);
    expect(hasExtension('a/.hidden')).toBe(false);
    expect(hasExtension('a/b.')).toBe(false);
    expect(hasExtension('a/b.jpg')).toBe(true);
    expect(target(`video/snapshots,f_jpg,num_1|${saveas('one.jpg')}`).spec.URI).toBe('oss://media/one.jpg');
    expect(target(`video/snapshots,f_jpg,num_1|${saveas('one')}`).spec.URI).toBe('oss://media/one_{index}.{autoext}');
  });

  it('several frames to one named object are refused (OSS would keep only the last)', () => {
    for (const num of ['', ',num_0', ',num_2']) {
      const err = failure(() => parseAsyncProcess(`video/snapshots,f_jpg${num}|${saveas('f.jpg')}`));
      expect(err.status).toBe(400);
      expect(err.message).toMatch(/has an extension.*drop the extension to get "f_1.jpg"/);
    }
  });

  it('braces in o are literal, not IMM template variables', () => {
    const process = parseAsyncProcess(`video/snapshots,f_jpg|${saveas('x/{index}')}`);
    expect(outputUri(process, 'media')).toBe('oss://media/x/{{index}}_{index}.{autoext}');
    const params = convertTaskParams(process, source, 'media');
    const request = parseConvertTask(params, { maxOutputDimension: 4096, maxFramesPerTask: 1000 }, new Date());
    expect(request.snapshots[0]!.uri.variables).toEqual(new Set(['index', 'autoext']));
  });
});

describe('the project', () => {
  it('named after the bucket; a digit-first bucket (not a valid IMM project name) gets oss-', () => {
    expect(asyncProjectName('media')).toBe('media');
    expect(asyncProjectName('my-bucket-1')).toBe('my-bucket-1');
    expect(asyncProjectName('123bucket')).toBe('oss-123bucket');
  });
});
