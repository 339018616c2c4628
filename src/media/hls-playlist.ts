// HLS playlists are the one source format that names other files. Before ffmpeg sees one, every URI in
// it is checked and rewritten: it must be a relative path that resolves inside the playlist's own bucket,
// and it is replaced by that object's path on the loopback media endpoint — so the hls demuxer can only
// ever read objects of the same bucket, through the storage adapter, and never a file, another host or
// another protocol. Pure: no I/O.
import { errors } from '../errors.js';
import { validateKey } from '../source/store.js';

/** Largest playlist read (a 12 h VOD with 1 s segments is ~2 MB). */
export const MAX_PLAYLIST_BYTES = 4 * 1024 * 1024;

export interface PlaylistRef {
  /** Object key the URI resolves to, in the playlist's bucket. */
  key: string;
  /** A variant/rendition playlist (not a media segment): it must be validated in turn. */
  playlist: boolean;
}

export interface RewrittenPlaylist {
  body: string;
  refs: PlaylistRef[];
}

export function isPlaylistKey(key: string): boolean {
  return /\.m3u8?$/i.test(key);
}

/** True when the bytes begin like an HLS playlist (what ffmpeg's hls probe looks for). */
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
  if (/[\u0000-\u001f\\]/.test(uri)) throw refused(playlistKey, uri, 'control characters and backslashes are refused');
  let decoded: string;
  try {
    decoded = decodeURIComponent(uri);
  } catch {
    throw refused(playlistKey, uri, 'it is not valid percent-encoding');
  }
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

// Tags whose URI attribute names another playlist (the rest name segments, keys or init sections).
const PLAYLIST_URI_TAGS = /^#EXT-X-(MEDIA|I-FRAME-STREAM-INF|RENDITION-REPORT):/;

/**
 * Validates `text` (the playlist stored at `playlistKey`) and rewrites each URI to `toPath(key)`.
 * Encrypted playlists are refused: their keys would need another protocol and a key server.
 */
export function rewritePlaylist(playlistKey: string, text: string, toPath: (key: string) => string): RewrittenPlaylist {
  const lines = text.replace(/^\ufeff/, '').split(/\r?\n/);
  if (lines[0]?.trim() !== '#EXTM3U') {
    throw errors.invalidArgument(`The object "${playlistKey}" is not an HLS playlist (it does not start with #EXTM3U).`);
  }
  const refs: PlaylistRef[] = [];
  const rewrite = (uri: string, playlist: boolean) => {
    const key = resolveUri(playlistKey, uri);
    refs.push({ key, playlist });
    return toPath(key);
  };
  let nextIsPlaylist = false;
  const out = lines.map((raw) => {
    const line = raw.trim();
    if (!line) return '';
    if (line.startsWith('#')) {
      if (/^#EXT-X-(SESSION-)?KEY:/.test(line) && !/METHOD=NONE\b/.test(line)) {
        throw errors.invalidArgument(`The HLS playlist "${playlistKey}" is encrypted (${line.slice(0, 80)}); encrypted HLS is not supported.`);
      }
      if (line.startsWith('#EXT-X-STREAM-INF:')) nextIsPlaylist = true;
      // ffmpeg also reads unquoted attribute values: only the quoted form is rewritten, so refuse the other.
      if (/[:,]\s*URI=(?!")/.test(line)) throw refused(playlistKey, line, 'URI attributes must be quoted strings');
      const isPlaylist = PLAYLIST_URI_TAGS.test(line);
      return line.replace(/URI="([^"]*)"/g, (_match, uri: string) => `URI="${rewrite(uri, isPlaylist)}"`);
    }
    const playlist = nextIsPlaylist;
    nextIsPlaylist = false;
    return rewrite(line, playlist || isPlaylistKey(line));
  });
  return { body: `${out.join('\n')}\n`, refs };
}
