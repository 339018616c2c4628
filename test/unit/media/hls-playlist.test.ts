// HLS playlists (src/media/hls-playlist.ts), pure: the segments, init section and variants a playlist
// names, as keys of its own bucket; every URI that is not a plain relative path inside the bucket, and
// encrypted, malformed or empty playlists, refused with a 400 naming the problem.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { readPlaylist, resolveUri } from '../../../src/media/hls-playlist.js';

const refusal = (fn: () => unknown): AppError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
};

describe('playlist validation (pure)', () => {
  it('lists the segments of a media playlist as keys of the same bucket, with their durations', () => {
    const out = readPlaylist('show/index.m3u8', '#EXTM3U\n#EXTINF:1.5,\nseg0.ts\n#EXTINF:1,\nparts/seg%201.ts\n#EXTINF:0.5,\n../shared/seg2.ts\n#EXT-X-ENDLIST\n');
    expect(out).toEqual({
      kind: 'media',
      init: undefined,
      segments: [
        { key: 'show/seg0.ts', duration: 1.5 },
        { key: 'show/parts/seg 1.ts', duration: 1 },
        { key: 'shared/seg2.ts', duration: 0.5 },
      ],
    });
  });

  it('reads the init section (EXT-X-MAP) and the variants of a master playlist; checks every URI attribute', () => {
    expect(readPlaylist('v/index.m3u8', '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\nseg1.m4s\n')).toEqual({ kind: 'media', init: 'v/init.mp4', segments: [{ key: 'v/seg1.m4s', duration: 2 }] });
    const master = readPlaylist(
      'm.m3u8',
      '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=5000,RESOLUTION=1920x1080\nhigh/index.m3u8\n',
    );
    expect(master).toEqual({ kind: 'master', variants: [{ key: 'low/index.m3u8', bandwidth: 1000 }, { key: 'high/index.m3u8', bandwidth: 5000 }] });
    expect(refusal(() => readPlaylist('m.m3u8', '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI="https://evil.example/a.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n')).message).toContain('absolute URLs');
  });

  it.each([
    ['http://evil.example/a.ts', 'absolute URLs'],
    ['HTTPS://evil.example/a.ts', 'absolute URLs'],
    ['file:///etc/passwd', 'absolute URLs'],
    ['data:video/mp2t;base64,AAAA', 'absolute URLs'],
    ['crypto+http://evil/a.ts', 'absolute URLs'],
    ['concat:a.ts|b.ts', 'absolute URLs'],
    ['//evil.example/a.ts', 'absolute paths'],
    ['/etc/passwd', 'absolute paths'],
    ['../../x.ts', 'leaves the bucket'],
    ['%2e%2e/%2e%2e/x.ts', 'leaves the bucket'],
    ['seg.ts?token=1', 'query strings'],
    ['seg.ts#t=1', 'query strings'],
    ['..\\x.ts', 'backslashes'],
    ['file%3A%2F%2F%2Fetc%2Fpasswd', 'not a plain relative path'],
  ])('refuses %s (%s)', (uri, why) => {
    const err = refusal(() => resolveUri('show/index.m3u8', uri));
    expect(err.status).toBe(400);
    expect(err.message).toContain(`"show/index.m3u8" refers to "${uri}"`);
    expect(err.message).toContain(why);
  });

  it('refuses encrypted playlists, unquoted URI attributes, non-playlists and empty ones', () => {
    expect(refusal(() => readPlaylist('a.m3u8', '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="key.bin"\nseg.ts\n')).message).toContain('encrypted');
    expect(readPlaylist('a.m3u8', '#EXTM3U\n#EXT-X-KEY:METHOD=NONE\nseg.ts\n')).toMatchObject({ kind: 'media', segments: [{ key: 'seg.ts' }] });
    expect(refusal(() => readPlaylist('a.m3u8', '#EXTM3U\n#EXT-X-MAP:URI=http://evil/x.mp4\n')).message).toContain('quoted');
    expect(refusal(() => readPlaylist('a.m3u8', 'seg.ts\n')).message).toContain('not an HLS playlist');
    expect(refusal(() => readPlaylist('a.m3u8', '#EXTM3U\n#EXT-X-ENDLIST\n')).message).toContain('lists no segments');
  });
});
