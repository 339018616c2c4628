import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { canonicalProcess, parseProcess } from '../../../src/process/image-process.js';
import {
  canonicalPreview, checkSheetSize, isPreviewProcess, parsePreviewProcess, type PreviewPlan, type SheetSpec, spriteProcess,
  storyboardJson, storyboardVtt, vttTime,
} from '../../../src/process/preview-process.js';

function failure(process: string): { status: number; code: string; message: string } {
  try {
    parsePreviewProcess(process);
  } catch (err) {
    if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
  throw new Error(`${process} parsed`);
}

const sheetSpec = (p: string): SheetSpec => {
  const plan = parsePreviewProcess(p);
  if (plan.type === 'animation') throw new Error('not a sheet');
  return plan.spec;
};

describe('parsePreviewProcess', () => {
  it('video/sprite with OSS async names, defaults spelled out', () => {
    expect(parsePreviewProcess('video/sprite,ss_0,inter_1000,num_60,sw_160,sh_90,tw_10,th_6,pad_0,margin_0,f_jpg')).toEqual({
      type: 'sprite',
      sheet: 0,
      spec: {
        sampling: { startMs: 0, mode: 'inter', intervalMs: 1000, threshold: 0, number: 60 },
        tileWidth: 160, tileHeight: 90, scaleType: 'stretch', columns: 10, rows: 6, pad: 0, margin: 0, format: 'jpg',
      },
    } satisfies PreviewPlan);
    expect(parsePreviewProcess('video/sprite')).toEqual({
      type: 'sprite',
      sheet: 0,
      spec: {
        sampling: { startMs: 0, mode: 'inter', intervalMs: 1000, threshold: 0, number: 0 },
        tileWidth: 160, tileHeight: 0, scaleType: 'stretch', columns: 10, rows: 10, pad: 0, margin: 0, format: 'jpg',
      },
    });
    expect(parsePreviewProcess('video/sprite,m_key,sh_90,i_3,f_webp')).toMatchObject({
      sheet: 3,
      spec: { sampling: { mode: 'key', intervalMs: 0 }, tileWidth: 0, tileHeight: 90, format: 'webp' },
    });
    expect(parsePreviewProcess('video/sprite,m_avg,num_20,sw_64,sh_64,scaletype_crop')).toMatchObject({
      spec: { sampling: { mode: 'avg', number: 20 }, scaleType: 'crop' },
    });
  });

  it('video/storyboard: f is the index (vtt, json), sf the sheets', () => {
    expect(parsePreviewProcess('video/storyboard')).toMatchObject({ type: 'storyboard', output: 'vtt', spec: { format: 'jpg', tileWidth: 160 } });
    expect(parsePreviewProcess('video/storyboard,f_json,sf_webp,inter_2000')).toMatchObject({
      type: 'storyboard', output: 'json', spec: { format: 'webp', sampling: { intervalMs: 2000 } },
    });
  });

  it('video/animation: Mux defaults (5 s, 15 fps, 320 px wide) and bounds', () => {
    expect(parsePreviewProcess('video/animation')).toEqual({ type: 'animation', startMs: 0, durationMs: 5000, fps: 15, width: 320, height: 0, format: 'gif' });
    expect(parsePreviewProcess('video/animation,ss_2000,d_3000,fps_10,w_320,f_webp')).toEqual({
      type: 'animation', startMs: 2000, durationMs: 3000, fps: 10, width: 320, height: 0, format: 'webp',
    });
    expect(parsePreviewProcess('video/animation,h_640,d_10000,fps_30')).toMatchObject({ width: 0, height: 640, durationMs: 10_000, fps: 30 });
  });

  it.each([
    ['video/sprite,tw_20,th_6', /at most 100 tiles: tw_20 × th_6 = 120/],
    ['video/sprite,tw_0', /between 1 and 100 for video\/sprite tw/],
    ['video/sprite,sw_15', /between 16 and 4096 for video\/sprite sw/],
    ['video/sprite,sh_4097', /between 16 and 4096 for video\/sprite sh/],
    ['video/sprite,sw_2000,tw_10,th_1', /20000×\? px: at most 16384 px a side/],
    ['video/sprite,sw_1638,tw_10,th_1,pad_1', /16389×\? px/],
    ['video/sprite,inter_-5', /between 0 and 86400000/],
    ['video/sprite,m_avg', /m_avg needs num/],
    ['video/sprite,m_scene', /one of inter, key, avg, dhash/],
    ['video/sprite,m_inter,thr_10', /"thr" only applies to m_dhash/],
    ['video/sprite,m_dhash,thr_101', /between 0 and 100/],
    ['video/sprite,m_avg,num_3,inter_100', /"inter" only applies to m_inter and m_dhash/],
    ['video/sprite,sw_100,scaletype_crop', /"scaletype" needs both sw and sh/],
    ['video/sprite,ss_01', /integer between 0/],
    ['video/sprite,ss_-1', /integer between 0/],
    ['video/sprite,sw_100,sw_100', /appears more than once/],
    ['video/sprite,foo_1', /Unknown parameter "foo"/],
    ['video/sprite,sw', /Malformed parameter "sw"/],
    ['video/sprite,f_png|image/resize,w_10', /no "\|" chain/],
    ['video/storyboard,i_0', /Unknown parameter "i"/],
    ['video/storyboard,f_jpg', /one of vtt, json/],
    ['video/animation,d_249', /between 250 and 10000/],
    ['video/animation,d_10001', /between 250 and 10000/],
    ['video/animation,w_641', /between 1 and 640/],
    ['video/animation,h_0', /between 1 and 640/],
    ['video/animation,fps_0', /between 1 and 30/],
    ['video/animation,fps_31', /between 1 and 30/],
    ['video/animation,inter_1000', /Unknown parameter "inter"/],
  ])('%s → 400', (process, message) => {
    const error = failure(process);
    expect(error).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(error.message).toMatch(message);
  });

  it('a sheet side derived from the video is checked once known', () => {
    const spec = sheetSpec('video/sprite,sw_1000,tw_10,th_10');
    expect(() => checkSheetSize(spec, 1000, 1800)).toThrow(/10000×18000 px.*at most 16384/);
    expect(() => checkSheetSize(spec, 1000, 562)).not.toThrow();
    expect(() => checkSheetSize(sheetSpec('video/sprite,sw_160,tw_10,th_10'), 160, 90)).not.toThrow();
  });
});

describe('canonical forms', () => {
  it.each([
    ['video/sprite', 'video/sprite,ss_0,m_inter,inter_1000,num_0,sw_160,tw_10,th_10,pad_0,margin_0,f_jpg,i_0'],
    ['video/sprite,f_png,th_2,tw_3,i_1,sh_90,sw_160,num_6,inter_500', 'video/sprite,ss_0,m_inter,inter_500,num_6,sw_160,sh_90,scaletype_stretch,tw_3,th_2,pad_0,margin_0,f_png,i_1'],
    ['video/sprite,m_key,sh_72', 'video/sprite,ss_0,m_key,num_0,sh_72,tw_10,th_10,pad_0,margin_0,f_jpg,i_0'],
    ['video/sprite,m_dhash,num_5', 'video/sprite,ss_0,m_dhash,inter_1000,thr_0,num_5,sw_160,tw_10,th_10,pad_0,margin_0,f_jpg,i_0'],
    ['video/storyboard,m_dhash,thr_15,inter_500', 'video/storyboard,f_vtt,ss_0,m_dhash,inter_500,thr_15,num_0,sw_160,tw_10,th_10,pad_0,margin_0,sf_jpg'],
    ['video/storyboard,sf_webp,f_json', 'video/storyboard,f_json,ss_0,m_inter,inter_1000,num_0,sw_160,tw_10,th_10,pad_0,margin_0,sf_webp'],
    ['video/animation,f_webp,w_320,fps_10,d_3000,ss_2000', 'video/animation,ss_2000,d_3000,fps_10,w_320,f_webp'],
  ])('%s → %s, which parses back to the same plan', (process, canonical) => {
    const plan = parsePreviewProcess(process);
    expect(canonicalPreview(plan)).toBe(canonical);
    expect(parsePreviewProcess(canonical)).toEqual(plan);
  });

  it('parseProcess dispatches the preview actions; other video/ actions are left to the snapshot parser', () => {
    const request = parseProcess('video/sprite,tw_2,th_2', { maxOutputDimension: 4096 });
    expect(request.kind).toBe('preview');
    expect(canonicalProcess(request)).toBe('video/sprite,ss_0,m_inter,inter_1000,num_0,sw_160,tw_2,th_2,pad_0,margin_0,f_jpg,i_0');
    expect(isPreviewProcess('video/storyboard')).toBe(true);
    expect(isPreviewProcess('video/animation,f_gif')).toBe(true);
    expect(isPreviewProcess('video/snapshot,t_0')).toBe(false);
    expect(isPreviewProcess('video/spritesheet')).toBe(false);
    expect(parseProcess('video/snapshot,t_1000', { maxOutputDimension: 4096 }).kind).toBe('snapshot');
  });

  it('a storyboard links to the sprite URL of each sheet', () => {
    const spec = sheetSpec('video/storyboard,sf_png,inter_2000,sw_96,tw_2,th_1');
    expect(spriteProcess(spec, 4)).toBe('video/sprite,ss_0,m_inter,inter_2000,num_0,sw_96,tw_2,th_1,pad_0,margin_0,f_png,i_4');
  });
});

describe('storyboard text', () => {
  const spec = sheetSpec('video/storyboard,sw_100,tw_2,th_1,pad_4,margin_2');
  const timeline = { duration: 3725.5, tileWidth: 100, tileHeight: 56, starts: [0, 1.25, 3600.0005] };
  const url = (sheet: number) => `https://cdn.example/v.mp4?x-oss-process=sheet${sheet}`;

  it('vttTime: HH:MM:SS.mmm', () => {
    expect(vttTime(0)).toBe('00:00:00.000');
    expect(vttTime(61.0665)).toBe('00:01:01.067');
    expect(vttTime(360_000)).toBe('100:00:00.000');
  });

  it('WebVTT: each cue ends where the next starts, the last at the end of the video; tiles placed with margin and pad', () => {
    expect(storyboardVtt(spec, timeline, url)).toBe(
      [
        'WEBVTT',
        '',
        '00:00:00.000 --> 00:00:01.250',
        `${url(0)}#xywh=2,2,100,56`,
        '',
        '00:00:01.250 --> 01:00:00.001',
        `${url(0)}#xywh=106,2,100,56`,
        '',
        '01:00:00.001 --> 01:02:05.500',
        `${url(1)}#xywh=2,2,100,56`,
        '',
      ].join('\n'),
    );
  });

  it('JSON: one sheet, no per-tile url; several sheets, each tile names its own', () => {
    const one = { ...timeline, starts: [0, 1.25] };
    expect(JSON.parse(storyboardJson(spec, one, url))).toEqual({
      url: url(0), tile_width: 100, tile_height: 56, duration: 3725.5,
      tiles: [{ start: 0, x: 2, y: 2 }, { start: 1.25, x: 106, y: 2 }],
    });
    expect(JSON.parse(storyboardJson(spec, timeline, url)).tiles).toEqual([
      { start: 0, x: 2, y: 2, url: url(0) },
      { start: 1.25, x: 106, y: 2, url: url(0) },
      { start: 3600.0005, x: 2, y: 2, url: url(1) },
    ]);
  });
});
