// How ffmpeg is pointed at an object. Storage adapters produce a MediaInput; nothing else builds ffmpeg
// input arguments, so the protocol and demuxer allow-lists below apply to every run.

export interface MediaInput {
  /** What ffmpeg opens: `file:/abs/path` for the local store. */
  url: string;
  /** ffmpeg protocols the input may use (and nested inputs, e.g. HLS segments, inherit). */
  protocols: readonly string[];
}

// Demuxers for the containers stillframe serves. Everything else is refused before it can parse a byte:
// that shuts out playlist/concat/image-sequence demuxers that could open other files, and image files
// dressed up as video.
export const ALLOWED_DEMUXERS = [
  'mov', 'mp4', 'm4a', '3gp', '3g2', 'mj2', 'matroska', 'webm', 'mpegts', 'avi', 'flv', 'asf',
  'rm', 'mpeg', 'mpegvideo', 'mp3', 'aac', 'ogg', 'flac', 'wav',
] as const;

export function inputArgs(input: MediaInput): string[] {
  return [
    '-protocol_whitelist', input.protocols.join(','),
    '-format_whitelist', ALLOWED_DEMUXERS.join(','),
    '-i', input.url,
  ];
}
