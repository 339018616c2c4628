// The one comparison of secrets (signatures, tokens): constant time, so an attacker cannot learn a
// secret byte by byte from response times. Only the length may leak, which a signature's is public.
import { timingSafeEqual } from 'node:crypto';

export function equalSecret(expected: string | Buffer, given: string | Buffer): boolean {
  const a = typeof expected === 'string' ? Buffer.from(expected) : expected;
  const b = typeof given === 'string' ? Buffer.from(given) : given;
  return a.length === b.length && timingSafeEqual(a, b);
}
