// The OSS error body: XML with Code, Message, RequestId, HostId and EC, plus the x-oss-ec header.
import type { AppError } from '../errors.js';

const ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };

// Messages quote what the client sent (keys, bucket names, parameters, the Host header), so they may hold
// characters XML 1.0 forbids (C0 controls other than tab/LF/CR, U+FFFE/U+FFFF, lone surrogates) — a raw
// one makes the whole body unparseable. No XML escape exists for them (`&#1;` is forbidden too), so they
// are written as visible escapes: a backslash, `u` and the code unit's four hex digits. CR (normalised
// away by parsers), DEL and the C1 controls are allowed but invisible, so they get the same treatment:
// the message shows exactly which code unit arrived.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the control characters XML forbids is the point
const UNSAFE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const visible = (ch: string) => `\\u${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;

/** Text for XML 1.0 element content: markup characters as entities, forbidden or invisible ones as a visible `\u` escape with four hex digits. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => ENTITIES[ch]!).replace(UNSAFE, visible);
}

export function ossErrorBody(err: AppError, requestId: string, hostId: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Error>',
    `  <Code>${escapeXml(err.code)}</Code>`,
    `  <Message>${escapeXml(err.message)}</Message>`,
    `  <RequestId>${escapeXml(requestId)}</RequestId>`,
    `  <HostId>${escapeXml(hostId)}</HostId>`,
    ...(err.ec ? [`  <EC>${escapeXml(err.ec)}</EC>`] : []),
    '</Error>',
    '',
  ].join('\n');
}

export function ossErrorHeaders(err: AppError): Record<string, string> {
  const headers: Record<string, string> = { ...err.headers, 'Content-Type': 'application/xml' };
  if (err.ec) headers['x-oss-ec'] = err.ec;
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  return headers;
}
