// `x-oss-process=image/…` (OSS image processing, ../shared/spec/oss-image-process.md), `style/<name>`,
// and the snapshot chain `video/snapshot,…|image/…|…` (a Volcengine TOS extension) → typed, validated
// plans. Pure: no I/O. The canonical form (fixed parameter order, defaults spelled out) keys the result
// cache and the ETag, so two spellings of one request share one entry.
//
// CONTRACT (shared by the parser, the pixel pipeline in src/image/actions.ts and the routes): the
// types below are settled; the functions are filled in by the parser's author.
import type { SnapshotPlan } from './snapshot.js';

export type Gravity = 'nw' | 'north' | 'ne' | 'west' | 'center' | 'east' | 'sw' | 'south' | 'se';

/** Output formats of the `format` action. `auto` (extension): WebP or AVIF by the request's Accept. */
export const OUTPUT_FORMATS = ['jpg', 'png', 'webp', 'bmp', 'gif', 'tiff', 'heic', 'avif'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface TextWatermark {
  /** Decoded text (≤ 64 characters). */
  text: string;
  /** Font family name as OSS spells it (decoded `type_`), default 'wqy-zenhei'. */
  font: string;
  /** RRGGBB, upper case, default '000000'. */
  color: string;
  /** (0, 1000], default 40. */
  size: number;
  /** [0, 100], default 0 (no shadow). */
  shadow: number;
  /** [0, 360], default 0. */
  rotate: number;
  /** Tile the text over the whole image. */
  fill: boolean;
}

export interface ImageWatermark {
  /** Object key in the source's bucket (decoded `image_`, without its `?x-oss-process=` part). */
  key: string;
  /** Its own pre-processing (resize, crop, rotate …), parsed; empty when none. */
  actions: ImageAction[];
  /** `P_`: the watermark's size as a percentage of the main image's (1–100), when given. */
  percent: number | undefined;
}

export interface WatermarkAction {
  action: 'watermark';
  /** t: [0, 100], default 100. */
  opacity: number;
  /** g: default 'se'. */
  gravity: Gravity;
  /** x, y: [0, 4096], default 10. */
  x: number;
  y: number;
  /** voffset: [-1000, 1000], default 0 (west/center/east only). */
  voffset: number;
  text: TextWatermark | undefined;
  image: ImageWatermark | undefined;
  /** Text and image together: order 0 = image first (default), 1 = text first. */
  order: 0 | 1;
  /** align 0 top (default), 1 middle, 2 bottom. */
  align: 0 | 1 | 2;
  /** interval [0, 1000] px, default 0. */
  interval: number;
}

export type ImageAction =
  | {
      action: 'resize';
      mode: 'lfit' | 'mfit' | 'fill' | 'pad' | 'fixed';
      width: number | undefined;
      height: number | undefined;
      /** l, s: ignored (undefined) when w or h is given. */
      long: number | undefined;
      short: number | undefined;
      /** p: [1, 1000]. */
      percent: number | undefined;
      /** limit_1 (default): never enlarge past the source. */
      limit: boolean;
      /** RRGGBB (m_pad), default 'FFFFFF'. */
      color: string;
    }
  | { action: 'crop'; x: number; y: number; width: number | undefined; height: number | undefined; gravity: Gravity }
  | { action: 'indexcrop'; axis: 'x' | 'y'; length: number; index: number }
  | { action: 'circle'; radius: number }
  | { action: 'rounded-corners'; radius: number }
  | { action: 'rotate'; degrees: number }
  | { action: 'auto-orient'; enabled: boolean }
  | { action: 'blur'; radius: number; sigma: number }
  | { action: 'bright'; value: number }
  | { action: 'contrast'; value: number }
  | { action: 'sharpen'; value: number }
  | WatermarkAction
  /** q relative, Q absolute (Q wins when both are given). */
  | { action: 'quality'; relative: number | undefined; absolute: number | undefined }
  | { action: 'format'; format: OutputFormat | 'auto' }
  | { action: 'interlace'; enabled: boolean }
  /** Standalone only: JSON about the source. */
  | { action: 'info' }
  /** JSON `{"RGB":"0xRRGGBB"}`. */
  | { action: 'average-hue' };

/** What an `x-oss-process` value asks for. */
export type ProcessRequest =
  /** `video/snapshot,…` optionally followed by `|image/…|…` (the extension): image actions on the frame. */
  | { kind: 'snapshot'; snapshot: SnapshotPlan; actions: ImageAction[] }
  | { kind: 'image'; actions: ImageAction[] }
  /** `style/<name>`: the route looks the style up in the bucket and parses its content. */
  | { kind: 'style'; name: string };

/** `sys/saveas,o_<b64 key>[,b_<b64 bucket>]`, decoded (standard or URL-safe base64, padded or not). */
export interface SaveAs {
  key: string;
  bucket: string | undefined;
}
