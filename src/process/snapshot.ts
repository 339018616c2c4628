// `x-oss-process=video/snapshot,…` → a typed, validated plan. Pure: no I/O, no config beyond the limits
// handed in. The canonical form (fixed key order, defaults spelled out) keys the result cache, so
// `t_1000,f_jpg` and `f_jpg,t_1000` are the same request.
import { errors, type SnapshotParamName } from '../errors.js';

export const IMAGE_FORMATS = ['jpg', 'png', 'webp', 'avif'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** `none` = no `ar` parameter: the frame as stored, like OSS. */
export type Orientation = 'none' | 'auto' | 'w' | 'h';

export interface SnapshotPlan {
  /** Capture time in ms from the video stream's first frame. */
  timeMs: number;
  /** 0 = derive from the other dimension (or source size when both are 0). */
  width: number;
  height: number;
  /** exact = the frame a player shows at timeMs; keyframe = the last keyframe at or before it. */
  seek: 'exact' | 'keyframe';
  format: ImageFormat;
  orientation: Orientation;
}

export interface SnapshotLimits {
  /** Largest w or h accepted. */
  maxOutputDimension: number;
}

const ACTION = 'video/snapshot';
// Long enough for any real parameter, short enough that a hostile string is rejected before work.
const MAX_PROCESS_LENGTH = 256;
// t above this (about 115 days) is not a real capture time; it also keeps the value a safe integer.
const MAX_TIME_MS = 10_000_000_000;

function parseInteger(param: SnapshotParamName, raw: string, max: number): number {
  if (!/^\d{1,12}$/.test(raw) || Number(raw) > max) {
    throw errors.snapshotParam(param, max === MAX_TIME_MS ? 'integer >= 0' : `integer between 0 and ${max}`, raw);
  }
  return Number(raw);
}

function oneOf<T extends string>(param: SnapshotParamName, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) {
    throw errors.snapshotParam(param, `one of ${allowed.join(', ')}`, raw);
  }
  return raw as T;
}

export function parseSnapshotProcess(process: string, limits: SnapshotLimits): SnapshotPlan {
  if (process.length > MAX_PROCESS_LENGTH) {
    throw errors.malformedProcess(`x-oss-process is longer than ${MAX_PROCESS_LENGTH} characters.`);
  }
  const [action, ...pairs] = process.split(',');
  if (action !== ACTION) {
    throw errors.malformedProcess(`Unsupported x-oss-process action "${action ?? ''}": only ${ACTION} is supported.`);
  }
  const plan: SnapshotPlan = { timeMs: 0, width: 0, height: 0, seek: 'exact', format: 'jpg', orientation: 'none' };
  const seen = new Set<string>();
  for (const pair of pairs) {
    const sep = pair.indexOf('_');
    if (sep <= 0) throw errors.malformedProcess(`Malformed parameter "${pair}" in x-oss-process: expected name_value.`);
    const name = pair.slice(0, sep);
    const value = pair.slice(sep + 1);
    if (seen.has(name)) throw errors.malformedProcess(`Parameter "${name}" appears more than once in x-oss-process.`);
    seen.add(name);
    switch (name) {
      case 't':
        plan.timeMs = parseInteger('t', value, MAX_TIME_MS);
        break;
      case 'w':
        plan.width = parseInteger('w', value, limits.maxOutputDimension);
        break;
      case 'h':
        plan.height = parseInteger('h', value, limits.maxOutputDimension);
        break;
      case 'm':
        oneOf('m', value, ['fast']);
        plan.seek = 'keyframe';
        break;
      case 'f':
        plan.format = oneOf('f', value, IMAGE_FORMATS);
        break;
      case 'ar':
        plan.orientation = oneOf('ar', value, ['auto', 'w', 'h'] as const);
        break;
      default:
        throw errors.malformedProcess(`Unknown parameter "${name}" in ${ACTION}: expected t, w, h, m, f or ar.`);
    }
  }
  return plan;
}

/** The one spelling of a plan: same plan ⇔ same string. Used for cache keys and ETags. */
export function canonicalSnapshot(plan: SnapshotPlan): string {
  const parts = [ACTION, `t_${plan.timeMs}`, `w_${plan.width}`, `h_${plan.height}`, `f_${plan.format}`];
  if (plan.seek === 'keyframe') parts.push('m_fast');
  if (plan.orientation !== 'none') parts.push(`ar_${plan.orientation}`);
  return parts.join(',');
}
