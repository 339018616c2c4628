// "The frame at t": the last frame presented at or before t (what a player shows), or in keyframe mode
// the last keyframe at or before t — found by seeking to a keyframe at or before t and decoding forward,
// one demuxer and one decoder, no second pass:
//  - the demuxer seeks backwards to t; the first keyframe read must not be later than t (index-less
//    containers — MPEG-TS, FLV — and B-frame delays in MP4 can land after it); if it is, the seek
//    aims further back (2 s, 10 s, 30 s, then the start);
//  - exact: packets go to the decoder; frames come out in presentation order; the last one at or
//    before t is kept, and the first one after t ends the search (t past the end → the last frame).
//    Non-reference frames more than two frame durations before t are not decoded (they cannot be
//    the answer and nothing refers to them); if the answer lies before that margin (a variable frame
//    rate's long frame), the search is repeated without skipping, so the rule never changes the answer;
//  - keyframe: packets are read but not decoded until the last keyframe at or before t is known (the
//    first packet decoded after t ends it; MP4's index makes the first keyframe after the seek the
//    answer), then that one packet is decoded.
import { AV_FRAME_FLAG_KEY, AV_NOPTS_VALUE, AVERROR_EAGAIN, Frame, type Packet } from 'node-av';
import { errors } from '../../errors.js';
import type { SeekMode } from '../protocol.js';
import { describeError } from './errors.js';
import type { OpenSource } from './source.js';

export interface Located {
  /** The decoded frame; the caller frees it. */
  frame: Frame;
  pts: bigint;
  keyframe: boolean;
  /** Frames decoded to find it. */
  decoded: number;
  /**
   * Asked for (`keepNext`, exact mode): the frame the decoder gave after it, which ended the search; the
   * caller frees it. The demuxer and decoder are left where that frame came from, so decoding can go on
   * (src/media/engine/best-frame.ts). Undefined at the end of the stream.
   */
  next?: { frame: Frame; pts: bigint };
}

const LOOKBACK_SECONDS = [0, 2, 10, 30] as const;

/** The packet's presentation time, or its decoding time when the container gives none (AVI). */
export const packetTime = (packet: Packet): bigint => (packet.pts !== AV_NOPTS_VALUE ? packet.pts : packet.dts);

export const isKeyFrame = (frame: Frame) => (frame.flags & AV_FRAME_FLAG_KEY) !== 0 || frame.keyFrame === 1;

/**
 * Target pts (stream time base) of `timeMs` after the stream's first frame: the tick at or before it
 * (a coarse time base — AVI counts whole frames — must not round t up into the next frame).
 */
export function targetPts(source: OpenSource, timeMs: number): bigint {
  const { num, den } = source.timeBase;
  return source.startPts + BigInt(Math.floor((timeMs * den) / (num * 1000) + 1e-6));
}

export function frameAt(source: OpenSource, timeMs: number, mode: SeekMode, keepNext = false): Located {
  if (source.video.isCoverArt) return coverPicture(source);
  const target = targetPts(source, timeMs);
  let skipNonReference = mode === 'exact';
  for (let attempt = 0; ; attempt++) {
    const lookback = LOOKBACK_SECONDS[attempt];
    if (lookback === undefined) source.rewind();
    else source.seek(target - source.ticks(lookback));
    const outcome = decodeForward(source, target, mode, skipNonReference, lookback === undefined, keepNext);
    if (outcome === 'landed-late') continue;
    if (outcome === 'skipped-too-much') {
      skipNonReference = false;
      attempt--;
      continue;
    }
    return outcome;
  }
}

function coverPicture(source: OpenSource): Located {
  const packet = source.coverPacket();
  if (!packet) throw errors.notMedia('The cover picture could not be read.');
  source.decoder.flushBuffers();
  const frame = new Frame();
  frame.alloc();
  send(source, packet);
  send(source, null);
  if (source.decoder.receiveFrameSync(frame) < 0) {
    frame.free();
    throw errors.notMedia('The cover picture could not be decoded.');
  }
  return { frame, pts: source.startPts, keyframe: true, decoded: 1 };
}

/** Sends a packet, draining nothing: the callers receive after each send. */
export function send(source: OpenSource, packet: Packet | null): void {
  const ret = source.decoder.sendPacketSync(packet);
  // EAGAIN cannot happen here (frames are received after every send); anything else is a damaged
  // packet, which the decoder skips — as players do — rather than failing the whole capture.
  if (ret < 0 && ret !== AVERROR_EAGAIN && packet === null) throw errors.notMedia(`The video could not be decoded: ${describeError(ret)}.`);
}

function decodeForward(source: OpenSource, target: bigint, mode: SeekMode, skipNonReference: boolean, fromStart: boolean, keepNext: boolean): Located | 'landed-late' | 'skipped-too-much' {
  const decoder = source.decoder;
  const margin = 2n * source.frameTicks;
  const frame = new Frame();
  frame.alloc();
  let best: Frame | undefined;
  let bestPts = 0n;
  let bestKey = false;
  /** The first frame after the target, kept only while nothing at or before it was seen. */
  let after: Frame | undefined;
  let afterPts = 0n;
  /** keepNext: the frame after the target that ended the search. */
  let next: Frame | undefined;
  let nextPts = 0n;
  let decoded = 0;
  let sawKeyframe = false;
  let skipped = false;
  let skipping = false;
  let lastKeyPacket: Packet | undefined;
  /** Keyframe mode, when no keyframe at or before t exists where decoding can start: the first one. */
  let firstKeyPacket: Packet | undefined;
  let done = false;

  const setSkipping = (on: boolean) => {
    if (on === skipping) return;
    decoder.setOption('skip_frame', on ? 'noref' : 'default');
    skipping = on;
  };
  /** Takes every frame the decoder has ready; true once a frame after the target came out. */
  const receive = (): boolean => {
    while (decoder.receiveFrameSync(frame) >= 0) {
      decoded++;
      const pts = frame.bestEffortTimestamp;
      if (pts !== AV_NOPTS_VALUE && pts > target) {
        if (best) {
          if (keepNext) {
            next = frame.clone() ?? undefined;
            nextPts = pts;
          }
          frame.unref();
          return true;
        }
        if (!after) {
          after = frame.clone() ?? undefined;
          afterPts = pts;
        }
      } else {
        best?.free();
        best = frame.clone() ?? undefined;
        bestPts = pts === AV_NOPTS_VALUE ? target : pts;
        bestKey = isKeyFrame(frame);
      }
      frame.unref();
    }
    return false;
  };

  try {
    for (;;) {
      const packet = source.nextPacket();
      if (!packet) break;
      const time = packetTime(packet);
      const key = packet.isKeyframe;
      if (!sawKeyframe) {
        // Decoding starts at a keyframe: what comes before it (a seek that landed mid-GOP) is garbage.
        if (!key) continue;
        sawKeyframe = true;
        const nearStart = time === AV_NOPTS_VALUE || time <= source.startPts + margin;
        if (!fromStart && !nearStart && time > target) return 'landed-late';
      }
      if (mode === 'keyframe') {
        const decodeTime = packet.dts !== AV_NOPTS_VALUE ? packet.dts : time;
        if (key && !firstKeyPacket && !lastKeyPacket) firstKeyPacket = packet.clone() ?? undefined;
        if (key && time !== AV_NOPTS_VALUE && time <= target) {
          lastKeyPacket?.free();
          lastKeyPacket = packet.clone() ?? undefined;
          if (source.exactKeyframeIndex) break;
        } else if (decodeTime !== AV_NOPTS_VALUE && decodeTime > target) {
          // Packets come in decoding order and a keyframe's pts ≥ its dts: none at or before t follows.
          break;
        }
        continue;
      }
      const skip = skipNonReference && !key && time !== AV_NOPTS_VALUE && time < target - margin;
      setSkipping(skip);
      skipped ||= skip;
      send(source, packet);
      if (receive()) {
        done = true;
        break;
      }
    }
    // Nothing but non-keyframes up to the end: the seek landed after the last keyframe before t.
    if (!sawKeyframe && !fromStart) return 'landed-late';
    if (mode === 'keyframe') {
      setSkipping(false);
      const chosenPacket = lastKeyPacket ?? firstKeyPacket;
      if (chosenPacket) send(source, chosenPacket);
      send(source, null);
      receive();
    } else if (!done) {
      setSkipping(false);
      send(source, null);
      receive();
    }
    if (skipped && best && bestPts < target - margin) return 'skipped-too-much';
    // Nothing at or before t could be decoded (a stream that opens with undecodable frames): the first
    // picture there is.
    const chosen = best ?? after;
    if (!chosen) throw errors.notMedia('The video stream has no decodable frame at that time.');
    if (chosen === best) after?.free();
    else best?.free();
    const result: Located = { frame: chosen, pts: chosen === best ? bestPts : afterPts, keyframe: chosen === best ? bestKey : isKeyFrame(chosen), decoded };
    if (next) result.next = { frame: next, pts: nextPts };
    best = undefined;
    after = undefined;
    next = undefined;
    return result;
  } finally {
    setSkipping(false);
    frame.free();
    lastKeyPacket?.free();
    firstKeyPacket?.free();
    best?.free();
    after?.free();
    next?.free();
  }
}
