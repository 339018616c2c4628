// A real stillframe HTTP server on a random loopback port over a temporary storage root, for
// integration tests: real capture workers (FFmpeg through node-av), real sharp, real sockets.
import { serve, type ServerType } from '@hono/node-server';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger, type Logger } from '../../src/log.js';

export interface TestServer {
  url: string;
  root: string;
  deps: Deps;
  /** Capture worker jobs run so far (any outcome), by kind, from /_/metrics. */
  jobs(): Promise<Record<'capture' | 'index' | 'extract' | 'probe', number>>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  /** "bucket/key" → path of a file to copy there, or a Buffer to write. */
  objects?: Record<string, string | Buffer>;
  /** The server's logger (default: silent). */
  log?: Logger;
}

export async function startServer(options: TestServerOptions = {}): Promise<TestServer> {
  const root = await mkdtemp(join(tmpdir(), 'stillframe-test-'));
  for (const [name, content] of Object.entries(options.objects ?? {})) {
    const path = join(root, name);
    await mkdir(dirname(path), { recursive: true });
    if (typeof content === 'string') await copyFile(content, path);
    else await writeFile(path, content);
  }
  const config = loadConfig({
    STILLFRAME_STORAGE: `file://${root}`,
    STILLFRAME_DEMO: 'false',
    ...options.env,
  });
  const deps = await createDeps(config, { log: options.log ?? silentLogger });
  const app = createApp(deps);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    root,
    deps,
    jobs: () => workerJobs(url),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      await deps.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Capture worker jobs a server has run (any outcome), by kind. */
export async function workerJobs(url: string): Promise<Record<'capture' | 'index' | 'extract' | 'probe', number>> {
  const text = await (await fetch(`${url}/_/metrics`)).text();
  const count = (kind: string) =>
    [...text.matchAll(new RegExp(`^stillframe_worker_jobs_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
  return { capture: count('capture'), index: count('index'), extract: count('extract'), probe: count('probe') };
}

export const snapshotUrl = (server: TestServer, object: string, process: string) =>
  `${server.url}/${object}?x-oss-process=${process}`;
