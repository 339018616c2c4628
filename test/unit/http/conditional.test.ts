// HTTP validators (src/http/conditional.ts): conditional requests (RFC 9110 §13: If-Match,
// If-Unmodified-Since, If-None-Match, If-Modified-Since, in that order of precedence, dates compared to the
// second) and single byte ranges (§14, with If-Range).
import { describe, expect, it } from 'vitest';
import { evaluateConditions, evaluateRange, type Validators } from '../../../src/http/conditional.js';

const V: Validators = { etag: '"abc"', lastModified: new Date('2026-03-05T12:00:00.900Z') };
const AT = 'Thu, 05 Mar 2026 12:00:00 GMT'; // lastModified, to the second
const BEFORE = 'Thu, 05 Mar 2026 11:59:59 GMT';
const AFTER = 'Fri, 06 Mar 2026 00:00:00 GMT';

const conditions = (headers: Record<string, string>) => evaluateConditions(new Headers(headers), V);
const range = (headers: Record<string, string>, size = 1000) => evaluateRange(new Headers(headers), size, V);

describe('evaluateConditions', () => {
  it('no validators: proceed', () => {
    expect(conditions({})).toBeUndefined();
  });

  it.each([
    ['"abc"', undefined],
    ['*', undefined],
    ['"x", "abc"', undefined],
    ['W/"abc"', undefined],
    ['"x"', 412],
    ['"abcd"', 412],
    ['', 412],
  ] as const)('If-Match %j → %s', (ifMatch, expected) => {
    expect(conditions({ 'if-match': ifMatch })).toBe(expected);
  });

  it('If-Unmodified-Since: 412 only when the object changed after it (second precision)', () => {
    expect(conditions({ 'if-unmodified-since': AT })).toBeUndefined();
    expect(conditions({ 'if-unmodified-since': AFTER })).toBeUndefined();
    expect(conditions({ 'if-unmodified-since': BEFORE })).toBe(412);
  });

  it('If-Unmodified-Since is ignored when If-Match is present', () => {
    expect(conditions({ 'if-match': '"abc"', 'if-unmodified-since': BEFORE })).toBeUndefined();
  });

  it.each([
    ['"abc"', 304],
    ['W/"abc"', 304],
    ['"x", W/"abc"', 304],
    ['*', 304],
    ['"x"', undefined],
  ] as const)('If-None-Match %j → %s (weak comparison)', (ifNoneMatch, expected) => {
    expect(conditions({ 'if-none-match': ifNoneMatch })).toBe(expected);
  });

  it('If-Modified-Since: 304 when not modified since (to the second), else proceed; unparseable is ignored', () => {
    expect(conditions({ 'if-modified-since': AT })).toBe(304);
    expect(conditions({ 'if-modified-since': AFTER })).toBe(304);
    expect(conditions({ 'if-modified-since': BEFORE })).toBeUndefined();
    expect(conditions({ 'if-modified-since': 'yesterday' })).toBeUndefined();
  });

  it('If-None-Match wins over If-Modified-Since; a failed If-Match wins over both', () => {
    expect(conditions({ 'if-none-match': '"x"', 'if-modified-since': AT })).toBeUndefined();
    expect(conditions({ 'if-none-match': '"abc"', 'if-modified-since': BEFORE })).toBe(304);
    expect(conditions({ 'if-match': '"x"', 'if-none-match': '"abc"' })).toBe(412);
    expect(conditions({ 'if-unmodified-since': BEFORE, 'if-none-match': '"abc"' })).toBe(412);
  });
});

describe('evaluateRange', () => {
  it('no Range header: the whole object', () => {
    expect(range({})).toEqual({ kind: 'full' });
  });

  it.each([
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=0-0', { kind: 'partial', start: 0, end: 0 }],
    ['bytes=500-', { kind: 'partial', start: 500, end: 999 }],
    ['bytes=999-', { kind: 'partial', start: 999, end: 999 }],
    ['bytes=0-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    [' bytes=10-19 ', { kind: 'partial', start: 10, end: 19 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=1000-2000', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=5-2', { kind: 'full' }],
    ['bytes=0-1,5-6', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
    ['items=0-1', { kind: 'full' }],
    ['bytes=a-b', { kind: 'full' }],
  ] as const)('%j of 1000 bytes → %j', (header, expected) => {
    expect(range({ range: header })).toEqual(expected);
  });

  it('an empty object has no satisfiable range', () => {
    expect(range({ range: 'bytes=0-' }, 0)).toEqual({ kind: 'unsatisfiable' });
    expect(range({ range: 'bytes=-10' }, 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('If-Range: the range applies only to the version named (strong ETag, or a date not before the change)', () => {
    const partial = { kind: 'partial', start: 0, end: 9 };
    expect(range({ range: 'bytes=0-9', 'if-range': '"abc"' })).toEqual(partial);
    expect(range({ range: 'bytes=0-9', 'if-range': '"old"' })).toEqual({ kind: 'full' });
    expect(range({ range: 'bytes=0-9', 'if-range': 'W/"abc"' })).toEqual({ kind: 'full' });
    expect(range({ range: 'bytes=0-9', 'if-range': AT })).toEqual(partial);
    expect(range({ range: 'bytes=0-9', 'if-range': BEFORE })).toEqual({ kind: 'full' });
  });
});
