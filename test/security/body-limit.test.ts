// Request bodies other than PUT uploads are bounded (STILLFRAME_MAX_BODY_BYTES, 1 MiB by default) while
// they stream in: a Content-Length over the limit, or a chunked body reaching it, is answered 413 in the
// protocol's error format before anything parses the body or checks a signature, and the connection is
// closed. Proofs that no signature work ran: a bad signature answers 413, not 403, and the nonce of a
// refused signed request is still unused afterwards.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { rpcSignature } from '../../src/http/imm-auth.js';
import { startServer, type TestServer } from '../support/server.js';
import { parseErrorXml } from '../support/xml.js';

const MiB = 1024 * 1024;
const KEY_ID = 'body-key';
const SECRET = 'body-secret-0123456789';

let keyed: TestServer;
let small: TestServer;

beforeAll(async () => {
  keyed = await startServer({ objects: { 'media/ok.txt': Buffer.from('ok') }, env: { STILLFRAME_ACCESS_KEYS: `${KEY_ID}:${SECRET}` } });
  small = await startServer({ objects: { 'media/ok.txt': Buffer.from('ok') }, env: { STILLFRAME_MAX_BODY_BYTES: '64KB', STILLFRAME_ALLOW_PUT: 'true' } });
  await small.deps.tasks.ensureProject('p');
});
afterAll(async () => {
  for (const s of [keyed, small]) {
    await s?.deps.tasks.close();
    await s?.close();
  }
});

interface Sent {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Body bytes the client had handed to the socket when the answer arrived. */
  writtenAtAnswer: number;
  /** The request body was still open (not ended) when the answer arrived. */
  bodyOpenAtAnswer: boolean;
}

/**
 * Sends `total` body bytes in 64 KiB chunks (Infinity: never ends, bounded at 64 MiB), chunked unless
 * `contentLength` is given, and stops writing as soon as the answer arrives.
 */
function send(url: string, method: string, options: { total: number; contentLength?: number; headers?: Record<string, string>; fill?: string }): Promise<Sent> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let ended = false;
    let answered = false;
    const headers: Record<string, string> = { ...options.headers };
    if (options.contentLength !== undefined) headers['content-length'] = String(options.contentLength);
    else headers['transfer-encoding'] = 'chunked';
    const req = request(url, { method, headers }, (res) => {
      answered = true;
      const at = { writtenAtAnswer: written, bodyOpenAtAnswer: !ended };
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString(), ...at });
      });
    });
    // The server may close the connection while we still write: that is the point, not a failure.
    req.on('error', (err) => (answered ? undefined : reject(err)));
    const chunk = Buffer.alloc(64 * 1024, options.fill ?? 'x');
    const limit = Math.min(options.total, 64 * MiB);
    const pump = () => {
      while (!answered && written < limit) {
        const part = chunk.subarray(0, Math.min(chunk.length, limit - written));
        written += part.length;
        if (!req.write(part)) return void req.once('drain', pump);
      }
      if (!answered && options.total !== Infinity) {
        ended = true;
        req.end();
      }
    };
    pump();
  });
}

function signedQuery(nonce: string): string {
  const params: Record<string, string> = {
    Action: 'ListProjects', Version: '2020-09-30', Format: 'JSON', AccessKeyId: KEY_ID, SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0', SignatureNonce: nonce, Timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  params.Signature = rpcSignature(SECRET, 'POST', params);
  return new URLSearchParams(params).toString();
}

const json = (s: Sent) => JSON.parse(s.body) as Record<string, string>;

describe('request body limit', () => {
  it('is 1 MiB unless STILLFRAME_MAX_BODY_BYTES says otherwise', () => {
    expect(loadConfig({}).http.maxBodyBytes).toBe(MiB);
    expect(loadConfig({ STILLFRAME_MAX_BODY_BYTES: '64KB' }).http.maxBodyBytes).toBe(64 * 1024);
    expect(() => loadConfig({ STILLFRAME_MAX_BODY_BYTES: 'lots' })).toThrow(/STILLFRAME_MAX_BODY_BYTES/);
  });

  it('IMM, Content-Length over the limit: 413 with IMM JSON before the body is even sent', async () => {
    // Declares 8 MiB, sends the first 64 KiB and waits: the answer does not wait for the rest.
    const res = await new Promise<Sent>((resolve, reject) => {
      const req = request(`${keyed.url}/?Action=ListProjects`, { method: 'POST', headers: { 'content-length': String(8 * MiB), 'content-type': 'application/x-www-form-urlencoded' } }, (r) => {
        const parts: Buffer[] = [];
        r.on('data', (d: Buffer) => parts.push(d));
        r.on('end', () => {
          req.destroy();
          resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(parts).toString(), writtenAtAnswer: 64 * 1024, bodyOpenAtAnswer: true });
        });
      });
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024, 'a'));
    });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers.connection).toBe('close');
    expect(json(res)).toMatchObject({ Code: 'EntityTooLarge', Message: `The request body is larger than ${MiB} bytes (STILLFRAME_MAX_BODY_BYTES).` });
    expect(json(res).RequestId).toMatch(/^[0-9A-F]{24}$/);
  });

  it('IMM, chunked without Content-Length: 413 once 1 MiB has arrived, while the body is still streaming', async () => {
    // The body never ends: an answer can only come from counting, never from a parser.
    const res = await send(`${keyed.url}/?Action=ListProjects`, 'POST', { total: Infinity, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(413);
    expect(res.bodyOpenAtAnswer).toBe(true);
    expect(res.writtenAtAnswer).toBeLessThan(64 * MiB);
    expect(res.headers.connection).toBe('close');
    expect(json(res).Code).toBe('EntityTooLarge');
    // 8 MiB that does end: refused too (the old handler buffered all of it before checking anything).
    const ended = await send(`${keyed.url}/`, 'POST', { total: 8 * MiB, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect([ended.status, json(ended).Code]).toEqual([413, 'EntityTooLarge']);
  });

  it('no signature check and no parsing ran: bad signatures and broken JSON answer 413, a refused nonce stays unused', async () => {
    const forged = await send(`${keyed.url}/?Action=ListProjects&AccessKeyId=${KEY_ID}&Signature=forged`, 'POST', { total: 2 * MiB, contentLength: 2 * MiB });
    expect([forged.status, json(forged).Code]).toEqual([413, 'EntityTooLarge']);
    const brokenJson = await send(`${keyed.url}/?Action=ListProjects`, 'POST', { total: 2 * MiB, headers: { 'content-type': 'application/json' }, fill: '{' });
    expect([brokenJson.status, json(brokenJson).Code]).toEqual([413, 'EntityTooLarge']);

    // A correctly signed request (signature over the query) with an oversized body, chunked and declared…
    const query = signedQuery('nonce-body-limit-1');
    const big = await send(`${keyed.url}/?${query}`, 'POST', { total: 2 * MiB });
    expect(big.status).toBe(413);
    const declared = await send(`${keyed.url}/?${query}`, 'POST', { total: 2 * MiB, contentLength: 2 * MiB });
    expect(declared.status).toBe(413);
    // …never reached the verifier: the same signed query is accepted once, now, with no body.
    const ok = await fetch(`${keyed.url}/?${query}`, { method: 'POST' });
    expect(ok.status).toBe(200);
    const replay = await fetch(`${keyed.url}/?${query}`, { method: 'POST' });
    expect([replay.status, ((await replay.json()) as Record<string, string>).Code]).toEqual([403, 'SignatureNonceUsed']);
  });

  it('OSS routes: 413 with the OSS XML error body, before the bucket ACL or the method is checked', async () => {
    // POST and DELETE are not allowed (405) and media is private (keys exist): the limit answers first.
    for (const sent of [
      await send(`${keyed.url}/media/ok.txt`, 'POST', { total: 2 * MiB, contentLength: 2 * MiB }),
      await send(`${keyed.url}/media/ok.txt`, 'POST', { total: Infinity }),
      await send(`${keyed.url}/media/ok.txt?x-oss-process=video/snapshot,t_0`, 'DELETE', { total: 2 * MiB }),
    ]) {
      expect(sent.status).toBe(413);
      expect(sent.headers['content-type']).toBe('application/xml');
      expect(parseErrorXml(sent.body)).toMatchObject({ Code: 'EntityTooLarge' });
    }
    const under = await send(`${keyed.url}/media/ok.txt`, 'POST', { total: 10, contentLength: 10 });
    expect(under.status).toBe(405);
  });

  it('STILLFRAME_MAX_BODY_BYTES=64KB: bodies up to it pass, one byte more is refused; PUT uploads stream on under their own limit', async () => {
    const form = (size: number) => {
      const base = 'ProjectName=p&UserData=';
      return base + 'u'.repeat(size - base.length);
    };
    const at = await fetch(`${small.url}/?Action=GetProject`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(64 * 1024) });
    expect(at.status).toBe(200);
    const over = await fetch(`${small.url}/?Action=GetProject`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(64 * 1024 + 1) });
    expect(over.status).toBe(413);
    const overChunked = await send(`${small.url}/?Action=GetProject`, 'POST', { total: 64 * 1024 + 1, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(overChunked.status).toBe(413);
    // A chunked body within the limit reaches the handler whole.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(`${small.url}/?Action=GetProject`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const body = form(60 * 1024);
      for (let at = 0; at < body.length; at += 4096) req.write(body.slice(at, at + 4096));
      req.end();
    });
    expect(chunked).toBe(200);

    const upload = await send(`${small.url}/media/up.bin`, 'PUT', { total: 2 * MiB });
    expect(upload.status).toBe(200);
    const stored = await fetch(`${small.url}/media/up.bin`);
    expect((await stored.arrayBuffer()).byteLength).toBe(2 * MiB);
  });
});
