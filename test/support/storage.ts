// Real servers for the storage tests: an S3-compatible server (s3rver, in process, on disk) behind a
// proxy that counts what it serves, and nginx when installed (the Node HTTP origin is origin-server.ts;
// stillframe itself over any of them is startServer({ env }) of server.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

// s3rver accepts any credentials whose key id it knows: these are its built-in pair.
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface Counter {
  requests: { method: string; path: string; range: string | undefined; status: number; bytes: number }[];
  bytes(): number;
  reset(): void;
}

/** An HTTP proxy to 127.0.0.1:`port` that forwards requests unchanged (Host too: SigV4 signs it) and counts responses. */
export async function startCountingProxy(port: number): Promise<{ url: string; counter: Counter; close(): Promise<void> }> {
  const requests: Counter['requests'] = [];
  const server: Server = createServer((req, res) => {
    const entry = { method: req.method ?? '', path: req.url ?? '', range: req.headers.range, status: 0, bytes: 0 };
    requests.push(entry);
    const upstream = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      entry.status = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, up.rawHeaders);
      up.on('data', (chunk: Buffer) => {
        entry.bytes += chunk.length;
      });
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counter: {
      requests,
      bytes: () => requests.reduce((sum, r) => sum + r.bytes, 0),
      reset: () => {
        requests.length = 0;
      },
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface S3Server {
  /** The endpoint clients use (the counting proxy in front of s3rver). */
  endpoint: string;
  counter: Counter;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  put(bucket: string, key: string, body: Buffer | string): Promise<void>;
  /** Settings for a stillframe server on this S3 service. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3(): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'stillframe-s3rver-'));
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory });
  const { port } = await s3rver.run();
  const proxy = await startCountingProxy(port);
  const client = new S3Client({
    endpoint: proxy.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint: proxy.url,
    counter: proxy.counter,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async put(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    env: {
      STILLFRAME_STORAGE: 's3://',
      STILLFRAME_S3_ENDPOINT: proxy.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    },
    async close() {
      client.destroy();
      await proxy.close();
      await s3rver.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));

export interface Nginx {
  base: string;
  root: string;
  close(): Promise<void>;
}

/** nginx serving `root` at `/prefix/` (Range, strong ETags, If-Match and 304s are nginx's own). */
export async function startNginx(root: string, prefix = '/media'): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'stillframe-nginx-'));
  // Workers of a root master run as nobody: the served tree must be world-readable.
  await chmod(root, 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location ${prefix}/ { alias ${root}/; }
  }
}
`,
  );
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}${prefix}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    base,
    root,
    async close() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `body` at root/bucket/key (creating directories): how files change behind a directory-backed store. */
export async function putFile(root: string, bucket: string, key: string, body: Buffer | string): Promise<void> {
  const path = join(root, bucket, key);
  await mkdir(dirname(path), { recursive: true });
  // Write beside and rename: the origin never serves half a file.
  await writeFile(`${path}.tmp`, body);
  await rename(`${path}.tmp`, path);
}
