// Many frames of one source, for IMM tasks:
//  - scanIndex: every frame's pts and key flag, from packets alone (no decoding), so the server can plan
//    exactly which frames a task wants before any is decoded (src/tasks/frame-plan.ts);
//  - extractFrames: the wanted frames, decoded in one forward walk with jumps. The decoder only sees the
//    packets from the keyframe each wanted frame depends on; packets of groups of pictures nobody wants
//    are dropped unread by the decoder, and with an index (MP4, Matroska, AVI) the demuxer jumps over
//    them when the next wanted keyframe is further than a few frames ahead. Non-reference frames that
//    are not wanted are never decoded. Dense requests become one continuous decode, sparse ones a seek
//    per frame — chosen per gap, not per task.
import { AV_NOPTS_VALUE, AVERROR_EAGAIN, Frame, type Packet } from 'node-av';
import { AbortedError, errors } from '../../errors.js';
import type { FrameIndex } from '../protocol.js';
import { packetTime } from './frame-at.js';
import type { OpenSource } from './source.js';

const LOOKBACK_SECONDS = [0, 2, 10, 30] as const;

/** Drops frames before the first keyframe (they cannot be decoded from it), sorts, merges duplicates. */
export function indexOf(frames: { pts: number; key: boolean }[], epsilon: number): FrameIndex {
  frames.sort((a, b) => a.pts - b.pts);
  const index: FrameIndex = { pts: [], key: [] };
  for (const f of frames) {
    const last = index.pts.length - 1;
    if (last >= 0 && Math.abs(index.pts[last]! - f.pts) <= epsilon) {
      index.key[last] ||= f.key;
      continue;
    }
    index.pts.push(f.pts);
    index.key.push(f.key);
  }
  const firstKey = index.key.indexOf(true);
  if (firstKey > 0) {
    index.pts.splice(0, firstKey);
    index.key.splice(0, firstKey);
  }
  return index;
}

/**
 * Every frame from the keyframe at or before `from` (container clock, s; undefined = the start) to the
 * end. Index-less containers may land after `from`: the scan then starts further back.
 */
export function scanIndex(source: OpenSource, from: number | undefined): FrameIndex {
  const target = from === undefined ? undefined : source.ticks(from);
  const epsilon = source.seconds(1n) / 2;
  for (let attempt = 0; ; attempt++) {
    const lookback = target === undefined ? undefined : LOOKBACK_SECONDS[attempt];
    if (lookback === undefined) source.rewind();
    else source.seek(target! - source.ticks(lookback));
    const frames: { pts: number; key: boolean }[] = [];
    let firstKey: bigint | undefined;
    for (let packet = source.nextPacket(); packet; packet = source.nextPacket()) {
      const time = packetTime(packet);
      if (time === AV_NOPTS_VALUE) continue;
      if (firstKey === undefined && packet.isKeyframe) firstKey = time;
      frames.push({ pts: source.seconds(time), key: packet.isKeyframe });
    }
    const landedLate = target !== undefined && firstKey !== undefined && firstKey > target && firstKey > source.startPts + 2n * source.frameTicks;
    if (lookback !== undefined && (landedLate || firstKey === undefined)) continue;
    return indexOf(frames, epsilon);
  }
}

export interface WantedFrame {
  /** pts (stream time base) of the frame wanted. */
  pts: bigint;
  /** pts of the keyframe its decoding starts from. */
  keyPts: bigint;
}

export interface ExtractStats {
  decoded: number;
  seeks: number;
}

/**
 * Decodes `wanted` (ascending) and calls `emit(position, frame, pts)` for each, in order: the frame
 * presented at the wanted pts (the last at or before it, so a container whose packet clock differs a
 * little from the frame clock still yields the right frame). `emit` may be asynchronous; the walk waits
 * for it, which is where rendering overlaps with the next decode.
 */
export async function extractFrames(
  source: OpenSource,
  wanted: readonly WantedFrame[],
  keyframesOnly: boolean,
  emit: (position: number, frame: Frame, pts: bigint) => Promise<void>,
  cancelled: () => boolean,
): Promise<ExtractStats> {
  const stats: ExtractStats = { decoded: 0, seeks: 0 };
  if (!wanted.length) return stats;
  const decoder = source.decoder;
  const tolerance = source.frameTicks / 2n;
  const near = (a: bigint, b: bigint) => (a > b ? a - b : b - a) <= tolerance;
  // Seeking is cheap with an index, a binary search of the file without one: jump further there.
  const indexed = source.exactKeyframeIndex || /matroska|webm|avi/.test(source.info.formatName);
  const jumpTicks = indexed ? 4n * source.frameTicks : source.ticks(30);
  const frame = new Frame();
  frame.alloc();
  let next = 0;
  /** The last frame decoded at or before wanted[next].pts. */
  let candidate: Frame | undefined;
  let candidatePts = 0n;
  let decoding = false;
  /** The keyframe the group of pictures being decoded began with. */
  let runKey = 0n;
  let lastRead: bigint | undefined;
  /** Seeks made for the current wanted frame (a demuxer that keeps landing past it). */
  let retries = 0;
  let skipping = false;

  const setSkipping = (on: boolean) => {
    if (on === skipping) return;
    decoder.setOption('skip_frame', on ? 'noref' : 'default');
    skipping = on;
  };
  const seekTo = (pts: bigint) => {
    stats.seeks++;
    source.seek(pts);
    lastRead = undefined;
  };
  const finish = async () => {
    const chosen = candidate!;
    candidate = undefined;
    retries = 0;
    try {
      await emit(next++, chosen, candidatePts);
    } finally {
      chosen.free();
    }
  };
  /** Frames the decoder has ready: finishes every wanted frame the stream has moved past. */
  const receive = async () => {
    while (next < wanted.length && decoder.receiveFrameSync(frame) >= 0) {
      stats.decoded++;
      const pts = frame.bestEffortTimestamp;
      while (next < wanted.length && pts !== AV_NOPTS_VALUE && pts > wanted[next]!.pts + tolerance) {
        // Past the wanted frame: the last one at or before it is the answer — or, when none could be
        // decoded (a damaged start), the first one after it.
        if (!candidate) {
          candidate = frame.clone() ?? undefined;
          candidatePts = pts;
        }
        await finish();
      }
      if (next < wanted.length) {
        candidate?.free();
        candidate = frame.clone() ?? undefined;
        candidatePts = pts;
      }
      frame.unref();
    }
  };
  /** Ends the current run: the decoder gives up what it holds; wanted frames before `until` are done. */
  const drain = async (until: bigint | undefined) => {
    setSkipping(false);
    decoder.sendPacketSync(null);
    await receive();
    while (candidate && next < wanted.length && (until === undefined || wanted[next]!.pts < until)) await finish();
    decoder.flushBuffers();
    decoding = false;
  };
  const send = async (packet: Packet) => {
    if (decoder.sendPacketSync(packet) === AVERROR_EAGAIN) {
      await receive();
      decoder.sendPacketSync(packet);
    }
    await receive();
  };

  try {
    seekTo(wanted[0]!.keyPts);
    while (next < wanted.length) {
      if (cancelled()) throw new AbortedError();
      const want = wanted[next]!;
      if (!decoding && lastRead !== undefined && want.keyPts - lastRead > jumpTicks) seekTo(want.keyPts);
      const packet = source.nextPacket();
      if (!packet) break;
      const time = packetTime(packet);
      if (time === AV_NOPTS_VALUE) {
        if (decoding && !keyframesOnly) await send(packet);
        continue;
      }
      lastRead = time;
      if (packet.isKeyframe && decoding && !keyframesOnly) {
        if (wanted.slice(next).some((w) => near(w.keyPts, time))) {
          runKey = time;
        } else {
          // A group of pictures nobody wants: finish what the decoder holds and drop packets until the next.
          await drain(time);
          if (next >= wanted.length) break;
        }
      }
      if (!decoding) {
        const start = wanted[next]!;
        if (!packet.isKeyframe) continue;
        // Its own keyframe — or, once the demuxer has landed past it twice, any keyframe before it.
        const usable = near(time, start.keyPts) || (retries >= 2 && time <= start.pts + tolerance);
        if (!usable) {
          if (time > start.pts + tolerance) {
            // The seek landed after the wanted frame: aim further back.
            retries++;
            seekTo(start.keyPts - source.ticks(2 * retries));
          }
          continue;
        }
        decoding = true;
        runKey = time;
      }
      if (keyframesOnly) {
        if (packet.isKeyframe && near(time, wanted[next]!.pts)) {
          await send(packet);
          await drain(undefined);
          if (next < wanted.length) decoding = false;
        }
        continue;
      }
      setSkipping(!packet.isKeyframe && !wanted.slice(next).some((w) => near(w.pts, time)));
      await send(packet);
      // Every wanted frame of this group of pictures is out: the rest of it is not needed.
      if (next < wanted.length && wanted[next]!.keyPts > runKey + tolerance) await drain(wanted[next]!.keyPts);
    }
    if (decoding) await drain(undefined);
    if (next < wanted.length) throw errors.notMedia(`${wanted.length - next} of the wanted frames could not be decoded.`);
    return stats;
  } finally {
    setSkipping(false);
    candidate?.free();
    frame.free();
  }
}
