import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { canonicalSnapshot, parseSnapshotProcess } from '../../../src/process/snapshot.js';

const limits = { maxOutputDimension: 4096 };
const parse = (s: string) => parseSnapshotProcess(s, limits);

function failure(s: string): { message: string; ec: string | undefined; status: number } {
  try {
    parse(s);
  } catch (err) {
    if (err instanceof AppError) return { message: err.message, ec: err.ec, status: err.status };
    throw err;
  }
  throw new Error(`expected ${s} to fail`);
}

describe('parseSnapshotProcess', () => {
  it('parses every parameter', () => {
    expect(parse('video/snapshot,t_7000,f_png,w_800,h_600,m_fast,ar_auto')).toEqual({
      timeMs: 7000, width: 800, height: 600, seek: 'keyframe', format: 'png', orientation: 'auto',
    });
  });

  it('has OSS defaults: t 0, jpg, exact, source size, no rotation', () => {
    expect(parse('video/snapshot')).toEqual({ timeMs: 0, width: 0, height: 0, seek: 'exact', format: 'jpg', orientation: 'none' });
  });

  it('accepts webp and avif as extensions', () => {
    expect(parse('video/snapshot,f_webp').format).toBe('webp');
    expect(parse('video/snapshot,f_avif').format).toBe('avif');
  });

  it('gives the same canonical form whatever the parameter order', () => {
    expect(canonicalSnapshot(parse('video/snapshot,t_1000,f_jpg'))).toBe(canonicalSnapshot(parse('video/snapshot,f_jpg,t_1000')));
    expect(canonicalSnapshot(parse('video/snapshot,t_1000'))).toBe(canonicalSnapshot(parse('video/snapshot,f_jpg,t_1000,w_0')));
    expect(canonicalSnapshot(parse('video/snapshot,t_1000'))).not.toBe(canonicalSnapshot(parse('video/snapshot,t_1000,m_fast')));
  });

  it.each([
    ['video/snapshot,t_abc', 'Expected integer >= 0 for t but received "abc".', '0053-00000101'],
    ['video/snapshot,t_-5', 'Expected integer >= 0 for t but received "-5".', '0053-00000101'],
    ['video/snapshot,t_1.5', 'Expected integer >= 0 for t but received "1.5".', '0053-00000101'],
    ['video/snapshot,t_', 'Expected integer >= 0 for t but received "".', '0053-00000101'],
    ['video/snapshot,w_-3', 'Expected integer between 0 and 4096 for w but received "-3".', '0053-00000104'],
    ['video/snapshot,w_5000', 'Expected integer between 0 and 4096 for w but received "5000".', '0053-00000104'],
    ['video/snapshot,h_x', 'Expected integer between 0 and 4096 for h but received "x".', '0053-00000105'],
    ['video/snapshot,m_slow', 'Expected one of fast, best, best<ms> (ms between 100 and 10000) for m but received "slow".', '0053-00000106'],
    ['video/snapshot,f_gif', 'Expected one of jpg, png, webp, avif for f but received "gif".', '0053-00000107'],
    ['video/snapshot,ar_x', 'Expected one of auto, w, h for ar but received "x".', '0053-00000108'],
    ['video/snapshot,q_80', 'Unknown parameter "q" in video/snapshot: expected t, w, h, m, f or ar.', '0053-00000109'],
    ['video/snapshot,t1000', 'Malformed parameter "t1000" in x-oss-process: expected name_value.', '0053-00000109'],
    ['video/snapshot,,t_1', 'Malformed parameter "" in x-oss-process: expected name_value.', '0053-00000109'],
    ['video/snapshot,t_1,t_2', 'Parameter "t" appears more than once in x-oss-process.', '0053-00000109'],
    ['image/resize,w_100', 'Unsupported x-oss-process action "image/resize": only video/snapshot is supported.', '0053-00000109'],
    ['', 'Unsupported x-oss-process action "": only video/snapshot is supported.', '0053-00000109'],
  ])('rejects %j', (input, message, ec) => {
    expect(failure(input)).toEqual({ message, ec, status: 400 });
  });

  it('rejects over-long process strings before parsing them', () => {
    expect(failure(`video/snapshot,${'t_1,'.repeat(100)}`).ec).toBe('0053-00000109');
  });

  it('bounds t so it stays a safe integer', () => {
    expect(failure('video/snapshot,t_99999999999999').ec).toBe('0053-00000101');
  });
});

describe('canonicalSnapshot', () => {
  it('spells every plan one way: t, w, h, f always; m_fast and ar only when set', () => {
    expect(canonicalSnapshot(parse('video/snapshot'))).toBe('video/snapshot,t_0,w_0,h_0,f_jpg');
    expect(canonicalSnapshot(parse('video/snapshot,ar_w,h_90,m_fast,f_webp,w_160,t_7000'))).toBe('video/snapshot,t_7000,w_160,h_90,f_webp,m_fast,ar_w');
    expect(canonicalSnapshot(parse('video/snapshot,t_0007000,ar_auto'))).toBe('video/snapshot,t_7000,w_0,h_0,f_jpg,ar_auto');
  });

  it('the longest t, and w/h up to the configured limit', () => {
    expect(parse('video/snapshot,t_10000000000').timeMs).toBe(10_000_000_000);
    expect(failure('video/snapshot,t_10000000001').message).toBe('Expected integer >= 0 for t but received "10000000001".');
    expect(parseSnapshotProcess('video/snapshot,w_8000', { maxOutputDimension: 8000 }).width).toBe(8000);
  });
});

describe('extensions: t as a share of the duration, m_best', () => {
  it('t_<n>p keeps the percentage (resolved by the worker); t_0 and t_0p stay distinct', () => {
    expect(parse('video/snapshot,t_50p')).toEqual({ timeMs: 0, timePercent: 50, width: 0, height: 0, seek: 'exact', format: 'jpg', orientation: 'none' });
    expect(parse('video/snapshot,t_12.5p').timePercent).toBe(12.5);
    expect(parse('video/snapshot,t_0p').timePercent).toBe(0);
    expect(parse('video/snapshot,t_100p').timePercent).toBe(100);
    expect(parse('video/snapshot,t_99.999p').timePercent).toBe(99.999);
    expect(parse('video/snapshot,t_1000').timePercent).toBeUndefined();
  });

  it('spells a percentage one way in the canonical form', () => {
    expect(canonicalSnapshot(parse('video/snapshot,t_50p'))).toBe('video/snapshot,t_50p,w_0,h_0,f_jpg');
    expect(canonicalSnapshot(parse('video/snapshot,t_050.0p,m_fast'))).toBe('video/snapshot,t_50p,w_0,h_0,f_jpg,m_fast');
    expect(canonicalSnapshot(parse('video/snapshot,t_12.50p'))).toBe('video/snapshot,t_12.5p,w_0,h_0,f_jpg');
    expect(canonicalSnapshot(parse('video/snapshot,t_0p'))).not.toBe(canonicalSnapshot(parse('video/snapshot,t_0')));
    expect(canonicalSnapshot(parse('video/snapshot,t_50p'))).not.toBe(canonicalSnapshot(parse('video/snapshot,t_50')));
  });

  it('works with m_fast and m_best', () => {
    expect(parse('video/snapshot,t_25p,m_fast')).toMatchObject({ timePercent: 25, seek: 'keyframe' });
    expect(parse('video/snapshot,t_25p,m_best')).toMatchObject({ timePercent: 25, seek: 'exact', best: { windowMs: 3000 } });
  });

  it('m_best has a 3000 ms window by default; m_best<ms> sets it, 100 to 10000', () => {
    expect(parse('video/snapshot,t_1000,m_best')).toEqual({ timeMs: 1000, width: 0, height: 0, seek: 'exact', best: { windowMs: 3000 }, format: 'jpg', orientation: 'none' });
    expect(parse('video/snapshot,m_best5000').best).toEqual({ windowMs: 5000 });
    expect(parse('video/snapshot,m_best100').best).toEqual({ windowMs: 100 });
    expect(parse('video/snapshot,m_best10000').best).toEqual({ windowMs: 10_000 });
    expect(parse('video/snapshot,m_fast').best).toBeUndefined();
  });

  it('spells m_best with its window, so m_best and m_best3000 share a cache key', () => {
    expect(canonicalSnapshot(parse('video/snapshot,m_best,t_2000'))).toBe('video/snapshot,t_2000,w_0,h_0,f_jpg,m_best3000');
    expect(canonicalSnapshot(parse('video/snapshot,m_best3000,t_2000'))).toBe('video/snapshot,t_2000,w_0,h_0,f_jpg,m_best3000');
    expect(canonicalSnapshot(parse('video/snapshot,t_10p,m_best0500,ar_auto,w_160'))).toBe('video/snapshot,t_10p,w_160,h_0,f_jpg,m_best500,ar_auto');
    expect(canonicalSnapshot(parse('video/snapshot,m_best'))).not.toBe(canonicalSnapshot(parse('video/snapshot')));
  });

  const T_EXPECTED = 'Expected integer >= 0, or a percentage of the duration between 0p and 100p for t but received';
  const M_EXPECTED = 'Expected one of fast, best, best<ms> (ms between 100 and 10000) for m but received';
  it.each([
    ['video/snapshot,t_101p', `${T_EXPECTED} "101p".`, '0053-00000101'],
    ['video/snapshot,t_100.001p', `${T_EXPECTED} "100.001p".`, '0053-00000101'],
    ['video/snapshot,t_-1p', `${T_EXPECTED} "-1p".`, '0053-00000101'],
    ['video/snapshot,t_p', `${T_EXPECTED} "p".`, '0053-00000101'],
    ['video/snapshot,t_.5p', `${T_EXPECTED} ".5p".`, '0053-00000101'],
    ['video/snapshot,t_5.p', `${T_EXPECTED} "5.p".`, '0053-00000101'],
    ['video/snapshot,t_1.2345p', `${T_EXPECTED} "1.2345p".`, '0053-00000101'],
    ['video/snapshot,t_50pp', `${T_EXPECTED} "50pp".`, '0053-00000101'],
    ['video/snapshot,t_50%', 'Expected integer >= 0 for t but received "50%".', '0053-00000101'],
    ['video/snapshot,t_1e2p', `${T_EXPECTED} "1e2p".`, '0053-00000101'],
    ['video/snapshot,m_best99', `${M_EXPECTED} "best99".`, '0053-00000106'],
    ['video/snapshot,m_best10001', `${M_EXPECTED} "best10001".`, '0053-00000106'],
    ['video/snapshot,m_best-5', `${M_EXPECTED} "best-5".`, '0053-00000106'],
    ['video/snapshot,m_BEST', `${M_EXPECTED} "BEST".`, '0053-00000106'],
    ['video/snapshot,m_best_3000', `${M_EXPECTED} "best_3000".`, '0053-00000106'],
    ['video/snapshot,m_fast,m_best', 'Parameter "m" appears more than once in x-oss-process.', '0053-00000109'],
  ])('rejects %j', (input, message, ec) => {
    expect(failure(input)).toEqual({ message, ec, status: 400 });
  });

  it('OSS-valid values keep their meaning', () => {
    expect(parse('video/snapshot,t_50')).toMatchObject({ timeMs: 50, seek: 'exact' });
    expect(parse('video/snapshot,t_50').timePercent).toBeUndefined();
    expect(parse('video/snapshot,t_50').best).toBeUndefined();
    expect(parse('video/snapshot,m_fast').seek).toBe('keyframe');
  });
});
