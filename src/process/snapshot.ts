// `x-oss-process=video/snapshot,…` → a typed, validated plan. Pure: no I/O, no config beyond the limits
// handed in. The canonical form (fixed key order, defaults spelled out) keys the result cache, so
// `t_1000,f_jpg` and `f_jpg,t_1000` are the same request.
//
// stillframe extensions (values OSS refuses, so no OSS-valid URL changes meaning; docs/url-api.md):
//  - `t_<percent>p` (`t_50p`, `t_12.5p`; 0–100, up to 3 decimals): that share of the video stream's
//    duration, resolved by the capture worker, which knows the duration;
//  - `m_best` / `m_best<ms>` (`m_best5000`): the best frame (not black, not flat, sharpest) in the
//    window [t, t + ms] (src/media/engine/best-frame.ts); the window defaults to 3000 ms.
import { errors, type SnapshotParamName } from '../errors.js';

export const IMAGE_FORMATS = ['jpg', 'png', 'webp', 'avif'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** `none` = no `ar` parameter: the frame as stored, like OSS. */
export type Orientation = 'none' | 'auto' | 'w' | 'h';

export interface SnapshotPlan {
  /** Capture time in ms from the video stream's first frame (0 when timePercent is set). */
  timeMs: number;
  /** Extension `t_<n>p`: the time is this share (0–100) of the video stream's duration; timeMs is unused. */
  timePercent?: number;
  /** 0 = derive from the other dimension (or source size when both are 0). */
  width: number;
  height: number;
  /** exact = the frame a player shows at timeMs; keyframe = the last keyframe at or before it. */
  seek: 'exact' | 'keyframe';
  /** Extension `m_best<ms>`: the best frame in [t, t + windowMs] (seek is then exact). */
  best?: { windowMs: number };
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
/** `t_<percent>p`: up to three digits before the point and three after it, at most 100. */
const PERCENT = /^(\d{1,3}(?:\.\d{1,3})?)p$/;
/** `m_best<ms>`: the window after t searched for the best frame (ms); bounds keep the decode bounded. */
export const BEST_WINDOW_MS = { default: 3000, min: 100, max: 10_000 } as const;
const BEST = /^best(\d{1,6})?$/;

function parseInteger(param: SnapshotParamName, raw: string, max: number): number {
  if (!/^\d{1,12}$/.test(raw) || Number(raw) > max) {
    throw errors.snapshotParam(param, max === MAX_TIME_MS ? 'integer >= 0' : `integer between 0 and ${max}`, raw);
  }
  return Number(raw);
}

/** `t`: OSS's integer ms, or the extension `<percent>p`. */
function parseTime(raw: string, plan: SnapshotPlan): void {
  if (!raw.endsWith('p')) {
    plan.timeMs = parseInteger('t', raw, MAX_TIME_MS);
    return;
  }
  const match = PERCENT.exec(raw);
  const percent = match ? Number(match[1]) : Number.NaN;
  if (!(percent >= 0 && percent <= 100)) throw errors.snapshotParam('t', 'integer >= 0, or a percentage of the duration between 0p and 100p', raw);
  plan.timeMs = 0;
  plan.timePercent = percent;
}

/** `m`: OSS's `fast`, or the extension `best` / `best<ms>`. */
function parseMode(raw: string, plan: SnapshotPlan): void {
  if (raw === 'fast') {
    plan.seek = 'keyframe';
    return;
  }
  const match = BEST.exec(raw);
  const windowMs = match ? (match[1] === undefined ? BEST_WINDOW_MS.default : Number(match[1])) : Number.NaN;
  if (!(windowMs >= BEST_WINDOW_MS.min && windowMs <= BEST_WINDOW_MS.max)) {
    throw errors.snapshotParam('m', `one of fast, best, best<ms> (ms between ${BEST_WINDOW_MS.min} and ${BEST_WINDOW_MS.max})`, raw);
  }
  plan.best = { windowMs };
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
        parseTime(value, plan);
        break;
      case 'w':
        plan.width = parseInteger('w', value, limits.maxOutputDimension);
        break;
      case 'h':
        plan.height = parseInteger('h', value, limits.maxOutputDimension);
        break;
      case 'm':
        parseMode(value, plan);
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

/**
 * The one spelling of a plan: same plan ⇔ same string. Used for cache keys and ETags. A percentage
 * stays a percentage (`t_12.5p`: the duration is not known here); `m_best` spells its window (`m_best3000`).
 */
export function canonicalSnapshot(plan: SnapshotPlan): string {
  const time = plan.timePercent === undefined ? `t_${plan.timeMs}` : `t_${plan.timePercent}p`;
  const parts = [ACTION, time, `w_${plan.width}`, `h_${plan.height}`, `f_${plan.format}`];
  if (plan.best) parts.push(`m_best${plan.best.windowMs}`);
  else if (plan.seek === 'keyframe') parts.push('m_fast');
  if (plan.orientation !== 'none') parts.push(`ar_${plan.orientation}`);
  return parts.join(',');
}
