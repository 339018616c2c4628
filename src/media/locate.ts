// Which frame answers "the frame at t": the last one presented at or before t (what a player shows), or
// for keyframe mode the last keyframe at or before t. Two ways to pin it down:
//  - directly, in the decoding run itself, for containers with an index (MP4/MOV, Matroska/WebM, AVI):
//    their seek lands on a keyframe at or before t, so the frame is the last one decoded in
//    (t − 1.5 frames, t]. No extra process.
//  - by a packet scan (ffprobe reads packet timestamps and key flags around t, no decoding) when the
//    container has no index (MPEG-TS, FLV: a seek can land mid-GOP), the frame rate is unknown, or the
//    direct window came back empty (variable frame rate, t past the end).
import { errors } from '../errors.js';
import type { FrameWindow } from './decode.js';
import type { MediaInput } from './input.js';
import { inputArgs } from './input.js';
import type { MediaInfo, VideoStream } from './probe.js';
import type { FfmpegRunner } from './runner.js';

export type SeekMode = 'exact' | 'keyframe';

// Demuxers whose seek lands on a keyframe at or before the target.
const INDEXED = new Set(['mov', 'mp4', 'matroska', 'webm', 'avi']);

/** Seconds on the container clock for `timeMs` measured from the stream's first frame. */
export const targetTime = (video: VideoStream, timeMs: number) => video.startTime + timeMs / 1000;

/** The window for a direct capture, or undefined when only a packet scan can be trusted. */
export function directWindow(info: MediaInfo, video: VideoStream, timeMs: number, mode: SeekMode): FrameWindow | undefined {
  if (!video.frameDuration || !info.formatName.split(',').some((name) => INDEXED.has(name))) return undefined;
  const target = targetTime(video, timeMs);
  return mode === 'keyframe'
    ? { seekTo: target, from: video.startTime, to: target, keyframesOnly: true }
    : { seekTo: target, from: target - 1.5 * video.frameDuration, to: target, keyframesOnly: false };
}

interface Packet {
  pts: number;
  key: boolean;
}

export function parsePackets(csv: string): Packet[] {
  const packets: Packet[] = [];
  for (const line of csv.split('\n')) {
    const [pts, dts, flags] = line.trim().split(',');
    // AVI and some raw streams carry no pts on packets; without B-frames dts is the same instant.
    const time = Number(pts !== 'N/A' && pts ? pts : dts);
    if (flags === undefined || !Number.isFinite(time)) continue;
    packets.push({ pts: time, key: flags.startsWith('K') });
  }
  return packets;
}

// Timestamps are printed with 6 decimals; compare with that tolerance.
const EPSILON = 2e-6;

/** Pure choice of the frame from the packets read around the target; undefined = read further back. */
export function chooseFrame(packets: readonly Packet[], target: number, mode: SeekMode): FrameWindow | undefined {
  // The scan must begin at a keyframe at or before the target, else frames before it are unknown.
  const firstKey = packets.findIndex((p) => p.key);
  if (firstKey < 0 || packets[firstKey]!.pts > target + EPSILON) return undefined;
  const usable = packets.slice(firstKey);
  const atOrBefore = usable.filter((p) => p.pts <= target + EPSILON);
  const keyframePts = Math.max(...atOrBefore.filter((p) => p.key).map((p) => p.pts));
  const pts = mode === 'keyframe' ? keyframePts : Math.max(...atOrBefore.map((p) => p.pts));
  // Seek a hair past the keyframe so rounding can't land on the one before; the window is that frame.
  return { seekTo: keyframePts + EPSILON, from: pts, to: pts, keyframesOnly: pts === keyframePts };
}

// How far before the target the scan starts, tried in turn: ffprobe seeks to a keyframe at or before
// the start in indexed containers (0 suffices), but lands anywhere in index-less ones, and very long
// GOPs need more. `undefined` = from the beginning of the file.
const LOOKBACKS = [0, 4, 30, undefined] as const;

export async function scanWindow(
  runner: FfmpegRunner,
  input: MediaInput,
  video: VideoStream,
  timeMs: number,
  mode: SeekMode,
  signal?: AbortSignal,
): Promise<FrameWindow> {
  const target = targetTime(video, timeMs);
  // Far enough past the target to see frames that B-frame reordering stores after later ones.
  const end = target + Math.max(1, 8 * video.frameDuration);
  let lastPackets: Packet[] = [];
  for (const lookback of LOOKBACKS) {
    const start = lookback === undefined ? '' : Math.max(0, target - lookback).toFixed(6);
    const args = [
      '-v', 'error', '-hide_banner', '-select_streams', String(video.index),
      '-show_entries', 'packet=pts_time,dts_time,flags', '-of', 'csv=p=0',
      '-read_intervals', `${start}%${end.toFixed(6)}`,
      ...inputArgs(input),
    ];
    let stdout: Buffer;
    try {
      ({ stdout } = await runner.ffprobe(args, signal));
    } catch (err) {
      throw runner.classify(err, 'Could not read the video packets');
    }
    const packets = parsePackets(stdout.toString('utf8'));
    const found = chooseFrame(packets, target, mode);
    if (found) return found;
    if (packets.length) lastPackets = packets;
  }
  // Packets without any key flag (some still-picture streams): take the first frame.
  const first = lastPackets[0];
  if (first) return { seekTo: first.pts, from: first.pts, to: first.pts, keyframesOnly: false };
  throw errors.notMedia('The video stream has no decodable frames.');
}
