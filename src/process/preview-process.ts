// Previews for players (stillframe extensions under `x-oss-process`, docs/previews.md) → typed, validated
// plans, their canonical spellings, and the storyboard's WebVTT / JSON text. Pure: no I/O.
//  - `video/sprite,…`      one sprite sheet (tiles of frames sampled at an interval, at key frames,
//                          evenly over the video, or at scene changes by dhash), `i_` choosing the sheet
//                          when the tiles fill several;
//  - `video/storyboard,…`  the index of those sheets (WebVTT with `#xywh=` cues, or Mux/imgix JSON),
//                          whose image URLs are the sheets' own `video/sprite` URLs;
//  - `video/animation,…`   an animated GIF or WebP of up to 10 s of the video (Mux's bounds).
// The parameter names follow OSS's async `video/sprite` and `video/animation` (ss, inter, num, m, sw, sh,
// tw, th, pad, margin, f), so a URL reads like the async form it mirrors.
import { errors } from '../errors.js';
import type { ScaleType } from '../image/geometry.js';
import type { AnimationFormat, SheetFormat } from '../image/sheets.js';
import { Params } from './image-process.js';

export const SPRITE_ACTION = 'video/sprite';
export const STORYBOARD_ACTION = 'video/storyboard';
export const ANIMATION_ACTION = 'video/animation';
const ACTIONS = [SPRITE_ACTION, STORYBOARD_ACTION, ANIMATION_ACTION] as const;

/**
 * How the tiles' frames are chosen: every `inter` ms from ss, the key frames from ss, `num` evenly spread
 * from ss, or (dhash) the samples every `inter` ms whose picture changed by `thr` or more (at most `num`).
 */
export type SamplingMode = 'inter' | 'key' | 'avg' | 'dhash';

export interface Sampling {
  /** ms from the video stream's first frame. */
  startMs: number;
  mode: SamplingMode;
  /** ms between tiles (inter, where 0 or less than a frame = every frame) or samples (dhash); 0 otherwise. */
  intervalMs: number;
  /** dhash: the change (0–100) a sample needs to become a tile; 0 in the other modes. */
  threshold: number;
  /** Tiles wanted over every sheet; 0 = until the end of the video (mode avg: required). */
  number: number;
}

export interface SheetSpec {
  sampling: Sampling;
  /** Tile size; 0 = derived from the other side and the video's display aspect. */
  tileWidth: number;
  tileHeight: number;
  /** With both sides given: stretch (default), crop, fill or fit. */
  scaleType: ScaleType;
  /** Tiles per row and per column. */
  columns: number;
  rows: number;
  pad: number;
  margin: number;
  format: SheetFormat;
}

export type PreviewPlan =
  /** Sheet `sheet` (0-based) of the tiles. */
  | { type: 'sprite'; sheet: number; spec: SheetSpec }
  | { type: 'storyboard'; output: 'vtt' | 'json'; spec: SheetSpec }
  | {
      type: 'animation';
      startMs: number;
      durationMs: number;
      fps: number;
      /** 0 = derived; both given: the frame fits inside (aspect kept). */
      width: number;
      height: number;
      format: AnimationFormat;
    };

/** Bounds of one request's work (docs/previews.md). */
export const PREVIEW_BOUNDS = {
  /** Tiles in one sheet (tw × th). */
  maxTilesPerSheet: 100,
  /** Pixels along a sheet's side (OSS's sprite limit). */
  maxSheetSide: 16384,
  minTileSide: 16,
  maxTileSide: 4096,
  /** Tiles one storyboard may list (over all its sheets). */
  maxStoryboardTiles: 10_000,
  /** Frames m_dhash may sample (and hash) for one sheet or storyboard: 1,000 is 16 min 40 s at inter_1000. */
  maxDhashSamples: 1000,
  /** Animations, as Mux: 250 ms to 10 s of the source, ≤ 640 px a side, ≤ 30 fps. */
  minAnimationMs: 250,
  maxAnimationMs: 10_000,
  maxAnimationSide: 640,
  maxFps: 30,
} as const;

const MAX_LENGTH = 512;
const MAX_TIME_MS = 10_000_000_000;
const MAX_INTERVAL_MS = 86_400_000;
const MAX_NUMBER = 100_000;
const MAX_SPACING = 256;
const DEFAULT_TILE_WIDTH = 160;
const DEFAULT_ANIMATION_WIDTH = 320;
const SHEET_FORMATS = ['jpg', 'png', 'webp'] as const satisfies readonly SheetFormat[];
const ANIMATION_FORMATS = ['gif', 'webp'] as const satisfies readonly AnimationFormat[];
const SCALE_TYPES = ['stretch', 'crop', 'fill', 'fit'] as const satisfies readonly ScaleType[];
const MODES = ['inter', 'key', 'avg', 'dhash'] as const satisfies readonly SamplingMode[];

const LAYOUT_PARAMS = ['ss', 'm', 'inter', 'thr', 'num', 'sw', 'sh', 'scaletype', 'tw', 'th', 'pad', 'margin'];
const PARAMS: Record<(typeof ACTIONS)[number], readonly string[]> = {
  [SPRITE_ACTION]: [...LAYOUT_PARAMS, 'f', 'i'],
  [STORYBOARD_ACTION]: [...LAYOUT_PARAMS, 'f', 'sf'],
  [ANIMATION_ACTION]: ['ss', 'd', 'fps', 'w', 'h', 'f'],
};

/** True when `process` names one of the preview actions (then parsePreviewProcess owns it). */
export function isPreviewProcess(process: string): boolean {
  const head = process.split(/[,|/]/, 2).join('/');
  return (ACTIONS as readonly string[]).includes(head);
}

function parseSheetSpec(p: Params, format: SheetFormat): SheetSpec {
  const { minTileSide, maxTileSide, maxTilesPerSheet, maxSheetSide } = PREVIEW_BOUNDS;
  const mode = p.oneOf('m', MODES) ?? 'inter';
  const startMs = p.int('ss', 0, MAX_TIME_MS) ?? 0;
  // inter_0 (OSS: "every frame"), like any interval shorter than a frame, takes each frame once.
  const interval = p.int('inter', 0, MAX_INTERVAL_MS);
  const number = p.int('num', 0, MAX_NUMBER) ?? 0;
  const threshold = p.int('thr', 0, 100);
  const sampled = mode === 'inter' || mode === 'dhash';
  if (!sampled && interval !== undefined) throw errors.imageProcess(`Parameter "inter" only applies to m_inter and m_dhash in ${p.action}.`);
  if (mode !== 'dhash' && threshold !== undefined) throw errors.imageProcess(`Parameter "thr" only applies to m_dhash in ${p.action}.`);
  if (mode === 'avg' && number === 0) throw errors.imageProcess(`m_avg needs num (tiles spread evenly from ss to the end) in ${p.action}.`);
  let tileWidth = p.int('sw', minTileSide, maxTileSide) ?? 0;
  const tileHeight = p.int('sh', minTileSide, maxTileSide) ?? 0;
  if (tileWidth === 0 && tileHeight === 0) tileWidth = DEFAULT_TILE_WIDTH;
  const scaleType = p.oneOf('scaletype', SCALE_TYPES) ?? 'stretch';
  if (p.has('scaletype') && (tileWidth === 0 || tileHeight === 0)) throw errors.imageProcess(`Parameter "scaletype" needs both sw and sh in ${p.action}.`);
  const columns = p.int('tw', 1, maxTilesPerSheet) ?? 10;
  const rows = p.int('th', 1, maxTilesPerSheet) ?? 10;
  if (columns * rows > maxTilesPerSheet) {
    throw errors.imageProcess(`A sheet holds at most ${maxTilesPerSheet} tiles: tw_${columns} × th_${rows} = ${columns * rows} in ${p.action}.`);
  }
  const pad = p.int('pad', 0, MAX_SPACING) ?? 0;
  const margin = p.int('margin', 0, MAX_SPACING) ?? 0;
  const spec: SheetSpec = {
    // dhash: OSS's thr defaults to 0 (every sample a candidate; num then keeps the largest changes).
    sampling: { startMs, mode, intervalMs: sampled ? (interval ?? 1000) : 0, threshold: threshold ?? 0, number },
    tileWidth, tileHeight, scaleType: tileWidth && tileHeight ? scaleType : 'stretch', columns, rows, pad, margin, format,
  };
  // Known sides are checked now; a side derived from the video's aspect once the video is known (checkSheetSize).
  const width = sheetSide(columns, tileWidth, pad, margin);
  const height = sheetSide(rows, tileHeight, pad, margin);
  if ((tileWidth && width > maxSheetSide) || (tileHeight && height > maxSheetSide)) {
    throw errors.imageProcess(`The sheet would be ${tileWidth ? width : '?'}×${tileHeight ? height : '?'} px: at most ${maxSheetSide} px a side in ${p.action}.`);
  }
  return spec;
}

const sheetSide = (tiles: number, tile: number, pad: number, margin: number) => 2 * margin + tiles * tile + (tiles - 1) * pad;

/** A full sheet of `spec` with tiles of this size: within the bounds, or a 400. */
export function checkSheetSize(spec: SheetSpec, tileWidth: number, tileHeight: number): void {
  const width = sheetSide(spec.columns, tileWidth, spec.pad, spec.margin);
  const height = sheetSide(spec.rows, tileHeight, spec.pad, spec.margin);
  if (width > PREVIEW_BOUNDS.maxSheetSide || height > PREVIEW_BOUNDS.maxSheetSide) {
    throw errors.imageProcess(`The sheet would be ${width}×${height} px (tiles ${tileWidth}×${tileHeight}): at most ${PREVIEW_BOUNDS.maxSheetSide} px a side.`);
  }
}

/**
 * `video/sprite,…`, `video/storyboard,…` or `video/animation,…` (isPreviewProcess) → a plan. Previews
 * take no `|image/…` chain: their output is assembled from many frames.
 */
export function parsePreviewProcess(process: string): PreviewPlan {
  if (process.length > MAX_LENGTH) throw errors.imageProcess(`x-oss-process is longer than ${MAX_LENGTH} characters for a preview.`);
  const [action, ...pairs] = process.split(',');
  if (process.includes('|')) throw errors.imageProcess(`${action!} takes no "|" chain of image actions.`);
  switch (action) {
    case SPRITE_ACTION: {
      const p = new Params(action, pairs, PARAMS[action]);
      const spec = parseSheetSpec(p, p.oneOf('f', SHEET_FORMATS) ?? 'jpg');
      return { type: 'sprite', sheet: p.int('i', 0, MAX_NUMBER) ?? 0, spec };
    }
    case STORYBOARD_ACTION: {
      const p = new Params(action, pairs, PARAMS[action]);
      const output = p.oneOf('f', ['vtt', 'json'] as const) ?? 'vtt';
      return { type: 'storyboard', output, spec: parseSheetSpec(p, p.oneOf('sf', SHEET_FORMATS) ?? 'jpg') };
    }
    case ANIMATION_ACTION: {
      const p = new Params(action, pairs, PARAMS[action]);
      const b = PREVIEW_BOUNDS;
      let width = p.int('w', 1, b.maxAnimationSide) ?? 0;
      const height = p.int('h', 1, b.maxAnimationSide) ?? 0;
      if (width === 0 && height === 0) width = DEFAULT_ANIMATION_WIDTH;
      return {
        type: 'animation',
        startMs: p.int('ss', 0, MAX_TIME_MS) ?? 0,
        durationMs: p.int('d', b.minAnimationMs, b.maxAnimationMs) ?? 5000,
        fps: p.int('fps', 1, b.maxFps) ?? 15,
        width,
        height,
        format: p.oneOf('f', ANIMATION_FORMATS) ?? 'gif',
      };
    }
    default:
      throw errors.imageProcess(`Unsupported x-oss-process "${action ?? ''}": expected ${ACTIONS.join(', ')}.`);
  }
}

/** The layout parameters in their one spelling (defaults spelled out, only the meaningful ones). */
function canonicalSheet(spec: SheetSpec): string[] {
  const { sampling: s } = spec;
  const parts = [`ss_${s.startMs}`, `m_${s.mode}`];
  if (s.mode === 'inter' || s.mode === 'dhash') parts.push(`inter_${s.intervalMs}`);
  if (s.mode === 'dhash') parts.push(`thr_${s.threshold}`);
  parts.push(`num_${s.number}`);
  if (spec.tileWidth) parts.push(`sw_${spec.tileWidth}`);
  if (spec.tileHeight) parts.push(`sh_${spec.tileHeight}`);
  if (spec.tileWidth && spec.tileHeight) parts.push(`scaletype_${spec.scaleType}`);
  parts.push(`tw_${spec.columns}`, `th_${spec.rows}`, `pad_${spec.pad}`, `margin_${spec.margin}`);
  return parts;
}

/** The sprite URL of sheet `sheet` of a spec: what a storyboard links to. */
export function spriteProcess(spec: SheetSpec, sheet: number): string {
  return [SPRITE_ACTION, ...canonicalSheet(spec), `f_${spec.format}`, `i_${sheet}`].join(',');
}

/** Same plan ⇔ same string; parses back to the same plan. Keys the result cache and the ETag. */
export function canonicalPreview(plan: PreviewPlan): string {
  switch (plan.type) {
    case 'sprite':
      return spriteProcess(plan.spec, plan.sheet);
    case 'storyboard':
      return [STORYBOARD_ACTION, `f_${plan.output}`, ...canonicalSheet(plan.spec), `sf_${plan.spec.format}`].join(',');
    case 'animation': {
      const parts = [ANIMATION_ACTION, `ss_${plan.startMs}`, `d_${plan.durationMs}`, `fps_${plan.fps}`];
      if (plan.width) parts.push(`w_${plan.width}`);
      if (plan.height) parts.push(`h_${plan.height}`);
      parts.push(`f_${plan.format}`);
      return parts.join(',');
    }
  }
}

/**
 * What a storyboard's text is made from, computed (and cached) once per source version and layout: the
 * video's duration, the tile size and every tile's start time (s), in order; tile k is on sheet
 * floor(k / tiles per sheet).
 */
export interface StoryboardTimeline {
  duration: number;
  tileWidth: number;
  tileHeight: number;
  starts: number[];
}

/** `spriteUrl(sheet)`: the absolute (and, for a private source, signed) URL of a sheet. */
export type SheetUrl = (sheet: number) => string;

interface PlacedTile {
  start: number;
  end: number;
  sheet: number;
  x: number;
  y: number;
}

function placeTiles(spec: SheetSpec, timeline: StoryboardTimeline): PlacedTile[] {
  const perSheet = spec.columns * spec.rows;
  const { starts, tileWidth, tileHeight } = timeline;
  return starts.map((start, k) => {
    const i = k % perSheet;
    return {
      start,
      end: k + 1 < starts.length ? starts[k + 1]! : Math.max(start, timeline.duration),
      sheet: Math.floor(k / perSheet),
      x: spec.margin + (i % spec.columns) * (tileWidth + spec.pad),
      y: spec.margin + Math.floor(i / spec.columns) * (tileHeight + spec.pad),
    };
  });
}

/** Each sheet's URL made (and signed) once. */
function sheetUrls(sheetUrl: SheetUrl): SheetUrl {
  const urls = new Map<number, string>();
  return (sheet) => {
    const known = urls.get(sheet);
    if (known !== undefined) return known;
    const url = sheetUrl(sheet);
    urls.set(sheet, url);
    return url;
  };
}

/** HH:MM:SS.mmm (WebVTT timestamps; hours may exceed 99). */
export function vttTime(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/** WebVTT: one cue per tile, from its start to the next tile's (the last to the end of the video). */
export function storyboardVtt(spec: SheetSpec, timeline: StoryboardTimeline, sheetUrl: SheetUrl): string {
  const { tileWidth: w, tileHeight: h } = timeline;
  const urlOf = sheetUrls(sheetUrl);
  const lines = ['WEBVTT', ''];
  for (const tile of placeTiles(spec, timeline)) {
    lines.push(`${vttTime(tile.start)} --> ${vttTime(tile.end)}`, `${urlOf(tile.sheet)}#xywh=${tile.x},${tile.y},${w},${h}`, '');
  }
  return lines.join('\n');
}

const round = (seconds: number) => Math.round(seconds * 1e6) / 1e6;

/**
 * The Mux/imgix shape `{url, tile_width, tile_height, duration, tiles:[{start, x, y}]}`. `url` is the first
 * sheet; when the tiles fill several sheets, every tile also carries its own sheet's `url` (players that
 * read only the top-level url then see the first sheet's tiles only).
 */
export function storyboardJson(spec: SheetSpec, timeline: StoryboardTimeline, sheetUrl: SheetUrl): string {
  const tiles = placeTiles(spec, timeline);
  const several = tiles.length > 0 && tiles.at(-1)!.sheet > 0;
  const urlOf = sheetUrls(sheetUrl);
  return JSON.stringify({
    url: urlOf(0),
    tile_width: timeline.tileWidth,
    tile_height: timeline.tileHeight,
    duration: round(timeline.duration),
    tiles: tiles.map((t) => (several ? { start: round(t.start), x: t.x, y: t.y, url: urlOf(t.sheet) } : { start: round(t.start), x: t.x, y: t.y })),
  });
}
