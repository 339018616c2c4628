// `x-oss-process=image/…` (OSS image processing, ../shared/spec/oss-image-process.md), `style/<name>`,
// and the snapshot chain `video/snapshot,…|image/…|…` (a Volcengine TOS extension) → typed, validated
// plans. Pure: no I/O. The canonical form (fixed parameter order, defaults spelled out) keys the result
// cache and the ETag, so two spellings of one request share one entry. Also here: the `sys/saveas` POST
// body, style names and style content, and `format,auto` negotiation. The types are shared with the pixel
// pipeline (src/image/actions.ts) and the routes.
import { errors } from '../errors.js';
import { validateBucket, validateKey } from '../source/store.js';
import { canonicalPreview, isPreviewProcess, parsePreviewProcess, type PreviewPlan } from './preview-process.js';
import { canonicalSnapshot, parseSnapshotProcess, type SnapshotLimits, type SnapshotPlan } from './snapshot.js';

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
  /** `video/sprite,…`, `video/storyboard,…`, `video/animation,…` (extensions, src/process/preview-process.ts). */
  | { kind: 'preview'; preview: PreviewPlan }
  /** `style/<name>`: the route looks the style up in the bucket and parses its content. */
  | { kind: 'style'; name: string };

/** `sys/saveas,o_<b64 key>[,b_<b64 bucket>]`, decoded (standard or URL-safe base64, padded or not). */
export interface SaveAs {
  key: string;
  bucket: string | undefined;
}

/**
 * What the parser needs from the config: `maxOutputDimension` caps a snapshot's w and h. Image actions keep
 * OSS's own ranges (resize sides up to 16,384): an OSS-valid URL means what it means on OSS, and the
 * output is bounded by STILLFRAME_MAX_IMAGE_OUTPUT_PIXELS in the pipeline instead.
 */
export type ProcessLimits = SnapshotLimits;

// Long enough for a chain with a few watermarks, short enough that a hostile string is rejected before
// work. The snapshot part of a chain keeps its own 256-character cap (src/process/snapshot.ts).
const MAX_PROCESS_LENGTH = 4096;
// OSS's largest output side (resize w, h, l, s).
const OSS_MAX_SIDE = 16384;
const MAX_IMAGE_WATERMARKS = 3;
// Open-ended integers (crop x/y/w/h, indexcrop) are capped silently so they stay 32-bit.
const INT_CAP = 2_147_483_647;
const WATERMARK_TEXT_MAX = 64;

/** `style/<name>`, and the names `PUT /{bucket}?style&styleName=` accepts. */
export const STYLE_NAME = /^[A-Za-z0-9_.-]{1,63}$/;
// OSS 0017-00000253: characters a style's content may not hold.
const STYLE_FORBIDDEN = /[; ()'*?]/;

/** Fonts of the text watermark (`type_`), as OSS names them. */
export const WATERMARK_FONTS = [
  'wqy-zenhei', 'wqy-microhei', 'fangzhengshusong', 'fangzhengkaiti', 'fangzhengheiti', 'fangzhengfangsong',
  'droidsansfallback',
] as const;

const GRAVITIES: readonly Gravity[] = ['nw', 'north', 'ne', 'west', 'center', 'east', 'sw', 'south', 'se'];
const RESIZE_MODES = ['lfit', 'mfit', 'fill', 'pad', 'fixed'] as const;
const ACTION_NAMES = [
  'resize', 'crop', 'indexcrop', 'circle', 'rounded-corners', 'rotate', 'auto-orient', 'blur', 'bright', 'contrast',
  'sharpen', 'watermark', 'quality', 'format', 'interlace', 'info', 'average-hue',
] as const satisfies readonly ImageAction['action'][];
type ActionName = (typeof ACTION_NAMES)[number];
// Not inside a watermark's own pre-processing: another watermark, or JSON answers.
const NOT_IN_WATERMARK: readonly ActionName[] = ['watermark', 'info', 'average-hue'];

// OSS EC codes of the parameters the OSS error pages name.
const EC = {
  resizeMode: '0040-00000311',
  resizePercent: '0040-00000317',
  cropGravity: '0040-00000209',
  indexcropY: '0040-00000224',
  indexcropI: '0040-00000229',
  indexcropX: '0040-00000230',
} as const;

interface ChainContext {
  limits: ProcessLimits;
  /** Parsing a watermark's `image_…?x-oss-process=image/…`: `P_` is allowed in resize, no nesting. */
  watermark: boolean;
  /** The watermark's `P_`, once seen. */
  percent: number | undefined;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function orList(names: readonly string[]): string {
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}

/** An integer spelled one way: no sign unless negatives are allowed, no leading zeros, no "-0". */
function integer(action: string, param: string, raw: string, min: number, max: number, ec?: string): number {
  const pattern = min < 0 ? /^-?(0|[1-9]\d{0,9})$/ : /^(0|[1-9]\d{0,9})$/;
  const value = Number(raw);
  if (!pattern.test(raw) || raw === '-0' || value < min || value > max) {
    throw errors.imageParam(action, param, max === INT_CAP ? `integer >= ${min}` : `integer between ${min} and ${max}`, raw, ec);
  }
  return value;
}

function oneOf<T extends string>(action: string, param: string, raw: string, allowed: readonly T[], ec?: string): T {
  if (!(allowed as readonly string[]).includes(raw)) throw errors.imageParam(action, param, `one of ${allowed.join(', ')}`, raw, ec);
  return raw as T;
}

function flag(action: string, param: string, raw: string): boolean {
  return oneOf(action, param, raw, ['0', '1']) === '1';
}

function color(action: string, param: string, raw: string): string {
  if (!/^[0-9A-Fa-f]{6}$/.test(raw)) throw errors.imageParam(action, param, 'hex colour RRGGBB', raw);
  return raw.toUpperCase();
}

/**
 * Base64 of UTF-8 text: URL-safe or standard alphabet, padded or not. A space stands for `+` (a form or a
 * query string decodes an unescaped `+` to a space).
 */
function base64Text(action: string, param: string, raw: string): string {
  const bad = () => errors.imageParam(action, param, 'non-empty base64 (URL-safe or standard) of UTF-8 text', raw);
  const text = raw.replaceAll(' ', '+');
  const body = text.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9+/_-]+$/.test(body) || body.length % 4 === 1 || (body !== text && text.length % 4 !== 0)) throw bad();
  try {
    return UTF8.decode(Buffer.from(body.replaceAll('-', '+').replaceAll('_', '/'), 'base64'));
  } catch {
    throw bad();
  }
}

/** The canonical spelling of a base64 parameter: URL-safe, unpadded. */
function encodeBase64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

/**
 * One action's `name_value` parameters: each name at most once, unknown names refused. Shared with the
 * `x-oss-async-process` parser (src/process/async-process.ts) and the previews' (src/process/preview-process.ts).
 */
export class Params {
  private readonly values = new Map<string, string>();

  constructor(
    readonly action: string,
    pairs: readonly string[],
    allowed: readonly string[],
  ) {
    for (const pair of pairs) {
      const sep = pair.indexOf('_');
      if (sep <= 0) throw errors.imageProcess(`Malformed parameter "${pair}" in ${action}: expected name_value.`);
      const name = pair.slice(0, sep);
      if (!allowed.includes(name)) {
        throw errors.imageProcess(`Unknown parameter "${name}" in ${action}: expected ${orList(allowed)}.`);
      }
      if (this.values.has(name)) throw errors.imageProcess(`Parameter "${name}" appears more than once in ${action}.`);
      this.values.set(name, pair.slice(sep + 1));
    }
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  int(name: string, min: number, max: number, ec?: string): number | undefined {
    const raw = this.values.get(name);
    return raw === undefined ? undefined : integer(this.action, name, raw, min, max, ec);
  }

  /** A parameter without which the action means nothing. */
  requiredInt(name: string, min: number, max: number): number {
    const value = this.int(name, min, max);
    if (value === undefined) {
      throw errors.imageProcess(`Parameter "${name}" is required in ${this.action}: integer between ${min} and ${max}.`);
    }
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], ec?: string): T | undefined {
    const raw = this.values.get(name);
    return raw === undefined ? undefined : oneOf(this.action, name, raw, allowed, ec);
  }

  flag(name: string): boolean | undefined {
    const raw = this.values.get(name);
    return raw === undefined ? undefined : flag(this.action, name, raw);
  }

  color(name: string): string | undefined {
    const raw = this.values.get(name);
    return raw === undefined ? undefined : color(this.action, name, raw);
  }

  text(name: string): string | undefined {
    const raw = this.values.get(name);
    return raw === undefined ? undefined : base64Text(this.action, name, raw);
  }
}

function parseResize(tokens: readonly string[], ctx: ChainContext): ImageAction | undefined {
  const names = ['m', 'w', 'h', 'l', 's', 'p', 'limit', 'color', ...(ctx.watermark ? ['P'] : [])];
  const p = new Params('resize', tokens, names);
  const maxSide = OSS_MAX_SIDE;
  const mode = p.oneOf('m', RESIZE_MODES, EC.resizeMode) ?? 'lfit';
  const width = p.int('w', 1, maxSide);
  const height = p.int('h', 1, maxSide);
  const long = p.int('l', 1, maxSide);
  const short = p.int('s', 1, maxSide);
  const percent = p.int('p', 1, 1000, EC.resizePercent);
  const limit = p.flag('limit') ?? true;
  const padColor = p.color('color') ?? 'FFFFFF';
  const watermarkPercent = p.int('P', 1, 100);
  if (watermarkPercent !== undefined) {
    if (ctx.percent !== undefined) throw errors.imageProcess('Parameter "P" appears more than once in the watermark image\'s x-oss-process.');
    ctx.percent = watermarkPercent;
  }
  if (width === undefined && height === undefined && long === undefined && short === undefined && percent === undefined) {
    // `resize,P_30` alone only sizes the watermark against the main image.
    if (watermarkPercent !== undefined) return undefined;
    throw errors.imageProcess('resize needs at least one of w, h, l, s or p.');
  }
  const byWidthOrHeight = width !== undefined || height !== undefined;
  return {
    action: 'resize', mode, width, height,
    long: byWidthOrHeight ? undefined : long, short: byWidthOrHeight ? undefined : short,
    percent, limit, color: padColor,
  };
}

function parseCrop(tokens: readonly string[]): ImageAction {
  const p = new Params('crop', tokens, ['x', 'y', 'w', 'h', 'g']);
  const width = p.int('w', 0, INT_CAP);
  const height = p.int('h', 0, INT_CAP);
  return {
    action: 'crop',
    x: p.int('x', 0, INT_CAP) ?? 0,
    y: p.int('y', 0, INT_CAP) ?? 0,
    // 0 = the default: as far as the image goes.
    width: width === 0 ? undefined : width,
    height: height === 0 ? undefined : height,
    gravity: p.oneOf('g', GRAVITIES, EC.cropGravity) ?? 'nw',
  };
}

function parseIndexcrop(tokens: readonly string[]): ImageAction {
  const p = new Params('indexcrop', tokens, ['x', 'y', 'i']);
  const x = p.int('x', 1, INT_CAP, EC.indexcropX);
  const y = p.int('y', 1, INT_CAP, EC.indexcropY);
  const index = p.int('i', 0, INT_CAP, EC.indexcropI) ?? 0;
  // Both given: y wins, as on OSS.
  if (y !== undefined) return { action: 'indexcrop', axis: 'y', length: y, index };
  if (x !== undefined) return { action: 'indexcrop', axis: 'x', length: x, index };
  throw errors.imageProcess('indexcrop needs x or y (the slice length, integer >= 1).');
}

function parseWatermarkImage(raw: string, ctx: ChainContext): ImageWatermark {
  const spec = base64Text('watermark', 'image', raw);
  const query = spec.indexOf('?');
  const key = query < 0 ? spec : spec.slice(0, query);
  try {
    validateKey(key);
  } catch (err) {
    throw errors.imageProcess(`The watermark image "${key}" is not a valid object key: ${(err as Error).message}`);
  }
  if (query < 0) return { key, actions: [], percent: undefined };
  const prefix = 'x-oss-process=image/';
  const process = spec.slice(query + 1);
  if (!process.startsWith(prefix)) {
    throw errors.imageProcess(`The watermark image "${spec}" may only carry ?x-oss-process=image/….`);
  }
  const inner: ChainContext = { limits: ctx.limits, watermark: true, percent: undefined };
  const actions = parseChain(process.slice(prefix.length), inner);
  return { key, actions, percent: inner.percent };
}

function parseWatermark(tokens: readonly string[], ctx: ChainContext): ImageAction {
  const p = new Params('watermark', tokens, [
    't', 'g', 'x', 'y', 'voffset', 'text', 'type', 'color', 'size', 'shadow', 'rotate', 'fill', 'image', 'order', 'align',
    'interval',
  ]);
  const opacity = p.int('t', 0, 100) ?? 100;
  const gravity = p.oneOf('g', GRAVITIES) ?? 'se';
  const x = p.int('x', 0, 4096) ?? 10;
  const y = p.int('y', 0, 4096) ?? 10;
  const voffset = p.int('voffset', -1000, 1000) ?? 0;
  const text = p.text('text');
  if (text !== undefined && [...text].length > WATERMARK_TEXT_MAX) {
    throw errors.imageParam('watermark', 'text', `base64 of at most ${WATERMARK_TEXT_MAX} characters`, p.get('text')!);
  }
  const font = p.text('type');
  if (font !== undefined) oneOf('watermark', 'type', font, WATERMARK_FONTS);
  // The text parameters are checked even without text_, and then mean nothing.
  const textColor = p.color('color') ?? '000000';
  const size = p.int('size', 1, 1000) ?? 40;
  const shadow = p.int('shadow', 0, 100) ?? 0;
  const rotate = p.int('rotate', 0, 360) ?? 0;
  const fill = p.flag('fill') ?? false;
  const imageRaw = p.get('image');
  const image = imageRaw === undefined ? undefined : parseWatermarkImage(imageRaw, ctx);
  const order = p.oneOf('order', ['0', '1'] as const) ?? '0';
  const align = p.oneOf('align', ['0', '1', '2'] as const) ?? '0';
  const interval = p.int('interval', 0, 1000) ?? 0;
  if (text === undefined && image === undefined) throw errors.imageProcess('watermark needs text_ or image_ (or both).');
  return {
    action: 'watermark', opacity, gravity, x, y, voffset,
    text: text === undefined ? undefined : { text, font: font ?? 'wqy-zenhei', color: textColor, size, shadow, rotate, fill },
    image,
    order: order === '1' ? 1 : 0,
    align: align === '2' ? 2 : align === '1' ? 1 : 0,
    interval,
  };
}

function parseQuality(tokens: readonly string[]): ImageAction {
  const p = new Params('quality', tokens, ['q', 'Q']);
  const relative = p.int('q', 1, 100);
  const absolute = p.int('Q', 1, 100);
  if (relative === undefined && absolute === undefined) throw errors.imageProcess('quality needs q (relative) or Q (absolute), integer between 1 and 100.');
  return { action: 'quality', relative, absolute };
}

/** `rotate,90`: the value itself, not name_value. */
function bareValue(action: string, tokens: readonly string[], expected: string): string {
  if (tokens.length !== 1) throw errors.imageProcess(`${action} takes one value: ${action},<${expected}>.`);
  return tokens[0]!;
}

function valueInt(action: string, tokens: readonly string[], min: number, max: number): number {
  return integer(action, '', bareValue(action, tokens, `integer between ${min} and ${max}`), min, max);
}

function valueFlag(action: string, tokens: readonly string[]): boolean {
  return flag(action, '', bareValue(action, tokens, '0 or 1'));
}

function parseFormat(tokens: readonly string[], ctx: ChainContext): ImageAction {
  const allowed = ctx.watermark ? [...OUTPUT_FORMATS, 'jpeg'] : [...OUTPUT_FORMATS, 'jpeg', 'auto'];
  const value = oneOf('format', '', bareValue('format', tokens, allowed.join('|')), allowed);
  return { action: 'format', format: value === 'jpeg' ? 'jpg' : (value as OutputFormat | 'auto') };
}

function noParams(action: 'info' | 'average-hue', tokens: readonly string[]): ImageAction {
  if (tokens.length > 0) throw errors.imageProcess(`${action} takes no parameters.`);
  return { action };
}

function parseAction(name: string, tokens: readonly string[], ctx: ChainContext): ImageAction | undefined {
  if (!(ACTION_NAMES as readonly string[]).includes(name)) {
    throw errors.imageProcess(`Unknown image action "${name}": expected ${orList(ACTION_NAMES)}.`);
  }
  const action = name as ActionName;
  if (ctx.watermark && NOT_IN_WATERMARK.includes(action)) {
    throw errors.imageProcess(`${action} is not allowed in a watermark image's x-oss-process.`);
  }
  switch (action) {
    case 'resize':
      return parseResize(tokens, ctx);
    case 'crop':
      return parseCrop(tokens);
    case 'indexcrop':
      return parseIndexcrop(tokens);
    case 'circle':
      return { action, radius: new Params(action, tokens, ['r']).requiredInt('r', 1, 4096) };
    case 'rounded-corners':
      return { action, radius: new Params(action, tokens, ['r']).requiredInt('r', 1, 4096) };
    case 'rotate':
      return { action, degrees: valueInt(action, tokens, 0, 360) };
    case 'auto-orient':
      return { action, enabled: valueFlag(action, tokens) };
    case 'blur': {
      const p = new Params(action, tokens, ['r', 's']);
      return { action, radius: p.requiredInt('r', 1, 50), sigma: p.requiredInt('s', 1, 50) };
    }
    case 'bright':
    case 'contrast':
      return { action, value: valueInt(action, tokens, -100, 100) };
    case 'sharpen':
      return { action, value: valueInt(action, tokens, 50, 399) };
    case 'watermark':
      return parseWatermark(tokens, ctx);
    case 'quality':
      return parseQuality(tokens);
    case 'format':
      return parseFormat(tokens, ctx);
    case 'interlace':
      return { action, enabled: valueFlag(action, tokens) };
    case 'info':
    case 'average-hue':
      return noParams(action, tokens);
  }
}

/**
 * `resize,w_100/rotate,90` → the actions, split at `/`. A `/` of the standard base64 alphabet inside a
 * watermark's text_, type_ or image_ does not end the action: a piece that does not start with an action
 * name is glued back onto such a watermark.
 */
function splitActions(chain: string): string[] {
  const out: string[] = [];
  for (const piece of chain.split('/')) {
    const prev = out.at(-1);
    const head = piece.split(',', 1)[0]!;
    if (
      prev?.startsWith('watermark,') && /,(text|type|image)_[A-Za-z0-9+/=_ -]*$/.test(prev)
      && !(ACTION_NAMES as readonly string[]).includes(head) && /^[A-Za-z0-9+=_ -]*$/.test(head)
    ) {
      out[out.length - 1] = `${prev}/${piece}`;
    } else {
      out.push(piece);
    }
  }
  return out;
}

function parseChain(chain: string, ctx: ChainContext): ImageAction[] {
  const actions: ImageAction[] = [];
  for (const segment of splitActions(chain)) {
    if (segment === '') throw errors.imageProcess(`Empty image action in "${chain}": actions are separated by one "/".`);
    const [name, ...tokens] = segment.split(',');
    const action = parseAction(name!, tokens, ctx);
    if (action) actions.push(action);
  }
  return actions;
}

/** Rules over the whole chain: info alone; at most three image watermarks. */
function checkChain(actions: readonly ImageAction[], afterSnapshot: boolean): void {
  if (actions.some((a) => a.action === 'info') && (actions.length > 1 || afterSnapshot)) {
    throw errors.imageProcess('info cannot be combined with other actions.');
  }
  const images = actions.filter((a) => a.action === 'watermark' && a.image !== undefined).length;
  if (images > MAX_IMAGE_WATERMARKS) {
    throw errors.imageProcess(`At most ${MAX_IMAGE_WATERMARKS} image watermarks are allowed in one x-oss-process; received ${images}.`);
  }
}

/**
 * `video/snapshot,…|image/<actions>|<actions>` (Volcengine TOS grammar): the snapshot first, then image
 * actions; the second segment names `image/`, later ones may leave it out.
 */
function parseSnapshotChain(process: string, limits: ProcessLimits): ProcessRequest {
  const [first, ...rest] = process.split('|');
  const snapshot = parseSnapshotProcess(first!, limits);
  const ctx: ChainContext = { limits, watermark: false, percent: undefined };
  const actions: ImageAction[] = [];
  rest.forEach((segment, i) => {
    if (segment.startsWith('image/')) {
      actions.push(...parseChain(segment.slice('image/'.length), ctx));
    } else if (i === 0) {
      throw errors.imageProcess(`The image actions after video/snapshot must start with image/ (received "${segment}").`);
    } else {
      actions.push(...parseChain(segment, ctx));
    }
  });
  checkChain(actions, true);
  return { kind: 'snapshot', snapshot, actions };
}

/**
 * A GET's `x-oss-process`: `image/<action>,<k>_<v>…/<action>…`, `style/<name>`, a preview
 * (`video/sprite|storyboard|animation,…`, src/process/preview-process.ts), or `video/snapshot,…`
 * optionally followed by `|image/…` (the extension). `sys/saveas` is refused: it only comes by POST
 * (parseSaveAsBody).
 */
export function parseProcess(process: string, limits: ProcessLimits): ProcessRequest {
  if (process.length > MAX_PROCESS_LENGTH) {
    throw errors.imageProcess(`x-oss-process is longer than ${MAX_PROCESS_LENGTH} characters.`);
  }
  if (process.includes('sys/saveas')) throw errors.saveAsNotAllowed();
  if (process.startsWith('style/')) {
    const name = process.slice('style/'.length);
    if (!STYLE_NAME.test(name)) throw errors.invalidStyleName(name);
    return { kind: 'style', name };
  }
  if (isPreviewProcess(process)) return { kind: 'preview', preview: parsePreviewProcess(process) };
  if (process.startsWith('video/')) return parseSnapshotChain(process, limits);
  if (process.startsWith('image/')) {
    if (process.includes('|')) throw errors.imageProcess('"|" may only follow video/snapshot in x-oss-process.');
    const actions = parseChain(process.slice('image/'.length), { limits, watermark: false, percent: undefined });
    checkChain(actions, false);
    return { kind: 'image', actions };
  }
  const head = process.split(/[/,|]/, 1)[0]!;
  throw errors.imageProcess(`Unsupported x-oss-process "${head}": expected image/…, style/<name> or video/snapshot,….`);
}

function canonicalWatermark(a: WatermarkAction): string {
  const parts = ['watermark', `t_${a.opacity}`, `g_${a.gravity}`, `x_${a.x}`, `y_${a.y}`, `voffset_${a.voffset}`];
  if (a.text) {
    const t = a.text;
    parts.push(
      `text_${encodeBase64(t.text)}`, `type_${encodeBase64(t.font)}`, `color_${t.color}`, `size_${t.size}`,
      `shadow_${t.shadow}`, `rotate_${t.rotate}`, `fill_${t.fill ? 1 : 0}`,
    );
  }
  if (a.image) {
    const steps = a.image.actions.map(canonicalAction);
    // P_ sizes the watermark against the main image wherever it was written: one place, the end.
    if (a.image.percent !== undefined) steps.push(`resize,P_${a.image.percent}`);
    const spec = steps.length > 0 ? `${a.image.key}?x-oss-process=image/${steps.join('/')}` : a.image.key;
    parts.push(`image_${encodeBase64(spec)}`);
  }
  parts.push(`order_${a.order}`, `align_${a.align}`, `interval_${a.interval}`);
  return parts.join(',');
}

function canonicalAction(a: ImageAction): string {
  switch (a.action) {
    case 'resize': {
      const parts = ['resize', `m_${a.mode}`];
      if (a.width !== undefined) parts.push(`w_${a.width}`);
      if (a.height !== undefined) parts.push(`h_${a.height}`);
      if (a.long !== undefined) parts.push(`l_${a.long}`);
      if (a.short !== undefined) parts.push(`s_${a.short}`);
      if (a.percent !== undefined) parts.push(`p_${a.percent}`);
      parts.push(`limit_${a.limit ? 1 : 0}`);
      // The fill colour only means something when padding.
      if (a.mode === 'pad') parts.push(`color_${a.color}`);
      return parts.join(',');
    }
    case 'crop': {
      const parts = ['crop', `x_${a.x}`, `y_${a.y}`];
      if (a.width !== undefined) parts.push(`w_${a.width}`);
      if (a.height !== undefined) parts.push(`h_${a.height}`);
      parts.push(`g_${a.gravity}`);
      return parts.join(',');
    }
    case 'indexcrop':
      return `indexcrop,${a.axis}_${a.length},i_${a.index}`;
    case 'circle':
    case 'rounded-corners':
      return `${a.action},r_${a.radius}`;
    case 'rotate':
      return `rotate,${a.degrees}`;
    case 'auto-orient':
    case 'interlace':
      return `${a.action},${a.enabled ? 1 : 0}`;
    case 'blur':
      return `blur,r_${a.radius},s_${a.sigma}`;
    case 'bright':
    case 'contrast':
    case 'sharpen':
      return `${a.action},${a.value}`;
    case 'watermark':
      return canonicalWatermark(a);
    case 'quality':
      // Q wins when both are given.
      return a.absolute !== undefined ? `quality,Q_${a.absolute}` : `quality,q_${a.relative!}`;
    case 'format':
      return `format,${a.format}`;
    case 'info':
    case 'average-hue':
      return a.action;
  }
}

/**
 * The one spelling of a request: same meaning ⇔ same string (parameter order fixed, defaults spelled out,
 * base64 re-encoded URL-safe and unpadded). Keys the result cache and the ETag; it parses back to the same
 * request. A snapshot chain starts with canonicalSnapshot; when a format action follows, the snapshot's
 * own `f` is overridden and so spelled as the default.
 */
export function canonicalProcess(request: ProcessRequest): string {
  switch (request.kind) {
    case 'style':
      return `style/${request.name}`;
    case 'image':
      return `image/${request.actions.map(canonicalAction).join('/')}`;
    case 'preview':
      return canonicalPreview(request.preview);
    case 'snapshot': {
      if (request.actions.length === 0) return canonicalSnapshot(request.snapshot);
      const overridden = request.actions.some((a) => a.action === 'format');
      const snapshot = canonicalSnapshot(overridden ? { ...request.snapshot, format: 'jpg' } : request.snapshot);
      return `${snapshot}|image/${request.actions.map(canonicalAction).join('/')}`;
    }
  }
}

/** The media types an Accept header lists with a non-zero q, lower-cased. */
function acceptedTypes(accept: string | undefined): Set<string> {
  const types = new Set<string>();
  for (const range of (accept ?? '').split(',')) {
    const [type, ...params] = range.split(';');
    const q = params.map((param) => /^\s*q\s*=\s*([\d.]+)\s*$/i.exec(param)?.[1]).find((v) => v !== undefined);
    if (q !== undefined && Number(q) === 0) continue;
    types.add(type!.trim().toLowerCase());
  }
  return types;
}

/**
 * `format,auto` (extension) → avif when Accept lists image/avif, else webp when it lists image/webp, else
 * jpg. `negotiated`: the answer depends on Accept, so the route sends `Vary: Accept`.
 */
export function resolveAutoFormat(actions: ImageAction[], accept: string | undefined): { actions: ImageAction[]; negotiated: boolean } {
  if (!actions.some((a) => a.action === 'format' && a.format === 'auto')) return { actions, negotiated: false };
  const types = acceptedTypes(accept);
  const format: OutputFormat = types.has('image/avif') ? 'avif' : types.has('image/webp') ? 'webp' : 'jpg';
  return {
    actions: actions.map((a) => (a.action === 'format' && a.format === 'auto' ? { action: 'format', format } : a)),
    negotiated: true,
  };
}

export const SAVEAS = 'sys/saveas';
const SAVEAS_SHAPE = 'x-oss-process=<process>|sys/saveas,o_<base64 key>[,b_<base64 bucket>]';

/**
 * The body of `POST /{bucket}/{key}?x-oss-process`: form-encoded `x-oss-process=<process>|sys/saveas,o_…,b_…`
 * (ali-oss's processObjectSave sends standard padded base64, percent-encoded). Returns the process to
 * parse with parseProcess and the decoded, validated target.
 */
export function parseSaveAsBody(body: string): { process: string; saveAs: SaveAs } {
  const values = new URLSearchParams(body).getAll('x-oss-process');
  if (values.length === 0) throw errors.imageProcess(`The request body must be ${SAVEAS_SHAPE}.`);
  if (values.length > 1) throw errors.imageProcess('x-oss-process appears more than once in the request body.');
  const segments = values[0]!.split('|');
  const last = segments.pop()!;
  if (last !== SAVEAS && !last.startsWith(`${SAVEAS},`)) {
    throw errors.imageProcess(
      values[0]!.includes(SAVEAS) ? `${SAVEAS} must be the last "|" segment of x-oss-process.` : `x-oss-process has no ${SAVEAS}: expected ${SAVEAS_SHAPE}.`,
    );
  }
  const process = segments.join('|');
  if (process === '') throw errors.imageProcess(`x-oss-process has nothing to save before ${SAVEAS}.`);
  if (process.includes(SAVEAS)) throw errors.imageProcess(`${SAVEAS} appears more than once in x-oss-process.`);
  return { process, saveAs: parseSaveAs(last) };
}

/**
 * One `sys/saveas,o_<b64 key>[,b_<b64 bucket>]` segment → the decoded, validated target. Shared by the
 * synchronous POST body above and the `x-oss-async-process` body (src/process/async-process.ts).
 */
export function parseSaveAs(segment: string): SaveAs {
  if (segment !== SAVEAS && !segment.startsWith(`${SAVEAS},`)) throw errors.imageProcess(`Expected ${SAVEAS},o_<base64 key>[,b_<base64 bucket>] but received "${segment.slice(0, 60)}".`);
  const p = new Params(SAVEAS, segment.split(',').slice(1), ['o', 'b']);
  const key = p.text('o');
  if (key === undefined) throw errors.imageProcess(`Parameter "o" (base64 of the target object key) is required in ${SAVEAS}.`);
  const bucket = p.text('b');
  validateKey(key);
  if (bucket !== undefined) validateBucket(bucket);
  return { key, bucket };
}

/** A name for `PUT /{bucket}?style&styleName=`: 1–63 characters (0017-00000250) of [A-Za-z0-9_.-] (0017-00000251). */
export function validateStyleName(name: string): void {
  if (name.length < 1 || name.length > 63) throw errors.invalidStyleName(name, '0017-00000250');
  if (!STYLE_NAME.test(name)) throw errors.invalidStyleName(name, '0017-00000251');
}

/**
 * What `PUT /{bucket}?style` accepts as content: a process parseProcess accepts, not itself a `style/`
 * reference, without `sys/saveas`, and without any of `; ()'*?` (0017-00000253).
 */
export function parseStyleContent(content: string, limits: ProcessLimits): Exclude<ProcessRequest, { kind: 'style' }> {
  if (STYLE_FORBIDDEN.test(content)) throw errors.invalidStyleContent();
  if (content.startsWith('style/')) throw errors.invalidStyleContent('A style cannot refer to another style.');
  if (content.includes(SAVEAS)) throw errors.invalidStyleContent(`${SAVEAS} is not allowed in a style.`);
  const request = parseProcess(content, limits);
  if (request.kind === 'style') throw errors.invalidStyleContent('A style cannot refer to another style.');
  return request;
}
