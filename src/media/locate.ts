// Which frame answers "the frame at t": read packet timestamps around t (no decoding, a few KB of index
// or packet headers) and pick the frame a player shows at t — the last one whose presentation time is
// ≤ t — or, for keyframe mode, the last keyframe at or before t. Knowing the exact timestamps lets the
// decode step ask ffmpeg for exactly that frame, which is what makes containers with rounded
// timestamps (FLV's milliseconds) and index-less ones (MPEG-TS) come out right.
import { errors } from '../errors.js';
import type { MediaInput } from './input.js';
import { inputArgs } from './input.js';
import type { MediaInfo, VideoStream } from './probe.js';
import type { FfmpegRunner } from './runner.js';

export interface FrameLocation {
  /** Presentation time (container clock, seconds) of the chosen frame. */
  pts: number;
  /** The keyframe decoding starts from (pts ≤ chosen frame). */
  keyframePts: number;
  isKeyframe: boolean;
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
export function chooseFrame(
  packets: readonly Packet[],
  target: number,
  mode: 'exact' | 'keyframe',
): FrameLocation | undefined {
  // The scan must begin at a keyframe at or before the target, else frames before it are unknown.
  const firstKey = packets.findIndex((p) => p.key);
  if (firstKey < 0 || packets[firstKey]!.pts > target + EPSILON) return undefined;
  const usable = packets.slice(firstKey);
  const atOrBefore = (p: Packet) => p.pts <= target + EPSILON;
  const keyframes = usable.filter((p) => p.key && atOrBefore(p));
  const keyframePts = Math.max(...keyframes.map((p) => p.pts));
  const times = [...new Set(usable.map((p) => p.pts))].sort((a, b) => a - b);
  const pts = mode === 'keyframe' ? keyframePts : Math.max(...times.filter((t) => t <= target + EPSILON));
  return {
    pts,
    keyframePts,
    isKeyframe: pts === keyframePts || usable.some((p) => p.key && Math.abs(p.pts - pts) <= EPSILON),
  };
}

// How far before the target the scan starts, tried in turn: ffprobe seeks to a keyframe at or before
// the start in indexed containers (0 suffices), but lands anywhere in index-less ones, and very long
// GOPs need more. `undefined` = from the beginning of the file.
const LOOKBACKS = [0, 4, 30, undefined] as const;

export async function locateFrame(
  runner: FfmpegRunner,
  input: MediaInput,
  info: MediaInfo,
  video: VideoStream,
  timeMs: number,
  mode: 'exact' | 'keyframe',
  signal?: AbortSignal,
): Promise<FrameLocation> {
  const target = video.startTime + timeMs / 1000;
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
  // A stream whose packets carry no keyframe flag at all (some cover pictures): take the first frame.
  const first = lastPackets[0];
  if (first && info.video) return { pts: first.pts, keyframePts: first.pts, isKeyframe: true };
  throw errors.notMedia('The video stream has no decodable frames.');
}
