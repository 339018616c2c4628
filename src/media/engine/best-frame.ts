// `m_best` (a stillframe extension): the best frame in the window [t, t + window] — not black, not flat,
// the sharpest — for thumbnails of videos that open on black, fade in, or blur while the camera moves.
//
// One forward decode: the exact-mode search for the frame at t (src/media/engine/frame-at.ts) positions
// the demuxer and decoder, and decoding goes on from there to the end of the window. Each candidate is
// scored on a small grey thumbnail (the converter's area-scaled grey path, at most 160 px wide) and
// only the best so far is kept, so memory holds two frames whatever the window. Bounded work:
//  - at most MAX_SCORED (90) candidates are scored — every frame of the default 3 s window up to 30 fps;
//    over a longer window (by the nominal frame rate) every Nth decoded frame is, and non-reference
//    frames are then not decoded at all;
//  - at most MAX_DECODED (300) frames are decoded after t: a 60 fps source's 10 s window ends at 5 s;
//  - the job's deadline applies as to any capture.
//
// Scoring (scoreGrey, pure): mean luma, standard deviation, and sharpness = variance of the 4-neighbour
// Laplacian. A frame is black when 98% of its pixels are darker than 32/255 (blackdetect's rule, a
// little stricter), flat when the deviation is under 4/255 (a title card's background, a fade). Usable
// frames (neither) beat flat ones, which beat black ones; among usable frames the sharpest wins, but a
// later one must be more than 10% sharper to replace an earlier one (the answer stays near t when the
// frames are alike). When nothing in the window is usable, the least bad frame comes back: the most
// detailed flat one, else the brightest black one.
import { AV_NOPTS_VALUE, AVERROR_EAGAIN, Frame } from 'node-av';
import { isKeyFrame, frameAt, send, targetPts, type Located } from './frame-at.js';
import type { OpenSource } from './source.js';

/** Most candidates scored in one window. */
export const MAX_SCORED = 90;
/** Most frames decoded after t. */
export const MAX_DECODED = 300;
/** Largest side of the grey thumbnail scored. */
const THUMB = 160;
/** A pixel darker than this (0–255) is black… */
const BLACK_PIXEL = 32;
/** …and a frame with at least this share of black pixels is black. */
const BLACK_SHARE = 0.98;
/** A frame whose luma deviates less than this (0–255) is flat. */
const FLAT_DEVIATION = 4;
/** A later usable frame replaces an earlier one only when this much sharper. */
const SHARPER = 1.1;

export type FrameClass = 'usable' | 'flat' | 'black';

export interface FrameScore {
  mean: number;
  deviation: number;
  /** Variance of the Laplacian. */
  sharpness: number;
  kind: FrameClass;
}

/** Scores a grey picture (one byte a pixel, rows packed). Pure: exported for tests. */
export function scoreGrey(data: Uint8Array, width: number, height: number): FrameScore {
  const n = width * height;
  let sum = 0;
  let squares = 0;
  let dark = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    sum += v;
    squares += v * v;
    if (v < BLACK_PIXEL) dark++;
  }
  const mean = n ? sum / n : 0;
  const deviation = n ? Math.sqrt(Math.max(0, squares / n - mean * mean)) : 0;
  let lapSum = 0;
  let lapSquares = 0;
  let count = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const l = 4 * data[i]! - data[i - 1]! - data[i + 1]! - data[i - width]! - data[i + width]!;
      lapSum += l;
      lapSquares += l * l;
      count++;
    }
  }
  const lapMean = count ? lapSum / count : 0;
  const sharpness = count ? Math.max(0, lapSquares / count - lapMean * lapMean) : 0;
  const kind: FrameClass = n === 0 || dark >= BLACK_SHARE * n ? 'black' : deviation < FLAT_DEVIATION ? 'flat' : 'usable';
  return { mean, deviation, sharpness, kind };
}

const RANK: Record<FrameClass, number> = { usable: 2, flat: 1, black: 0 };

/** Whether a later candidate replaces the one held. Pure: exported for tests. */
export function beats(later: FrameScore, held: FrameScore): boolean {
  if (RANK[later.kind] !== RANK[held.kind]) return RANK[later.kind] > RANK[held.kind];
  switch (later.kind) {
    case 'usable':
      return later.sharpness > held.sharpness * SHARPER;
    case 'flat':
      return later.deviation > held.deviation;
    case 'black':
      return later.mean > held.mean;
  }
}

/** Every `stride`th frame is scored, so that a window of the nominal frame rate gives at most MAX_SCORED. */
export function strideFor(windowMs: number, frameDuration: number): number {
  const expected = (windowMs / 1000) * (frameDuration > 0 ? 1 / frameDuration : 30);
  return Math.max(1, Math.ceil(expected / MAX_SCORED));
}

export interface BestFrame extends Located {
  /** Candidates scored. */
  scored: number;
}

/** The grey thumbnail's size for this source: the displayed aspect, at most THUMB a side. */
function thumbSize(source: OpenSource): { width: number; height: number } {
  const { width, height, sampleAspect } = source.video;
  const displayWidth = width * (sampleAspect || 1);
  const scale = Math.min(1, THUMB / Math.max(displayWidth, height));
  return { width: Math.max(8, Math.round(displayWidth * scale)), height: Math.max(8, Math.round(height * scale)) };
}

export function bestFrameNear(source: OpenSource, timeMs: number, windowMs: number): BestFrame {
  if (source.video.isCoverArt) return { ...frameAt(source, timeMs, 'exact'), scored: 1 };
  const start = frameAt(source, timeMs, 'exact', true);
  const end = targetPts(source, timeMs + windowMs);
  const stride = strideFor(windowMs, source.video.frameDuration);
  const size = thumbSize(source);
  const score = (frame: Frame) => {
    const grey = source.converter.convert(frame, { kind: 'grey', ...size });
    return scoreGrey(grey.data, grey.width, grey.height);
  };

  const next = start.next;
  let held: Frame = start.frame;
  let heldPts = start.pts;
  let heldKey = start.keyframe;
  let heldScore: FrameScore;
  let scored = 1;
  let decoded = start.decoded;
  /** Frames after t seen (the frame at t is number 0): every stride-th is a candidate. */
  let seen = 0;
  const decoder = source.decoder;
  const current = new Frame();
  current.alloc();

  /** Scores a frame after t; false once it is past the window (or the budgets are spent). */
  const consider = (frame: Frame, pts: bigint): boolean => {
    if (pts > end) return false;
    seen++;
    if (seen % stride !== 0) return seen < MAX_DECODED;
    const s = score(frame);
    scored++;
    if (beats(s, heldScore)) {
      const kept = frame.clone();
      if (kept) {
        held.free();
        held = kept;
        heldPts = pts;
        heldKey = isKeyFrame(frame);
        heldScore = s;
      }
    }
    return seen < MAX_DECODED && scored < MAX_SCORED;
  };
  /** Takes every frame the decoder has ready; false once the walk is over. */
  const receive = (): boolean => {
    while (decoder.receiveFrameSync(current) >= 0) {
      decoded++;
      const pts = current.bestEffortTimestamp;
      const goOn = pts === AV_NOPTS_VALUE || consider(current, pts);
      current.unref();
      if (!goOn) return false;
    }
    return true;
  };

  let skipping = false;
  try {
    heldScore = score(held);
    // No next frame: the search for t ran to the end of the stream, nothing follows.
    let goOn = next ? consider(next.frame, next.pts) : false;
    if (goOn && stride > 1) {
      // Every Nth frame is scored: frames nothing refers to need not be decoded.
      decoder.setOption('skip_frame', 'noref');
      skipping = true;
    }
    while (goOn) {
      const packet = source.nextPacket();
      if (!packet) {
        send(source, null);
        receive();
        break;
      }
      const ret = decoder.sendPacketSync(packet);
      // A damaged packet is skipped, as in frame-at (EAGAIN cannot happen: frames are taken after each send).
      if (ret < 0 && ret !== AVERROR_EAGAIN) continue;
      goOn = receive();
    }
    const result: BestFrame = { frame: held, pts: heldPts, keyframe: heldKey, decoded, scored };
    return result;
  } catch (err) {
    held.free();
    throw err;
  } finally {
    if (skipping) decoder.setOption('skip_frame', 'default');
    next?.frame.free();
    current.free();
  }
}
