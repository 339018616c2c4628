// IMM RPC parameters → typed, validated requests. Pure: no I/O. Everything a request can get wrong is
// found here, before a task is accepted, with a message that names the field by its full path
// (`Targets[0].Image.Snapshots[0].Width`). Object parameters arrive as JSON strings (RPC) or as
// objects (the JSON-body convenience); both are accepted.
import { errors } from '../errors.js';
import type { ScaleType } from '../image/geometry.js';
import { MAX_ANIMATION_FRAMES, maxSheetSide, sheetSize, type AnimationFormat, type SheetFormat } from '../image/sheets.js';
import { validateBucket, validateKey } from '../source/store.js';
import {
  outputObject,
  parseOssUri,
  parseTemplate,
  renderTemplate,
  sourceVariables,
  tagVariables,
  timeVariables,
  type Template,
} from './imm-template.js';

export type Params = Record<string, unknown>;

export const SNAPSHOT_MODES = ['interval', 'average', 'keyframe', 'dhash'] as const;
export type SnapshotMode = (typeof SNAPSHOT_MODES)[number];
export const TASK_FORMATS = ['jpg', 'png', 'webp'] as const;
export type TaskFormat = (typeof TASK_FORMATS)[number];
export const SCALE_TYPES = ['stretch', 'crop', 'fill', 'fit'] as const satisfies readonly ScaleType[];
export const TASK_STATUSES = ['Running', 'Succeeded', 'Failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const SPRITE_FORMATS = ['jpg', 'png', 'webp'] as const satisfies readonly SheetFormat[];
export const ANIMATION_FORMATS = ['gif', 'webp'] as const satisfies readonly AnimationFormat[];

export type Dimension = { pixels: number } | { fraction: number };

/**
 * Which frames of a source a spec wants: snapshots and sprites share all of it (src/tasks/frame-plan.ts);
 * animations use the interval mode.
 */
export interface FrameSelection {
  /** Path of the object in the request, for messages: Targets[0].Image.Snapshots[0]. */
  field: string;
  /** Seconds from the start of the (clipped) source. */
  startTime: number;
  /** Seconds between captures (interval and dhash modes). */
  interval: number;
  /** Frames wanted; 0 = until the end. */
  number: number;
  mode: SnapshotMode;
  threshold: number | undefined;
}

/** What every output spec has: the frames, their size, and the object(s) written. */
interface OutputSpecBase extends FrameSelection {
  uri: Template;
  width: Dimension | undefined;
  height: Dimension | undefined;
  scaleType: ScaleType;
}

/** One image per frame (Image.Snapshots[]). */
export interface SnapshotSpec extends OutputSpecBase {
  kind: 'snapshot';
  format: TaskFormat;
}

/** Frames as tiles of sprite sheets, TileWidth × TileHeight a sheet (Image.Sprites[]; width/height: ScaleWidth/ScaleHeight). */
export interface SpriteSpec extends OutputSpecBase {
  kind: 'sprite';
  format: SheetFormat;
  /** Tiles per row (TileWidth) and per column (TileHeight). */
  columns: number;
  rows: number;
  pad: number;
  margin: number;
}

/** Frames as one animated image (Image.Animations[]); mode is always interval. */
export interface AnimationSpec extends OutputSpecBase {
  kind: 'animation';
  format: AnimationFormat;
  /** Output frames a second; undefined = 1 / Interval (real time). */
  frameRate: number | undefined;
}

export type OutputSpec = SnapshotSpec | SpriteSpec | AnimationSpec;

export interface TaskSource {
  field: string;
  uri: string;
  bucket: string;
  key: string;
  /** Clip start, seconds. */
  startTime: number;
  /** Clip length, seconds; 0 = to the end. */
  duration: number;
}

export interface ConvertTaskRequest {
  projectName: string;
  sources: TaskSource[];
  snapshots: SnapshotSpec[];
  sprites: SpriteSpec[];
  animations: AnimationSpec[];
  /** MNS or RocketMQ topic to notify on completion. */
  topic: string | undefined;
  userData: string | undefined;
  tags: Record<string, string>;
  /** The task's creation time: its {t_*} template variables, and the time its names were checked at. */
  createdAt: Date;
  /**
   * The request as given (objects parsed), echoed by GetTask's TaskRequestDefinition: what a task
   * stores to run again, through this parser (src/tasks/records.ts, acceptedRequest).
   */
  definition: Record<string, unknown>;
}

export interface RequestLimits {
  maxOutputDimension: number;
  maxFramesPerTask: number;
}

const MAX_SOURCES = 10;
const MAX_TARGETS = 10;
const MAX_SNAPSHOTS = 10;
const MAX_SPRITES = 10;
const MAX_ANIMATIONS = 10;
const MAX_TAGS = 20;
const MAX_USER_DATA = 2048;
const MAX_SECONDS = 12 * 3600 * 10;

const show = (value: unknown) => {
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** sharp-style: `Expected integer between 1 and 4096 for X but received 0.` */
export function badValue(field: string, expected: string, received: unknown) {
  return errors.invalidArgument(`Expected ${expected} for ${field} but received ${show(received)}.`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object/array parameter: a JSON string (RPC) or the value itself (JSON body). */
export function jsonParam(params: Params, name: string): unknown {
  const raw = params[name];
  if (typeof raw !== 'string') return raw;
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw errors.invalidArgument(`${name} must be a JSON string: ${(err as Error).message}.`);
  }
}

function text(value: unknown, field: string, options: { required?: boolean; max?: number } = {}): string | undefined {
  if (value === undefined || value === null || value === '') {
    if (options.required) throw errors.missingParam(field);
    return undefined;
  }
  if (typeof value !== 'string') throw badValue(field, 'a string', value);
  if (options.max !== undefined && value.length > options.max) throw badValue(field, `a string of at most ${options.max} characters`, value);
  return value;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(value)) return Number(value);
  return undefined;
}

function number(value: unknown, field: string, min: number, max: number, options: { integer?: boolean; minExclusive?: boolean } = {}): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = toNumber(value);
  const kind = options.integer ? 'integer' : 'number';
  const range = options.minExclusive ? `> ${min} and <= ${max}` : `between ${min} and ${max}`;
  if (n === undefined || !Number.isFinite(n) || (options.integer && !Number.isInteger(n)) || n > max || (options.minExclusive ? n <= min : n < min)) {
    throw badValue(field, `${kind} ${range}`, value);
  }
  return n;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw badValue(field, `one of ${allowed.join(', ')}`, value);
  return value as T;
}

function onlyKeys(value: Record<string, unknown>, field: string, allowed: readonly string[]) {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw errors.invalidArgument(`${field} has unknown field "${key}": expected ${allowed.join(', ')}.`);
  }
}

function dimension(value: unknown, field: string, maxPixels: number): Dimension | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = toNumber(value);
  if (n !== undefined && Number.isInteger(n) && n >= 1 && n <= maxPixels) return { pixels: n };
  if (n !== undefined && n > 0 && n < 1) return { fraction: n };
  throw badValue(field, `integer between 1 and ${maxPixels} (pixels) or a decimal in (0, 1) (fraction of the source)`, value);
}

// IMM: letters, digits, '-' and '_', starting with a letter, at most 128 characters.
const PROJECT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/;

export function projectName(params: Params): string {
  const name = text(params.ProjectName, 'ProjectName', { required: true })!;
  if (!PROJECT_NAME.test(name)) {
    throw badValue('ProjectName', 'a name of letters, digits, "-" and "_" that starts with a letter (at most 128 characters)', name);
  }
  return name;
}

export function parseTags(params: Params, name = 'Tags'): Record<string, string> {
  const raw = jsonParam(params, name);
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) throw badValue(name, 'a JSON object of string values', raw);
  const entries = Object.entries(raw);
  if (entries.length > MAX_TAGS) throw errors.immLimitExceeded(`${name} has ${entries.length} entries, above the limit of ${MAX_TAGS}.`);
  const tags: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw badValue(`${name}.${k}`, 'a string', v);
    tags[k] = String(v);
  }
  return tags;
}

export interface CreateProjectRequest {
  projectName: string;
  description: string | undefined;
  serviceRole: string | undefined;
  templateId: string | undefined;
  tags: Record<string, string>;
}

export function parseCreateProject(params: Params): CreateProjectRequest {
  return {
    projectName: projectName(params),
    description: text(params.Description, 'Description', { max: 256 }),
    serviceRole: text(params.ServiceRole, 'ServiceRole', { max: 128 }),
    templateId: text(params.TemplateId, 'TemplateId', { max: 128 }),
    tags: parseTags(params),
  };
}

export interface ListRequest {
  maxResults: number;
  nextToken: string | undefined;
}

function listParams(params: Params): ListRequest {
  return {
    maxResults: number(params.MaxResults, 'MaxResults', 0, 100, { integer: true }) || 100,
    nextToken: text(params.NextToken, 'NextToken', { max: 512 }),
  };
}

export function parseListProjects(params: Params): ListRequest & { prefix: string | undefined } {
  return { ...listParams(params), prefix: text(params.Prefix, 'Prefix', { max: 128 }) };
}

export interface GetTaskRequest {
  projectName: string;
  taskId: string;
  taskType: 'MediaConvert';
  requestDefinition: boolean;
}

function booleanParam(value: unknown, field: string): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (value === true || value === 'true' || value === 'True') return true;
  if (value === false || value === 'false' || value === 'False') return false;
  throw badValue(field, 'true or false', value);
}

export function parseGetTask(params: Params): GetTaskRequest {
  const project = projectName(params);
  const taskId = text(params.TaskId, 'TaskId', { required: true, max: 128 })!;
  const taskType = text(params.TaskType, 'TaskType', { required: true })!;
  if (taskType !== 'MediaConvert') throw badValue('TaskType', 'MediaConvert (the only task type this server runs)', taskType);
  return { projectName: project, taskId, taskType, requestDefinition: booleanParam(params.RequestDefinition, 'RequestDefinition') };
}

export interface ListTasksRequest extends ListRequest {
  projectName: string;
  taskTypes: string[] | undefined;
  status: TaskStatus | undefined;
  sort: 'CreateTime' | 'StartTime' | 'EndTime';
  order: 'asc' | 'desc';
  tagSelector: Record<string, string>;
  requestDefinition: boolean;
}

/** A string list: JSON array string, comma-separated, or pop-core's flattened `Name.1`, `Name.2`. */
function stringList(params: Params, name: string): string[] | undefined {
  const flattened = Object.keys(params)
    .filter((k) => k.startsWith(`${name}.`))
    .sort((a, b) => Number(a.slice(name.length + 1)) - Number(b.slice(name.length + 1)))
    .map((k) => String(params[k]));
  if (flattened.length) return flattened;
  const raw = params[name];
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (Array.isArray(raw)) return raw.map(String);
  if (typeof raw === 'string') {
    if (raw.trim().startsWith('[')) {
      const parsed = jsonParam(params, name);
      if (!Array.isArray(parsed)) throw badValue(name, 'a JSON array of strings', raw);
      return parsed.map(String);
    }
    return raw.split(',').map((s) => s.trim()).filter(Boolean);
  }
  throw badValue(name, 'a list of strings', raw);
}

export function parseListTasks(params: Params): ListTasksRequest {
  const tagSelector: Record<string, string> = {};
  const selector = text(params.TagSelector, 'TagSelector', { max: 1024 });
  for (const pair of (selector ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw badValue('TagSelector', 'key=value pairs separated by commas', selector);
    tagSelector[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return {
    projectName: projectName(params),
    ...listParams(params),
    taskTypes: stringList(params, 'TaskTypes'),
    status: oneOf(params.Status, 'Status', TASK_STATUSES),
    sort: oneOf(params.Sort, 'Sort', ['CreateTime', 'StartTime', 'EndTime'] as const) ?? 'CreateTime',
    order: (oneOf(params.Order, 'Order', ['asc', 'desc', 'ASC', 'DESC'] as const)?.toLowerCase() as 'asc' | 'desc' | undefined) ?? 'desc',
    tagSelector,
    requestDefinition: booleanParam(params.RequestDefinition, 'RequestDefinition'),
  };
}

function arrayOf(value: unknown, field: string, max: number): unknown[] {
  if (value === undefined || value === null) throw errors.missingParam(field);
  if (!Array.isArray(value)) throw badValue(field, 'a JSON array', value);
  if (value.length === 0) throw errors.missingParam(`${field}[0]`);
  if (value.length > max) throw errors.immLimitExceeded(`${field} has ${value.length} entries, above the limit of ${max}.`);
  return value;
}

function parseSource(value: unknown, field: string): TaskSource {
  if (!isObject(value)) throw badValue(field, 'an object', value);
  onlyKeys(value, field, ['URI', 'StartTime', 'Duration']);
  const uri = text(value.URI, `${field}.URI`, { required: true, max: 2048 })!;
  const parsed = parseOssUri(uri);
  if (!parsed) throw badValue(`${field}.URI`, 'oss://bucket/key', uri);
  try {
    validateBucket(parsed.bucket);
    validateKey(parsed.key);
  } catch (err) {
    throw errors.invalidArgument(`${field}.URI: ${(err as Error).message}`);
  }
  return {
    field,
    uri,
    ...parsed,
    startTime: number(value.StartTime, `${field}.StartTime`, 0, MAX_SECONDS) ?? 0,
    duration: number(value.Duration, `${field}.Duration`, 0, MAX_SECONDS) ?? 0,
  };
}

const SNAPSHOT_FIELDS = ['Format', 'URI', 'StartTime', 'Interval', 'Number', 'Mode', 'Threshold', 'Width', 'Height', 'ScaleType'];
const SPRITE_FIELDS = ['Format', 'URI', 'StartTime', 'Interval', 'Number', 'Mode', 'Threshold', 'ScaleType', 'ScaleWidth', 'ScaleHeight', 'TileWidth', 'TileHeight', 'Pad', 'Margin'];
const ANIMATION_FIELDS = ['Format', 'URI', 'StartTime', 'Interval', 'Number', 'FrameRate', 'Width', 'Height', 'ScaleType'];

/** The output URI: oss://…, template variables checked. */
function outputTemplate(value: Record<string, unknown>, field: string, tags: Record<string, string>): Template {
  const uriText = text(value.URI, `${field}.URI`, { required: true, max: 2048 })!;
  if (!uriText.startsWith('oss://')) throw badValue(`${field}.URI`, 'oss://bucket/key (template variables allowed)', uriText);
  return parseTemplate(uriText, `${field}.URI`, tags);
}

/** StartTime, Interval, Number, Mode and Threshold: which frames a snapshot or sprite spec wants (Mode absent: interval only). */
function parseSelection(value: Record<string, unknown>, field: string, limits: RequestLimits, withMode: boolean): FrameSelection {
  const mode = withMode ? (oneOf(value.Mode, `${field}.Mode`, SNAPSHOT_MODES) ?? 'interval') : 'interval';
  const frames = number(value.Number, `${field}.Number`, 0, 1_000_000, { integer: true }) ?? 0;
  const interval = number(value.Interval, `${field}.Interval`, 0, MAX_SECONDS, { minExclusive: true });
  const threshold = withMode ? number(value.Threshold, `${field}.Threshold`, 0, 100) : undefined;
  if (threshold !== undefined && mode !== 'dhash') {
    throw errors.invalidArgument(`${field}.Threshold applies to Mode dhash only (Mode is ${mode}).`);
  }
  if (mode === 'average' && frames === 0) {
    throw errors.invalidArgument(`${field}.Number is required (integer >= 1) with Mode average: the frames to spread over the video.`);
  }
  if (mode === 'dhash' && threshold === undefined && frames === 0) {
    throw errors.invalidArgument(`${field}: Mode dhash needs Threshold (0-100) or Number (>= 1) to choose frames.`);
  }
  if (frames > limits.maxFramesPerTask) {
    throw errors.immLimitExceeded(`${field}.Number is ${frames}, above the limit of ${limits.maxFramesPerTask} frames per task.`);
  }
  return {
    field,
    startTime: number(value.StartTime, `${field}.StartTime`, 0, MAX_SECONDS) ?? 0,
    interval: interval ?? 1,
    number: frames,
    mode,
    threshold,
  };
}

function parseSnapshot(value: unknown, field: string, limits: RequestLimits, tags: Record<string, string>): SnapshotSpec {
  if (!isObject(value)) throw badValue(field, 'an object', value);
  onlyKeys(value, field, SNAPSHOT_FIELDS);
  const format = oneOf(value.Format, `${field}.Format`, TASK_FORMATS);
  if (!format) throw errors.missingParam(`${field}.Format`);
  const uri = outputTemplate(value, field, tags);
  const selection = parseSelection(value, field, limits, true);
  const frames = selection.number;
  if (frames !== 1 && !uri.variables.has('index')) {
    throw errors.invalidArgument(
      `${field}.URI must contain {index}: this snapshot can produce several frames (Number is ${frames === 0 ? '0 = until the end' : frames}), which would overwrite each other.`,
    );
  }
  return {
    kind: 'snapshot',
    ...selection,
    format,
    uri,
    width: dimension(value.Width, `${field}.Width`, limits.maxOutputDimension),
    height: dimension(value.Height, `${field}.Height`, limits.maxOutputDimension),
    scaleType: oneOf(value.ScaleType, `${field}.ScaleType`, SCALE_TYPES) ?? 'stretch',
  };
}

/** IMM ScaleWidth/ScaleHeight: an integer > 1 is pixels, a decimal in (0, 1] a fraction of the source (1 = its size). */
function scaleDimension(value: unknown, field: string, maxPixels: number): Dimension | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = toNumber(value);
  if (n !== undefined && Number.isInteger(n) && n > 1 && n <= maxPixels) return { pixels: n };
  if (n !== undefined && n > 0 && n <= 1) return { fraction: n };
  throw badValue(field, `integer between 2 and ${maxPixels} (pixels) or a decimal in (0, 1] (fraction of the source)`, value);
}

/** Most tiles a row or a column of a sprite sheet holds, and most pixels of Pad or Margin. */
const MAX_TILES_A_SIDE = 100;
const MAX_SPACING = 256;

function parseSprite(value: unknown, field: string, limits: RequestLimits, tags: Record<string, string>): SpriteSpec {
  if (!isObject(value)) throw badValue(field, 'an object', value);
  onlyKeys(value, field, SPRITE_FIELDS);
  const format = oneOf(value.Format, `${field}.Format`, SPRITE_FORMATS);
  if (!format) throw errors.missingParam(`${field}.Format`);
  const uri = outputTemplate(value, field, tags);
  const selection = parseSelection(value, field, limits, true);
  const spec: SpriteSpec = {
    kind: 'sprite',
    ...selection,
    format,
    uri,
    width: scaleDimension(value.ScaleWidth, `${field}.ScaleWidth`, limits.maxOutputDimension),
    height: scaleDimension(value.ScaleHeight, `${field}.ScaleHeight`, limits.maxOutputDimension),
    scaleType: oneOf(value.ScaleType, `${field}.ScaleType`, SCALE_TYPES) ?? 'stretch',
    columns: number(value.TileWidth, `${field}.TileWidth`, 1, MAX_TILES_A_SIDE, { integer: true }) ?? 6,
    rows: number(value.TileHeight, `${field}.TileHeight`, 1, MAX_TILES_A_SIDE, { integer: true }) ?? 6,
    pad: number(value.Pad, `${field}.Pad`, 0, MAX_SPACING, { integer: true }) ?? 2,
    margin: number(value.Margin, `${field}.Margin`, 0, MAX_SPACING, { integer: true }) ?? 2,
  };
  const perSheet = spec.columns * spec.rows;
  // Number 0 (until the end) and dhash with a Threshold may fill any number of sheets.
  const sheets = spec.number === 0 ? Infinity : Math.ceil(spec.number / perSheet);
  if (sheets > 1 && !uri.variables.has('index')) {
    throw errors.invalidArgument(
      `${field}.URI must contain {index}: this sprite can fill several sheets of TileWidth x TileHeight = ${perSheet} tiles (Number is ${spec.number === 0 ? '0 = until the end' : spec.number}), which would overwrite each other.`,
    );
  }
  // Tile sizes given in pixels fix the sheet's size now; fractions wait for the source.
  const tiles = spec.number === 0 ? perSheet : Math.min(perSheet, spec.number);
  const tileWidth = spec.width && 'pixels' in spec.width ? spec.width.pixels : 1;
  const tileHeight = spec.height && 'pixels' in spec.height ? spec.height.pixels : 1;
  const size = sheetSize({ columns: spec.columns, rows: spec.rows, tileWidth, tileHeight, pad: spec.pad, margin: spec.margin }, tiles);
  const max = maxSheetSide(format);
  if (size.width > max || size.height > max) {
    const side = size.width > max ? `${size.width} px wide` : `${size.height} px high`;
    throw errors.invalidArgument(
      `${field}: a sheet of these tiles would be ${side}, above the ${format} limit of ${max} px a side: lower TileWidth/TileHeight, ScaleWidth/ScaleHeight, Pad or Margin.`,
    );
  }
  return spec;
}

function parseAnimation(value: unknown, field: string, limits: RequestLimits, tags: Record<string, string>): AnimationSpec {
  if (!isObject(value)) throw badValue(field, 'an object', value);
  onlyKeys(value, field, ANIMATION_FIELDS);
  const format = oneOf(value.Format, `${field}.Format`, ANIMATION_FORMATS);
  if (!format) throw errors.missingParam(`${field}.Format`);
  const uri = outputTemplate(value, field, tags);
  number(value.Number, `${field}.Number`, 0, MAX_ANIMATION_FRAMES, { integer: true });
  return {
    kind: 'animation',
    ...parseSelection(value, field, limits, false),
    format,
    uri,
    frameRate: number(value.FrameRate, `${field}.FrameRate`, 0, 60, { minExclusive: true }),
    width: dimension(value.Width, `${field}.Width`, limits.maxOutputDimension),
    height: dimension(value.Height, `${field}.Height`, limits.maxOutputDimension),
    scaleType: oneOf(value.ScaleType, `${field}.ScaleType`, SCALE_TYPES) ?? 'stretch',
  };
}

interface ParsedTargets {
  snapshots: SnapshotSpec[];
  sprites: SpriteSpec[];
  animations: AnimationSpec[];
}

const IMAGE_KINDS = ['Snapshots', 'Sprites', 'Animations'] as const;

function parseTargets(value: unknown, limits: RequestLimits, tags: Record<string, string>): ParsedTargets {
  const targets = arrayOf(value, 'Targets', MAX_TARGETS);
  const parsed: ParsedTargets = { snapshots: [], sprites: [], animations: [] };
  targets.forEach((target, t) => {
    const field = `Targets[${t}]`;
    if (!isObject(target)) throw badValue(field, 'an object', target);
    for (const key of Object.keys(target)) {
      if (key === 'Image') continue;
      if (['Container', 'URI', 'Video', 'Audio', 'Subtitle', 'Speed', 'SegmentConfig', 'StripMetadata'].includes(key)) {
        throw errors.invalidArgument(`${field}.${key}: transcoding targets are not supported; a frame-capture target has only Image (Snapshots, Sprites, Animations).`);
      }
      throw errors.invalidArgument(`${field} has unknown field "${key}": expected Image.`);
    }
    const image = target.Image;
    if (!isObject(image)) throw errors.missingParam(`${field}.Image`);
    for (const key of Object.keys(image)) {
      if (!(IMAGE_KINDS as readonly string[]).includes(key)) throw errors.invalidArgument(`${field}.Image.${key} is not supported: expected ${IMAGE_KINDS.join(', ')}.`);
    }
    // At least one kind; each one given must be a non-empty array.
    if (IMAGE_KINDS.every((kind) => image[kind] === undefined || image[kind] === null)) throw errors.missingParam(`${field}.Image.Snapshots`);
    const each = (kind: (typeof IMAGE_KINDS)[number], max: number, parse: (value: unknown, field: string) => void) => {
      if (image[kind] === undefined || image[kind] === null) return;
      for (const [i, spec] of arrayOf(image[kind], `${field}.Image.${kind}`, max).entries()) parse(spec, `${field}.Image.${kind}[${i}]`);
    };
    each('Snapshots', MAX_SNAPSHOTS, (spec, f) => {
      parsed.snapshots.push(parseSnapshot(spec, f, limits, tags));
    });
    each('Sprites', MAX_SPRITES, (spec, f) => {
      parsed.sprites.push(parseSprite(spec, f, limits, tags));
    });
    each('Animations', MAX_ANIMATIONS, (spec, f) => {
      parsed.animations.push(parseAnimation(spec, f, limits, tags));
    });
  });
  return parsed;
}

/** Every output spec of a request: snapshots, then sprites, then animations (the order they run in). */
export function outputSpecs(request: Pick<ConvertTaskRequest, 'snapshots' | 'sprites' | 'animations'>): OutputSpec[] {
  return [...request.snapshots, ...request.sprites, ...request.animations];
}

function parseNotification(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw badValue('Notification', 'a JSON object', raw);
  for (const kind of ['MNS', 'RocketMQ'] as const) {
    const entry = raw[kind];
    if (entry === undefined) continue;
    if (!isObject(entry)) throw badValue(`Notification.${kind}`, 'an object', entry);
    return text(entry.TopicName, `Notification.${kind}.TopicName`, { required: true, max: 256 });
  }
  return undefined;
}

/**
 * The output object of one frame. `index` is 1-based; `createdAt` gives the {t_*} variables and
 * `sourceModified` the {year}… ones.
 */
export function outputUri(
  spec: Pick<OutputSpec, 'field' | 'uri' | 'format'>,
  source: Pick<TaskSource, 'bucket' | 'key'>,
  context: { index: number; createdAt: Date; sourceModified: Date; tags: Record<string, string> },
): { bucket: string; key: string; uri: string } {
  const rendered = renderTemplate(spec.uri, {
    ...sourceVariables(source.bucket, source.key),
    ...timeVariables('', context.sourceModified),
    ...timeVariables('t_', context.createdAt),
    ...tagVariables(context.tags),
    index: String(context.index),
    autoext: spec.format,
  });
  const object = outputObject(rendered);
  if (!object) throw errors.invalidArgument(`${spec.field}.URI renders to "${rendered}", which is not oss://bucket/key.`);
  try {
    validateBucket(object.bucket);
    validateKey(object.key);
  } catch (err) {
    throw errors.invalidArgument(`${spec.field}.URI renders to "${rendered}": ${(err as Error).message}`);
  }
  return { ...object, uri: `oss://${object.bucket}/${object.key}` };
}

export function parseConvertTask(params: Params, limits: RequestLimits, createdAt: Date): ConvertTaskRequest {
  const project = projectName(params);
  const tags = parseTags(params);
  // Each JSON parameter is decoded once: the values validated are the values stored in the definition.
  const sourcesJson = jsonParam(params, 'Sources');
  const sources = arrayOf(sourcesJson, 'Sources', MAX_SOURCES).map((s, i) => parseSource(s, `Sources[${i}]`));
  const targetsJson = jsonParam(params, 'Targets');
  const { snapshots, sprites, animations } = parseTargets(targetsJson, limits, tags);
  const specs = outputSpecs({ snapshots, sprites, animations });
  const notification = jsonParam(params, 'Notification');
  const topic = parseNotification(notification);
  const userData = text(params.UserData, 'UserData', { max: MAX_USER_DATA });

  // Known frame counts must fit the per-task cap now; open-ended ones (Number 0) are checked once the
  // media is probed, still before anything is written.
  // Sprite tiles and animation frames count like snapshots.
  const known = specs.reduce((sum, s) => sum + s.number, 0) * sources.length;
  if (specs.every((s) => s.number > 0) && known > limits.maxFramesPerTask) {
    throw errors.immLimitExceeded(`The task asks for ${known} frames, above the limit of ${limits.maxFramesPerTask} frames per task.`);
  }

  // Render every output name with a marker for {index}: each (source, snapshot) pair must own its
  // names, and no output may overwrite a source.
  const owners = new Map<string, string>();
  const sourceUris = new Set(sources.map((s) => `oss://${s.bucket}/${s.key}`));
  for (const source of sources) {
    for (const spec of specs) {
      const context = { createdAt, sourceModified: createdAt, tags };
      const first = outputUri(spec, source, { ...context, index: 1 });
      const pattern = renderTemplate(spec.uri, {
        ...sourceVariables(source.bucket, source.key),
        ...tagVariables(tags),
        index: '\u0000',
        autoext: spec.format,
      });
      const owner = `${spec.field} of ${source.field}`;
      const other = owners.get(pattern);
      if (other) throw errors.invalidArgument(`${owner} and ${other} would write the same objects (${first.uri}, …): give their URIs different names.`);
      owners.set(pattern, owner);
      if (sourceUris.has(first.uri)) throw errors.invalidArgument(`${spec.field}.URI would overwrite the source ${first.uri}.`);
    }
  }

  const definition: Record<string, unknown> = { ProjectName: project, Sources: sourcesJson, Targets: targetsJson };
  if (notification !== undefined) definition.Notification = notification;
  if (userData !== undefined) definition.UserData = userData;
  if (Object.keys(tags).length) definition.Tags = tags;
  return { projectName: project, sources, snapshots, sprites, animations, topic, userData, tags, createdAt, definition };
}
