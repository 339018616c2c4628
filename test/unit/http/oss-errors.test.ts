// The OSS error renderer (src/http/oss-errors.ts): the XML body (Code, Message, RequestId, HostId, EC),
// always well-formed XML 1.0 whatever the message quotes, and the headers an error implies.
import { describe, expect, it } from 'vitest';
import { AppError, errors } from '../../../src/errors.js';
import { escapeXml, ossErrorBody, ossErrorHeaders } from '../../../src/http/oss-errors.js';
import { parseErrorXml } from '../../support/xml.js';

describe('escapeXml', () => {
  it('markup characters become entities', () => {
    expect(escapeXml(`<a href="x">Tom & 'Jerry'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;');
  });

  it('characters XML 1.0 forbids, and invisible controls, become visible \\uXXXX text', () => {
    expect(escapeXml('a\u0000b\u0008c\u000bd\u001fe')).toBe('a\\u0000b\\u0008c\\u000Bd\\u001Fe');
    expect(escapeXml('del\u007f c1\u0085\u009f')).toBe('del\\u007F c1\\u0085\\u009F');
    expect(escapeXml('\ufffe\uffff')).toBe('\\uFFFE\\uFFFF');
    expect(escapeXml('lone \ud800 high, lone \udc00 low')).toBe('lone \\uD800 high, lone \\uDC00 low');
  });

  it('keeps what XML allows: tab, line feed, text in any script, pairs of surrogates', () => {
    expect(escapeXml('tab\tlf\n漢字 é 😀')).toBe('tab\tlf\n漢字 é 😀');
  });
});

describe('ossErrorBody', () => {
  it('the OSS layout, with the EC where the error has one', () => {
    const err = errors.snapshotParam('t', 'integer >= 0', 'abc');
    expect(ossErrorBody(err, '5F3A0000000000000000000A', 'media.example.com')).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<Error>',
        '  <Code>InvalidArgument</Code>',
        '  <Message>Expected integer &gt;= 0 for t but received &quot;abc&quot;.</Message>',
        '  <RequestId>5F3A0000000000000000000A</RequestId>',
        '  <HostId>media.example.com</HostId>',
        '  <EC>0053-00000101</EC>',
        '</Error>',
        '',
      ].join('\n'),
    );
    expect(ossErrorBody(errors.noSuchKey('a.mp4'), 'R', 'H')).not.toContain('<EC>');
  });

  it('stays parseable by a strict XML parser whatever the request quoted', () => {
    const hostile = errors.noSuchKey('a\u0000<b>&\u001b[31m\ud800\u007f');
    const parsed = parseErrorXml(ossErrorBody(hostile, 'R', 'h\u0001ost'));
    expect(parsed).toMatchObject({ Code: 'NoSuchKey', Message: 'The specified key "a\\u0000<b>&\\u001B[31m\\uD800\\u007F" does not exist.', HostId: 'h\\u0001ost' });
  });
});

describe('ossErrorHeaders', () => {
  it('XML content type, x-oss-ec, Retry-After and the error\'s own headers', () => {
    expect(ossErrorHeaders(errors.snapshotParam('w', 'x', 'y'))).toEqual({ 'Content-Type': 'application/xml', 'x-oss-ec': '0053-00000104' });
    expect(ossErrorHeaders(errors.saturated(5))).toEqual({ 'Content-Type': 'application/xml', 'Retry-After': '5' });
    expect(ossErrorHeaders(errors.invalidRange(1000))).toEqual({ 'Content-Type': 'application/xml', 'Content-Range': 'bytes */1000' });
    expect(ossErrorHeaders(new AppError(413, 'EntityTooLarge', 'big', { headers: { Connection: 'close' } }))).toEqual({ Connection: 'close', 'Content-Type': 'application/xml' });
  });
});
