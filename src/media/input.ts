// How ffmpeg is pointed at an object. Storage adapters produce a MediaInput; nothing else builds ffmpeg
// input arguments, so the protocol and demuxer allow-lists below apply to every run.

export interface MediaInput {
  /** What ffmpeg opens: `file:/abs/path` for the local store, the loopback media endpoint otherwise. */
  url: string;
  /** ffmpeg protocols the input may use (and nested inputs, e.g. HLS segments, inherit). */
  protocols: readonly string[];
  /** Protocol options placed before `-i` (the loopback endpoint: `-seekable 1 -multiple_requests 1 -reconnect 1`). */
  options?: readonly string[];
  /**
   * Demuxers allowed for this input on top of ALLOWED_DEMUXERS: only `hls`, and only for playlists the
   * loopback endpoint has validated (every URI a path inside the same bucket, served by the endpoint).
   */
  demuxers?: readonly 'hls'[];
}

// Demuxers for the containers stillframe serves. Everything else is refused before it can parse a byte:
// that shuts out playlist/concat/image-sequence demuxers that could open other files, and image files
// dressed up as video.
export const ALLOWED_DEMUXERS = [
  'mov', 'mp4', 'm4a', '3gp', '3g2', 'mj2', 'matroska', 'webm', 'mpegts', 'avi', 'flv', 'asf',
  'rm', 'mpeg', 'mpegvideo', 'mp3', 'aac', 'ogg', 'flac', 'wav',
] as const;

// `-fflags +genpts`: MPEG program streams (VOB, MPG) carry a PTS on some packets only; packet scans and
// frame windows need every packet's presentation time (only packets without one are affected).
export function inputArgs(input: MediaInput): string[] {
  return [
    ...(input.options ?? []),
    '-fflags', '+genpts',
    '-protocol_whitelist', input.protocols.join(','),
    '-format_whitelist', [...ALLOWED_DEMUXERS, ...(input.demuxers ?? [])].join(','),
    '-i', input.url,
  ];
}
