// The one comparison of secrets (src/core/equal-secret.ts): equal only when every byte is, strings or
// buffers alike; a different length is simply unequal (never a thrown RangeError).
import { describe, expect, it } from 'vitest';
import { equalSecret } from '../../../src/core/equal-secret.js';

describe('equalSecret', () => {
  it('compares bytes: strings as UTF-8, buffers as they are', () => {
    expect(equalSecret('abc', 'abc')).toBe(true);
    expect(equalSecret('abc', 'abd')).toBe(false);
    expect(equalSecret(Buffer.from('é'), 'é')).toBe(true);
    expect(equalSecret('é', 'e')).toBe(false);
    expect(equalSecret('', '')).toBe(true);
  });

  it('a different length is unequal', () => {
    expect(equalSecret('abc', 'abcd')).toBe(false);
    expect(equalSecret('abc', '')).toBe(false);
  });
});
