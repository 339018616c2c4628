// Error bodies stay parseable whatever the request held: every OSS XML error body is parsed by a strict
// XML 1.0 parser (saxes) and every IMM JSON error body by JSON.parse, over hostile paths, parameters and
// Host headers (control characters, DEL, C1, noncharacters, markup). Characters XML forbids appear as
// visible `\uXXXX` text, so the message still says what arrived.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeXml } from '../../src/http/oss-errors.js';
import { startServer, type TestServer } from '../support/server.js';
import { parseErrorXml } from '../support/xml.js';

let open: TestServer;
let keyed: TestServer;

beforeAll(async () => {
  const objects = { 'files/ok.txt': Buffer.from('ok') };
  open = await startServer({ objects });
  keyed = await startServer({ objects, env: { STILLFRAME_ACCESS_KEYS: 'key-1:secret-1' } });
});
afterAll(async () => {
  await open?.close();
  await keyed?.close();
});

/**
 * One request with the path and headers exactly as given (node:http sends a percent-encoded path as is and
 * header bytes 0x80–0xFF as Latin-1; fetch would normalise both), answered in full.
 */
function raw(url: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers: { host: '127.0.0.1', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

// Paths and parameters as they go on the wire: percent-encoded controls that the server decodes and quotes.
const HOSTILE_TARGETS = [
  '/%01ab/key',
  '/%00/key',
  '/files%1B[31m/key',
  '/%7Fbucket/x',
  '/%C2%85nel/x',
  '/%EF%BF%BEnonchar/x',
  '/%EF%BF%BF/x',
  '/%0D%0Abucket/x',
  '/files/%01key',
  '/files/a%08b',
  '/files/%E2%80%AEreversed',
  '/files/%3C%2FMessage%3E%3CCode%3Ex',
  '/files/ok.txt?x-oss-process=video/snapshot,t_%01',
  '/files/ok.txt?x-oss-process=video/snapshot,t_1%1B[0m',
  '/files/ok.txt?x-oss-process=video/snapshot,w_%C2%9B',
  '/files/ok.txt?x-oss-process=video/snapshot,f_%EF%BF%BE',
  '/files/ok.txt?x-oss-process=video/snapshot,m_%3C%21%5BCDATA%5B%01',
  '/files/ok.txt?x-oss-process=video/%00snapshot',
  '/files/ok.txt?x-oss-process=%01&x-oss-process=%02',
  '/files/ok.txt?x-oss-process=image/resize%0B',
  '/files/ok.txt?OSSAccessKeyId=%01&Expires=1&Signature=%02',
  '/files/ok.txt?x-oss-signature-version=%01',
  '/files/%ED%A0%80',
];

describe('OSS XML error bodies', () => {
  it('escapeXml writes forbidden and invisible characters as \\uXXXX and keeps the rest', () => {
    expect(escapeXml('a\u0001b\tc\nd\re\u007F\u0085\uFFFE\uD800x\uD83D\uDE00<&>"\'')).toBe(
      'a\\u0001b\tc\nd\\u000De\\u007F\\u0085\\uFFFE\\uD800x\uD83D\uDE00&lt;&amp;&gt;&quot;&apos;',
    );
  });

  for (const [name, server] of [['open access', () => open], ['access keys', () => keyed]] as const) {
    it(`every hostile path or parameter answers a 4xx whose XML a strict parser accepts (${name})`, async () => {
      for (const target of HOSTILE_TARGETS) {
        for (const method of ['GET', 'POST', 'DELETE']) {
          const res = await raw(server().url, method, target);
          expect(res.status, `${method} ${target}`).toBeLessThan(500);
          // Without keys, junk signature parameters are ignored and ok.txt is served.
          if (res.status < 400 && name === 'open access' && /(Signature|signature-version)=/.test(target)) continue;
          expect(res.status, `${method} ${target}`).toBeGreaterThanOrEqual(400);
          expect(res.type, target).toBe('application/xml');
          let fields: Record<string, string> = {};
          expect(() => (fields = parseErrorXml(res.body)), `${method} ${target}: ${JSON.stringify(res.body)}`).not.toThrow();
          expect(fields.Code, target).toMatch(/^[A-Za-z.]+$/);
          expect(fields.RequestId, target).toMatch(/^[0-9A-F]{24}$/);
        }
      }
    });
  }

  it('the message still shows what arrived: GET /%01ab/key', async () => {
    const res = await raw(open.url, 'GET', '/%01ab/key');
    expect(res.status).toBe(400);
    expect(parseErrorXml(res.body)).toMatchObject({ Code: 'InvalidBucketName', Message: 'The bucket name "\\u0001ab" is not valid.' });
    const process = await raw(open.url, 'GET', '/files/ok.txt?x-oss-process=video/snapshot,t_%7F%C2%9B%EF%BF%BF');
    expect(parseErrorXml(process.body)).toMatchObject({ Code: 'InvalidArgument', Message: 'Expected integer >= 0 for t but received "\\u007F\\u009B\\uFFFF".' });
  });

  it('hostile Host headers (obs-text, C1 controls, markup) never reach HostId unescaped', async () => {
    // Node reads header bytes 0x80–0xFF as Latin-1 (0x85 → U+0085). A Host that is no valid URL host is
    // refused by the HTTP adapter with an empty 400 before the app runs; any other is quoted escaped.
    for (const host of ['evil\u0085\u009b', 'a<b>&c', "x'y\"z", 'h\u00ff:1', 'ok.example:8080']) {
      const res = await raw(open.url, 'GET', '/%01/x', { host });
      expect(res.status, host).toBe(400);
      if (!res.body) continue;
      const fields = parseErrorXml(res.body);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is that no control character is left
      expect(fields.HostId, host).not.toMatch(/[\u0000-\u001F\u007F-\u009F]/);
    }
    expect(parseErrorXml((await raw(open.url, 'GET', '/%01/x', { host: 'ok.example:8080' })).body).HostId).toBe('ok.example:8080');
  });
});

describe('IMM JSON error bodies', () => {
  const HOSTILE_ACTIONS = ['%01', '%00Get', 'Get%7FTask', '%C2%85', '%EF%BF%BE', '%ED%A0%80', '%3C%2Fscript%3E%0D%0A'];

  for (const [name, server] of [['open access', () => open], ['access keys', () => keyed]] as const) {
    it(`answers JSON that JSON.parse accepts, with no raw control character (${name})`, async () => {
      const targets = [
        ...HOSTILE_ACTIONS.map((a) => `/?Action=${a}`),
        '/?Action=GetTask&ProjectName=%01&TaskId=%1B&TaskType=MediaConvert',
        '/?Action=CreateProject&ProjectName=%7F%C2%9B',
        '/?Action=ListTasks&Version=%00',
      ];
      for (const target of targets) {
        for (const method of ['GET', 'POST']) {
          const res = await raw(server().url, method, target, { 'content-length': '0' });
          expect(res.status, target).toBeGreaterThanOrEqual(400);
          expect(res.status, target).toBeLessThan(500);
          // JSON forbids raw C0 controls in strings (DEL and C1 are legal JSON, left as JSON.stringify writes them).
          // biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is that no control character is left
          expect(res.body, target).not.toMatch(/[\u0000-\u001F]/);
          const json = JSON.parse(res.body) as Record<string, unknown>;
          expect(typeof json.Code, target).toBe('string');
          expect(json.RequestId, target).toMatch(/^[0-9A-F]{24}$/);
        }
      }
    });
  }

  it('keeps the offending characters readable in the message', async () => {
    const res = await raw(open.url, 'GET', '/?Action=%01Bad');
    const json = JSON.parse(res.body) as Record<string, string>;
    expect(json.Code).toBe('InvalidAction.NotFound');
    expect(json.Message).toContain('"\u0001Bad"');
  });
});
