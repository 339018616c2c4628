// How the engine is to read an object: the file store hands over a local path (proven inside its root);
// any other store's objects are read through the block cache; an HLS playlist (by its .m3u8/.m3u name)
// is read and checked here — variants, segments, init section — and its segments are read one after
// the other. The result names one object version, so the engine's open demuxers and the server's
// routing can key on it.
import { errors } from '../errors.js';
import type { ObjectStat, ObjectStore } from '../source/store.js';
import type { BlockCache } from './block-cache.js';
import { isPlaylistKey, MAX_PLAYLIST_BYTES, readPlaylist, type Segment } from './hls-playlist.js';
import type { SourceRef } from './protocol.js';
import type { ReadTarget } from './reads.js';

export interface PreparedSource {
  ref: SourceRef;
  /** What the engine's reads of `ref.id` resolve to (none for a local file). */
  target: ReadTarget | undefined;
}

export const sourceId = (bucket: string, key: string, etag: string) => `${bucket}\u0000${key}\u0000${etag}`;

async function readText(blocks: BlockCache, bucket: string, key: string, stat: ObjectStat): Promise<string> {
  if (stat.size > MAX_PLAYLIST_BYTES) {
    throw errors.limitExceeded(`The HLS playlist "${key}" is ${stat.size} bytes, above the limit of ${MAX_PLAYLIST_BYTES}.`);
  }
  if (stat.size === 0) return '';
  return (await blocks.read({ bucket, key, etag: stat.etag, size: stat.size }, 0, stat.size - 1)).toString('utf8');
}

async function prepareHls(store: ObjectStore, blocks: BlockCache, bucket: string, key: string, stat: ObjectStat): Promise<PreparedSource> {
  let playlist = readPlaylist(key, await readText(blocks, bucket, key, stat));
  let mediaKey = key;
  let id = sourceId(bucket, key, stat.etag);
  if (playlist.kind === 'master') {
    // Every variant is checked (a bad one is refused even if another would be played); the best one
    // (highest bandwidth) is captured, as a player on a fast link shows it.
    const variants = [];
    for (const variant of playlist.variants.slice(0, 64)) {
      const variantStat = await store.stat(bucket, variant.key);
      variants.push({ ...variant, stat: variantStat, playlist: readPlaylist(variant.key, await readText(blocks, bucket, variant.key, variantStat)) });
    }
    const best = variants.filter((v) => v.playlist.kind === 'media').sort((a, b) => b.bandwidth - a.bandwidth)[0];
    if (best?.playlist.kind !== 'media') throw errors.invalidArgument(`The HLS playlist "${key}" has no media playlist among its variants.`);
    playlist = best.playlist;
    mediaKey = best.key;
    id += `\u0000${best.key}\u0000${best.stat.etag}`;
  }
  if (playlist.kind !== 'media') throw errors.invalidArgument(`The HLS playlist "${mediaKey}" lists no segments.`);
  const segments: Segment[] = playlist.segments;
  return {
    ref: { kind: 'hls', id, segments: segments.map((s) => s.duration), hasInit: playlist.init !== undefined },
    target: { kind: 'hls', bucket, init: playlist.init, segments: segments.map((s) => s.key) },
  };
}

export async function prepareSource(store: ObjectStore, blocks: BlockCache, bucket: string, key: string, stat: ObjectStat): Promise<PreparedSource> {
  if (isPlaylistKey(key)) return prepareHls(store, blocks, bucket, key, stat);
  const id = sourceId(bucket, key, stat.etag);
  const path = await store.localPath?.(bucket, key);
  if (path) return { ref: { kind: 'file', id, path, size: stat.size }, target: undefined };
  return { ref: { kind: 'object', id, size: stat.size }, target: { kind: 'object', version: { bucket, key, etag: stat.etag, size: stat.size } } };
}
