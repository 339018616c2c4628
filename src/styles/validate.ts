// TEMPORARY until src/process/image-process.ts exports them: minimal stand-ins for validateStyleName and
// parseStyleContent, so the style store and routes import them from one place (this module) and the merge
// only swaps this file's re-exports for `export { parseStyleContent, validateStyleName } from '../process/image-process.js'`.
import { errors } from '../errors.js';

/** What the content parser needs to check a style's actions (the real parser's limits replace this). */
export interface StyleContentLimits {
  maxOutputDimension: number;
}

const STYLE_NAME = /^[A-Za-z0-9_.-]{1,63}$/;

/** 1–63 characters of `[A-Za-z0-9_.-]`; anything else → 400 InvalidArgument, EC 0017-00000251. */
export function validateStyleName(name: string): void {
  if (!STYLE_NAME.test(name)) throw errors.invalidStyleName(name);
}

/**
 * A style's content must be an `image/…` process string without `; ()'*?` and without `sys/saveas`
 * (→ 400 BadRequest, EC 0017-00000253). The real parser also validates every action and returns them.
 */
export function parseStyleContent(content: string, _limits: StyleContentLimits): void {
  if (!content.startsWith('image/') || /[; ()'*?]/.test(content) || content.includes('sys/saveas')) throw errors.invalidStyleContent();
}
