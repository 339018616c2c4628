// The OSS error body: XML with Code, Message, RequestId, HostId and EC, plus the x-oss-ec header.
import type { AppError } from '../errors.js';

const escapeXml = (s: string) =>
  s.replace(/[<>&"']/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch]!);

export function ossErrorBody(err: AppError, requestId: string, hostId: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Error>',
    `  <Code>${escapeXml(err.code)}</Code>`,
    `  <Message>${escapeXml(err.message)}</Message>`,
    `  <RequestId>${escapeXml(requestId)}</RequestId>`,
    `  <HostId>${escapeXml(hostId)}</HostId>`,
    ...(err.ec ? [`  <EC>${err.ec}</EC>`] : []),
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
