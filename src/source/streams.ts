// Stream helpers shared by the remote adapters.
import { Transform, type Readable } from 'node:stream';

/**
 * Drops `skip` bytes, then passes `length` bytes and ends, destroying `source` (an origin that ignored a
 * Range header, or a server that sent more than the range asked for, still yields exactly the range).
 */
export function sliceStream(source: Readable, skip: number, length: number): Readable {
  let seen = 0;
  let ended = false;
  const slice = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (ended) return done();
      const from = Math.max(0, skip - seen);
      const to = Math.min(chunk.length, skip + length - seen);
      seen += chunk.length;
      if (to > from) this.push(chunk.subarray(from, to));
      if (seen >= skip + length) {
        ended = true;
        this.push(null);
      }
      done();
    },
  });
  source.on('error', (err) => slice.destroy(err));
  slice.on('close', () => source.destroy());
  if (length === 0) {
    ended = true;
    slice.end();
  }
  return source.pipe(slice);
}
