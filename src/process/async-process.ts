// OSS asynchronous processing: the body of `POST /{bucket}/{key}?x-oss-async-process`,
// `x-oss-async-process=<video/snapshots|video/sprite|video/animation>,<params>|sys/saveas,o_…[,b_…][/notify,topic_…]`
// → the IMM CreateMediaConvertTask parameters that do the same work (one source, one target). Pure: no
// I/O. The route (src/http/async-process-routes.ts) submits them through the IMM task path, so the task
// is an IMM task like any other. Parameters follow OSS (times in ms, percentages); IMM fields follow IMM
// (seconds, ratios): ../shared/spec/previews.md §1.8 and §2, and docs/tasks.md "OSS asynchronous processing".
import { errors } from '../errors.js';
import { Params, parseSaveAs, SAVEAS, type SaveAs } from './image-process.js';
import type { Params as ImmParams } from './imm-request.js';

export const ASYNC_ACTIONS = ['video/snapshots', 'video/sprite', 'video/animation'] as const;
export type AsyncAction = (typeof ASYNC_ACTIONS)[number];

/** The IMM `Targets[].Image` list each action fills. */
export const IMM_TARGET_FIELD = { 'video/snapshots': 'Snapshots', 'video/sprite': 'Sprites', 'video/animation': 'Animations' } as const satisfies Record<AsyncAction, string>;

export interface AsyncProcess {
  action: AsyncAction;
  /** The IMM target's fields (IMM names and units) but URI, which comes from the saveas target. */
  spec: Record<string, string | number>;
  saveAs: SaveAs;
  /** `/notify,topic_<b64>`: the IMM Notification's MNS TopicName. */
  topic: string | undefined;
}

const SHAPE = 'x-oss-async-process=<video/snapshots|video/sprite|video/animation>,<params>|sys/saveas,o_<base64 key>[,b_<base64 bucket>][/notify,topic_<base64 topic>]';
const MAX_LENGTH = 4096;
// IMM's longest time (src/process/imm-request.ts MAX_SECONDS), in ms.
const MAX_MS = 12 * 3600 * 10 * 1000;
const MAX_NUMBER = 1_000_000;
const NOTIFY = '/notify';
const SCALE_TYPES = ['crop', 'stretch', 'fill', 'fit'] as const;
const SPRITE_MODES = { inter: 'interval', key: 'keyframe', avg: 'average', dhash: 'dhash' } as const;
// OSS documents no range for these (they appear only in its example); generous but bounded.
const MAX_TILES = 100;
const MAX_SPACING = 256;
const MAX_FPS = 60;
// IMM's sprite TileWidth/TileHeight default, for the one-sheet check below.
const IMM_TILE_DEFAULT = 6;

const seconds = (ms: number) => ms / 1000;

/**
 * OSS's `inter` of snapshots and sprites: inter_0 is "every frame", which IMM's Interval (> 0) says as
 * any interval shorter than a frame (clamped to the frame interval: each frame once).
 */
const frameInterval = (ms: number) => (ms === 0 ? EVERY_FRAME_SECONDS : seconds(ms));
const EVERY_FRAME_SECONDS = 0.001;

/** Puts defined values in, in order: the IMM JSON lists only what the request said. */
function fields(entries: [string, string | number | undefined][]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [name, value] of entries) if (value !== undefined) out[name] = value;
  return out;
}

/**
 * An OSS percentage (0,200] → an IMM ratio. 100 is the source's size (no field); IMM ratios are below 1,
 * so enlarging by percentage is refused rather than silently changed. `max` is the largest ratio IMM takes.
 */
function percent(p: Params, action: string, name: string): number | undefined {
  const value = p.int(name, 1, 200);
  if (value === undefined || value === 100) return undefined;
  if (value > 100) throw errors.imageParam(action, name, 'integer between 1 and 100 (enlarging by percentage is not supported)', String(value));
  return value / 100;
}

function required<T>(value: T | undefined, action: string, name: string, expected: string): T {
  if (value === undefined) throw errors.asyncProcess(`Parameter "${name}" is required in ${action}: ${expected}.`);
  return value;
}

/** A size in px (32–4096), or else a percentage of the source: OSS ignores the percentages once a px side is set. */
function size(p: Params, action: string, px: [string, string], percents: [string, string]): [number | undefined, number | undefined] {
  const w = p.int(px[0], 32, 4096);
  const h = p.int(px[1], 32, 4096);
  const pw = percent(p, action, percents[0]);
  const ph = percent(p, action, percents[1]);
  return w !== undefined || h !== undefined ? [w, h] : [pw, ph];
}

function parseSnapshots(p: Params, action: string) {
  const [width, height] = size(p, action, ['w', 'h'], ['pw', 'ph']);
  const ss = p.int('ss', 0, MAX_MS);
  const inter = p.int('inter', 0, MAX_MS);
  return fields([
    ['Format', required(p.oneOf('f', ['jpg', 'png'] as const), action, 'f', 'jpg or png')],
    ['StartTime', ss === undefined ? undefined : seconds(ss)],
    ['Interval', inter === undefined ? undefined : frameInterval(inter)],
    ['Number', p.int('num', 0, MAX_NUMBER)],
    ['Width', width],
    ['Height', height],
    ['ScaleType', p.oneOf('scaletype', SCALE_TYPES)],
  ]);
}

function parseSprite(p: Params, action: string) {
  const [scaleWidth, scaleHeight] = size(p, action, ['sw', 'sh'], ['psw', 'psh']);
  const m = p.oneOf('m', Object.keys(SPRITE_MODES) as (keyof typeof SPRITE_MODES)[]);
  const mode = m === undefined ? undefined : SPRITE_MODES[m];
  const thr = p.int('thr', 0, 100);
  const num = p.int('num', 0, MAX_NUMBER);
  if (thr !== undefined && mode !== 'dhash') throw errors.imageParam(action, 'thr', 'no value unless m is dhash', String(thr));
  if (mode === 'average' && !num) throw errors.imageParam(action, 'num', 'integer between 1 and 1000000 with m_avg (the tiles to spread over the video)', String(num ?? '(none)'));
  const ss = p.int('ss', 0, MAX_MS);
  const inter = p.int('inter', 0, MAX_MS);
  return fields([
    ['Format', required(p.oneOf('f', ['jpg', 'png'] as const), action, 'f', 'jpg or png')],
    ['StartTime', ss === undefined ? undefined : seconds(ss)],
    ['Interval', inter === undefined ? undefined : frameInterval(inter)],
    ['Number', num],
    ['Mode', mode],
    // OSS's thr defaults to 0; IMM's dhash needs a Threshold (or a Number) to choose frames.
    ['Threshold', mode === 'dhash' ? (thr ?? 0) : undefined],
    ['ScaleType', p.oneOf('scaletype', SCALE_TYPES)],
    ['ScaleWidth', scaleWidth],
    ['ScaleHeight', scaleHeight],
    ['TileWidth', p.int('tw', 1, MAX_TILES)],
    ['TileHeight', p.int('th', 1, MAX_TILES)],
    ['Pad', p.int('pad', 0, MAX_SPACING)],
    ['Margin', p.int('margin', 0, MAX_SPACING)],
  ]);
}

function parseAnimation(p: Params, action: string) {
  const ss = p.int('ss', 0, MAX_MS);
  const inter = p.int('inter', 1, MAX_MS);
  return fields([
    ['Format', required(p.oneOf('f', ['gif', 'webp'] as const), action, 'f', 'gif or webp')],
    ['StartTime', ss === undefined ? undefined : seconds(ss)],
    ['Interval', inter === undefined ? undefined : seconds(inter)],
    ['Number', p.int('num', 0, MAX_NUMBER)],
    ['FrameRate', p.int('fps', 1, MAX_FPS)],
    ['Width', p.int('w', 32, 4096)],
    ['Height', p.int('h', 32, 4096)],
    ['ScaleType', p.oneOf('scaletype', SCALE_TYPES)],
  ]);
}

const PARAMS: Record<AsyncAction, { names: string[]; parse: (p: Params, action: string) => Record<string, string | number> }> = {
  'video/snapshots': { names: ['ss', 'f', 'num', 'inter', 'w', 'h', 'pw', 'ph', 'scaletype'], parse: parseSnapshots },
  'video/sprite': {
    names: ['ss', 'f', 'm', 'thr', 'num', 'inter', 'sw', 'sh', 'psw', 'psh', 'tw', 'th', 'pad', 'margin', 'scaletype'],
    parse: parseSprite,
  },
  'video/animation': { names: ['ss', 'f', 'w', 'h', 'inter', 'num', 'fps', 'scaletype'], parse: parseAnimation },
};

/** Does the key's last path segment end in `.<something>`? (OSS's "the target has an extension".) */
export function hasExtension(key: string): boolean {
  const base = key.slice(key.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 && dot < base.length - 1;
}

/** The saveas segment and its optional `/notify,topic_<b64>`. */
function parseSaveAsAndNotify(segment: string): { saveAs: SaveAs; topic: string | undefined } {
  // A comma never occurs in base64, so `/notify,` cannot be part of o_ or b_.
  let at = segment.indexOf(`${NOTIFY},`);
  if (at < 0 && segment.endsWith(NOTIFY)) at = segment.length - NOTIFY.length;
  if (at < 0) return { saveAs: parseSaveAs(segment), topic: undefined };
  const notify = new Params('notify', segment.slice(at + NOTIFY.length + 1).split(',').filter(Boolean), ['topic']);
  const topic = notify.text('topic');
  if (topic === undefined) throw errors.asyncProcess('Parameter "topic" (base64 of the MNS topic name) is required in notify.');
  if (topic.length > 256) throw errors.imageParam('notify', 'topic', 'base64 of a topic name of at most 256 characters', notify.get('topic')!);
  return { saveAs: parseSaveAs(segment.slice(0, at)), topic };
}

/** One `x-oss-async-process` value → the action's IMM fields, the saveas target and the topic. */
export function parseAsyncProcess(value: string): AsyncProcess {
  if (value.length > MAX_LENGTH) throw errors.asyncProcess(`x-oss-async-process is longer than ${MAX_LENGTH} characters.`);
  const segments = value.split('|');
  const last = segments.at(-1)!;
  if (segments.length < 2 || !(last === SAVEAS || last.startsWith(`${SAVEAS},`))) {
    throw errors.asyncProcess(value.includes(SAVEAS) ? `${SAVEAS} must be the last "|" segment of x-oss-async-process.` : `x-oss-async-process has no ${SAVEAS}: expected ${SHAPE}.`);
  }
  if (segments.length > 2) throw errors.asyncProcess(`x-oss-async-process takes one action then ${SAVEAS}: expected ${SHAPE}.`);
  const [name, ...pairs] = segments[0]!.split(',');
  if (!(ASYNC_ACTIONS as readonly string[]).includes(name!)) {
    if (name === 'video/snapshot') throw errors.asyncProcess('video/snapshot (one frame) is synchronous: use GET ?x-oss-process, or video/snapshots here.');
    throw errors.unknownAsyncAction(name!);
  }
  const action = name as AsyncAction;
  const { names, parse } = PARAMS[action];
  const spec = parse(new Params(action, pairs, names), action);
  const { saveAs, topic } = parseSaveAsAndNotify(last);
  checkNaming(action, spec, saveAs);
  return { action, spec, saveAs, topic };
}

/** The body of `POST /{bucket}/{key}?x-oss-async-process`: form-encoded, one `x-oss-async-process`. */
export function parseAsyncProcessBody(body: string): AsyncProcess {
  const values = new URLSearchParams(body).getAll('x-oss-async-process');
  if (values.length === 0) throw errors.asyncProcess(`The request body must be ${SHAPE}.`);
  if (values.length > 1) throw errors.asyncProcess('x-oss-async-process appears more than once in the request body.');
  return parseAsyncProcess(values[0]!);
}

/**
 * OSS's naming rule for several outputs: a target without an extension gets a sequence suffix; one with
 * an extension names a single object. Several frames (or sheets) to one name would overwrite each other
 * (OSS keeps the last): refused here instead.
 */
function checkNaming(action: AsyncAction, spec: Record<string, string | number>, saveAs: SaveAs) {
  if (action === 'video/animation' || !hasExtension(saveAs.key)) return;
  const number = (spec.Number as number | undefined) ?? 0;
  if (action === 'video/snapshots' && number !== 1) {
    throw errors.asyncProcess(
      `${SAVEAS} o "${saveAs.key}" has an extension, which names one object, but video/snapshots asks for ${number === 0 ? 'every frame (num unset)' : `${number} frames`}: set num_1, or drop the extension to get "${saveAs.key.replace(/\.[^./]+$/, '')}_1.jpg", "…_2.jpg", ….`,
    );
  }
  const perSheet = ((spec.TileWidth as number | undefined) ?? IMM_TILE_DEFAULT) * ((spec.TileHeight as number | undefined) ?? IMM_TILE_DEFAULT);
  // num unset (until the end) may fill any number of sheets: IMM refuses that without {index} too.
  if (action === 'video/sprite' && (number === 0 || number > perSheet)) {
    const asked = number === 0 ? 'num unset (until the end) may need' : `num_${number} needs`;
    throw errors.asyncProcess(
      `${SAVEAS} o "${saveAs.key}" has an extension, which names one sprite, but ${asked} more than one sheet of ${perSheet} tiles: set num (at most ${perSheet}), or drop the extension to get numbered sheets.`,
    );
  }
}

/** `{` and `}` are literal in an OSS key: escaped for the IMM URI template. */
const literal = (key: string) => key.replaceAll('{', '{{').replaceAll('}', '}}');

/**
 * The IMM target URI: `oss://<b or the source bucket>/<o>`, and for snapshots and sprites whose `o` has no
 * extension OSS's sequence suffix, `<o>_{index}.{autoext}` (1, 2, … and the format's extension).
 */
export function outputUri(process: AsyncProcess, sourceBucket: string): string {
  const bucket = process.saveAs.bucket ?? sourceBucket;
  const key = literal(process.saveAs.key);
  const numbered = process.action !== 'video/animation' && !hasExtension(process.saveAs.key);
  return `oss://${bucket}/${numbered ? `${key}_{index}.{autoext}` : key}`;
}

/**
 * The IMM project of a bucket's asynchronous tasks: the bucket's own name (OSS binds one IMM project to a
 * bucket), `oss-<bucket>` when the name starts with a digit, which an IMM project name may not (letters,
 * digits, '-' and '_', starting with a letter).
 */
export function asyncProjectName(bucket: string): string {
  return /^[a-z]/.test(bucket) ? bucket : `oss-${bucket}`;
}

/** The CreateMediaConvertTask parameters (JSON-body form) of an async process on `bucket/key`. */
export function convertTaskParams(process: AsyncProcess, source: { bucket: string; key: string }, projectName: string): ImmParams {
  const target = { Format: process.spec.Format, URI: outputUri(process, source.bucket), ...process.spec };
  const params: ImmParams = {
    ProjectName: projectName,
    Sources: [{ URI: `oss://${source.bucket}/${source.key}` }],
    Targets: [{ Image: { [IMM_TARGET_FIELD[process.action]]: [target] } }],
  };
  if (process.topic !== undefined) params.Notification = { MNS: { TopicName: process.topic } };
  return params;
}
