// HTTP validators shared by plain objects and snapshots: conditional requests (RFC 9110 §13) and byte
// ranges (RFC 9110 §14), reduced to the single-range form browsers, players and CDNs send.

export interface Validators {
  etag: string;
  lastModified: Date;
}

const matches = (header: string, etag: string) =>
  header.trim() === '*' || header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);

const notAfter = (lastModified: Date, header: string) => {
  const since = Date.parse(header);
  return Number.isFinite(since) && Math.floor(lastModified.getTime() / 1000) <= Math.floor(since / 1000);
};

/** 304 when the client's copy is current, 412 when its precondition fails, else undefined (proceed). */
/** Only `get` is read: Fetch Headers or a view of the request's headers (src/http/context.ts). */
export type HeaderGetter = { get(name: string): string | null };

export function evaluateConditions(headers: HeaderGetter, v: Validators): 304 | 412 | undefined {
  const ifMatch = headers.get('if-match');
  if (ifMatch !== null && !matches(ifMatch, v.etag)) return 412;
  const ifUnmodified = headers.get('if-unmodified-since');
  if (ifMatch === null && ifUnmodified !== null && !notAfter(v.lastModified, ifUnmodified)) return 412;
  const ifNoneMatch = headers.get('if-none-match');
  if (ifNoneMatch !== null) return matches(ifNoneMatch, v.etag) ? 304 : undefined;
  const ifModified = headers.get('if-modified-since');
  if (ifModified !== null && notAfter(v.lastModified, ifModified)) return 304;
  return undefined;
}

export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

export function evaluateRange(headers: HeaderGetter, size: number, v: Validators): RangeResult {
  const range = headers.get('range');
  if (!range) return { kind: 'full' };
  // If-Range: the range applies only to the version the client already has part of.
  const ifRange = headers.get('if-range');
  if (ifRange !== null) {
    const current = ifRange.startsWith('"') || ifRange.startsWith('W/') ? ifRange === v.etag : notAfter(v.lastModified, ifRange);
    if (!current) return { kind: 'full' };
  }
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  // Multiple ranges and other units are legal to ignore: answer the whole object.
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return { kind: 'full' };
  }
  if (start >= size || size === 0) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
