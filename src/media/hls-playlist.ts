// HLS playlists are the one source format that names other objects. The server reads and checks every
// playlist itself (the engine never opens a URI): each URI must be a relative path that resolves inside
// the playlist's own bucket; encrypted playlists are refused. What comes out is a list of object keys —
// the variants of a master playlist, or the segments (and init section) of a media playlist — which the
// engine reads one after the other through the storage adapter. Pure: no I/O.
import { errors } from '../errors.js';
import { validateKey } from '../source/store.js';

/** Largest playlist read (a 12 h VOD with 1 s segments is ~2 MB). */
export const MAX_PLAYLIST_BYTES = 4 * 1024 * 1024;
/** Most segments a playlist may list (12 h of 1 s segments). */
export const MAX_SEGMENTS = 50_000;

export interface Variant {
  key: string;
  bandwidth: number;
}

export interface Segment {
  key: string;
  /** EXTINF, seconds. */
  duration: number;
}

export type Playlist =
  | { kind: 'master'; variants: Variant[] }
  | { kind: 'media'; segments: Segment[]; init: string | undefined };

export function isPlaylistKey(key: string): boolean {
  return /\.m3u8?$/i.test(key);
}

/** True when the bytes begin like an HLS playlist. */
export function looksLikePlaylist(head: Buffer): boolean {
  return /^(\ufeff)?\s*#EXTM3U/.test(head.subarray(0, 64).toString('utf8'));
}

const refused = (playlistKey: string, uri: string, why: string) =>
  errors.invalidArgument(`The HLS playlist "${playlistKey}" refers to "${uri.slice(0, 200)}": ${why}.`);

/** The key a playlist URI designates, or a 400 naming the problem. */
export function resolveUri(playlistKey: string, uri: string): string {
  const only = 'only relative paths to objects in the same bucket are allowed';
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) throw refused(playlistKey, uri, `absolute URLs are refused (${only})`);
  if (uri.startsWith('/')) throw refused(playlistKey, uri, `absolute paths are refused (${only})`);
  if (/[?#]/.test(uri)) throw refused(playlistKey, uri, `query strings and fragments are refused (${only})`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters in a URI is the point
  if (/[\u0000-\u001f\\]/.test(uri)) throw refused(playlistKey, uri, 'control characters and backslashes are refused');
  let decoded: string;
  try {
    decoded = decodeURIComponent(uri);
  } catch {
    throw refused(playlistKey, uri, 'it is not valid percent-encoding');
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters in a URI is the point
  if (/[\u0000-\u001f\\]/.test(decoded) || /^[a-z][a-z0-9+.-]*:/i.test(decoded)) {
    throw refused(playlistKey, uri, `its decoded form is not a plain relative path (${only})`);
  }
  const path = playlistKey.split('/').slice(0, -1);
  for (const segment of decoded.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (path.length === 0) throw refused(playlistKey, uri, `it leaves the bucket (${only})`);
      path.pop();
    } else {
      path.push(segment);
    }
  }
  const key = path.join('/');
  try {
    validateKey(key);
  } catch {
    throw refused(playlistKey, uri, 'it does not name an object');
  }
  return key;
}

const attribute = (line: string, name: string) => new RegExp(`[:,]${name}=("([^"]*)"|[^,]*)`).exec(line);

/**
 * Validates `text` (the playlist stored at `playlistKey`) and lists what it names. Every URI in it is
 * checked, including those of renditions and tags the engine does not use, so a playlist naming
 * another host is refused whatever part names it.
 */
export function readPlaylist(playlistKey: string, text: string): Playlist {
  const lines = text.replace(/^\ufeff/, '').split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') {
    throw errors.invalidArgument(`The object "${playlistKey}" is not an HLS playlist (it does not start with #EXTM3U).`);
  }
  const variants: Variant[] = [];
  const segments: Segment[] = [];
  let init: string | undefined;
  let pendingBandwidth: number | undefined;
  let pendingDuration: number | undefined;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    if (line.startsWith('#')) {
      if (/^#EXT-X-(SESSION-)?KEY:/.test(line) && !/METHOD=NONE\b/.test(line)) {
        throw errors.invalidArgument(`The HLS playlist "${playlistKey}" is encrypted (${line.slice(0, 80)}); encrypted HLS is not supported.`);
      }
      // Only quoted URI attributes are read; an unquoted one could hide a URI from this check.
      if (/[:,]\s*URI=(?!")/.test(line)) throw refused(playlistKey, line, 'URI attributes must be quoted strings');
      const uris = [...line.matchAll(/URI="([^"]*)"/g)].map((m) => resolveUri(playlistKey, m[1]!));
      if (line.startsWith('#EXT-X-MAP:')) init = uris[0];
      if (line.startsWith('#EXT-X-STREAM-INF:')) pendingBandwidth = Number(attribute(line, 'BANDWIDTH')?.[1] ?? 0) || 0;
      if (line.startsWith('#EXTINF:')) {
        const duration = Number(/^#EXTINF:\s*([\d.]+)/.exec(line)?.[1]);
        if (!Number.isFinite(duration) || duration < 0) throw errors.invalidArgument(`The HLS playlist "${playlistKey}" has a malformed ${line.slice(0, 40)}.`);
        pendingDuration = duration;
      }
      continue;
    }
    const key = resolveUri(playlistKey, line);
    if (pendingBandwidth !== undefined) {
      variants.push({ key, bandwidth: pendingBandwidth });
      pendingBandwidth = undefined;
    } else {
      segments.push({ key, duration: pendingDuration ?? 0 });
      pendingDuration = undefined;
      if (segments.length > MAX_SEGMENTS) throw errors.limitExceeded(`The HLS playlist "${playlistKey}" lists more than ${MAX_SEGMENTS} segments.`);
    }
  }
  if (variants.length) return { kind: 'master', variants };
  if (!segments.length) throw errors.invalidArgument(`The HLS playlist "${playlistKey}" lists no segments.`);
  return { kind: 'media', segments, init };
}
