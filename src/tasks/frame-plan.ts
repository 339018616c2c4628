// Which frames a spec asks for, as pure arithmetic over the source's frame list: sample times for
// interval/average/dhash, the key frames for keyframe mode, clipped to the source's range. Snapshots,
// sprite tiles and animation frames are all chosen here (a FrameSelection).
import { errors } from '../errors.js';
import type { FrameIndex } from '../media/protocol.js';
import type { FrameSelection, TaskSource } from '../process/imm-request.js';

// The index's timestamps are exact (from the file); this absorbs float arithmetic on sample times only.
const EPSILON = 2e-6;

/** Index of the frame shown at `pts`: the last one presented at or before it (the first if none). */
export function frameAtOrBefore(index: FrameIndex, pts: number): number {
  let lo = 0;
  let hi = index.pts.length - 1;
  if (hi < 0) return -1;
  if (index.pts[0]! > pts + EPSILON) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (index.pts[mid]! <= pts + EPSILON) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Index of the keyframe decoding of frame `i` starts from. */
export function keyframeOf(index: FrameIndex, i: number): number {
  for (let k = i; k >= 0; k--) if (index.key[k]) return k;
  return 0;
}

/** A time range in media seconds (0 = the video stream's first frame), end exclusive. */
export interface Clip {
  start: number;
  end: number;
}

/** What sampling reads of a frame selection (the on-the-fly previews build one from their URL). */
export type SamplingSpec = Pick<FrameSelection, 'field' | 'startTime' | 'interval' | 'number' | 'mode'>;

// Sample times are compared with this slack so that 3 × 0.1 s is not "after" 0.3 s.
const SLACK = 1e-6;

/** The source's clip: [StartTime, StartTime + Duration) within [0, videoEnd). */
export function clipOf(source: TaskSource, videoEnd: number): Clip {
  const end = source.duration > 0 ? Math.min(videoEnd, source.startTime + source.duration) : videoEnd;
  if (source.startTime >= videoEnd - SLACK) {
    throw errors.invalidArgument(`${source.field}.StartTime ${source.startTime} s is at or past the end of the video (${videoEnd.toFixed(3)} s).`);
  }
  return { start: source.startTime, end };
}

/** Where a spec starts in the clip (media seconds), or a 400 when that is at or past its end — any mode. */
function specStart(spec: SamplingSpec, clip: Clip): number {
  const start = clip.start + spec.startTime;
  if (start >= clip.end - SLACK) {
    throw errors.invalidArgument(
      `${spec.field}.StartTime ${spec.startTime} s is at or past the end of the ${clip.start > 0 ? 'clipped ' : ''}video (${(clip.end - clip.start).toFixed(3)} s).`,
    );
  }
  return start;
}

/** Capture times (media seconds) of an interval, average or dhash spec. */
export function sampleTimes(spec: SamplingSpec, clip: Clip): number[] {
  const start = specStart(spec, clip);
  if (spec.mode === 'average') {
    const step = (clip.end - start) / spec.number;
    return Array.from({ length: spec.number }, (_, k) => start + k * step);
  }
  const times: number[] = [];
  // dhash samples the whole range: its Number is how many of the samples to keep.
  const limit = spec.number > 0 && spec.mode !== 'dhash' ? spec.number : Infinity;
  // Multiply rather than accumulate: no drift over thousands of steps.
  for (let k = 0; k < limit; k++) {
    const t = start + k * spec.interval;
    if (t >= clip.end - SLACK) break;
    times.push(t);
  }
  return times;
}

/** Frame indices of the key frames in the clip from the spec's StartTime, at most Number (0 = all). */
export function keyframesIn(index: FrameIndex, streamStart: number, spec: SamplingSpec, clip: Clip): number[] {
  return framesFrom(index, streamStart, spec, clip, true);
}

/**
 * An interval shorter than one frame of the video (OSS's `inter_0`, "every frame", included) is clamped
 * to the frame interval, as OSS documents: each frame once (everyFrameIn), never the same frame twice.
 */
export function samplesEveryFrame(spec: SamplingSpec, frameDuration: number): boolean {
  return spec.mode === 'interval' && (spec.interval <= 0 || spec.interval < frameDuration - SLACK);
}

/** Frame indices of every frame in the clip from the spec's StartTime, at most Number (0 = all). */
export function everyFrameIn(index: FrameIndex, streamStart: number, spec: SamplingSpec, clip: Clip): number[] {
  return framesFrom(index, streamStart, spec, clip, false);
}

function framesFrom(index: FrameIndex, streamStart: number, spec: SamplingSpec, clip: Clip, keyframesOnly: boolean): number[] {
  const from = streamStart + specStart(spec, clip) - SLACK;
  const to = streamStart + clip.end - SLACK;
  const found: number[] = [];
  for (let i = 0; i < index.pts.length; i++) {
    const pts = index.pts[i]!;
    if (pts >= to) break;
    if ((!keyframesOnly || index.key[i]) && pts >= from) {
      found.push(i);
      if (spec.number > 0 && found.length >= spec.number) break;
    }
  }
  return found;
}

/**
 * The frames of an interval or average spec, and the time each stands for (media seconds from the
 * stream's first frame): the frame shown at each sample time — or, for an interval shorter than a frame,
 * every frame once at its own time.
 */
export function sampledFrames(index: FrameIndex, streamStart: number, frameDuration: number, spec: SamplingSpec, clip: Clip): { frames: number[]; times: number[] } {
  if (samplesEveryFrame(spec, frameDuration)) {
    const frames = everyFrameIn(index, streamStart, spec, clip);
    return { frames, times: frames.map((i) => Math.max(0, index.pts[i]! - streamStart)) };
  }
  const times = sampleTimes(spec, clip);
  return { frames: framesAtTimes(index, streamStart, times), times };
}

/** The frames a dhash spec hashes: one per sample time, each once (a frame sampled twice adds nothing). */
export function dhashSamples(index: FrameIndex, streamStart: number, spec: SamplingSpec, clip: Clip): number[] {
  return [...new Set(framesAtTimes(index, streamStart, sampleTimes(spec, clip)))];
}

/** The frame shown at each sample time (media seconds): frame indices, one per time. */
export function framesAtTimes(index: FrameIndex, streamStart: number, times: readonly number[]): number[] {
  return times.map((t) => frameAtOrBefore(index, streamStart + t));
}

/** End of the video in media seconds: the last frame's pts plus one frame. */
export function videoEndOf(index: FrameIndex, streamStart: number, frameDuration: number): number {
  const n = index.pts.length;
  if (!n) return 0;
  const last = index.pts[n - 1]!;
  const gap = frameDuration || (n > 1 ? last - index.pts[n - 2]! : 0.04);
  return last - streamStart + gap;
}
