// Servers the scale-out tests start on loopback beside stillframe (test/support/processes.ts): redis-server
// and nginx with the shipped configuration; stillframe's request counter.
import { join, resolve } from 'node:path';
import { freePort, findBinary, startProcess, tempDir, type Proc } from './processes.js';
import { waitFor } from './wait.js';

export async function startRedis(): Promise<{ url: string; proc: Proc }> {
  const bin = findBinary('redis-server', '/usr/bin/redis-server');
  if (!bin) throw new Error('redis-server is missing: apt-get install redis-server (.ci/run installs it)');
  const port = await freePort();
  const proc = startProcess(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitFor(async () => /ready to accept connections/i.test(proc.output()) || proc.child.exitCode !== null, 15_000);
  if (proc.child.exitCode !== null) throw new Error(`redis-server did not start:\n${proc.output()}`);
  return { url: `redis://127.0.0.1:${port}`, proc };
}

export const SHIPPED_NGINX_CONF = resolve(import.meta.dirname, '../../nginx/nginx.conf');

export function nginxBinary(): string | undefined {
  return findBinary('nginx', '/usr/sbin/nginx');
}

/**
 * The shipped nginx.conf with its two ports substituted (so a developer's own stillframe on 8080 or nginx
 * on 8081 is never touched), run in the foreground under a temporary prefix.
 */
export async function startNginx(upstreamPort: number): Promise<{ url: string; proc: Proc; prefix: string }> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx is missing: apt-get install nginx (.ci/run installs it)');
  const { readFile, writeFile, chmod } = await import('node:fs/promises');
  const prefix = await tempDir('nginx');
  // Workers run as an unprivileged user when the master is root: they must reach the cache under the prefix.
  await chmod(prefix, 0o755);
  const listen = await freePort();
  const shipped = await readFile(SHIPPED_NGINX_CONF, 'utf8');
  const conf = shipped.replace('server 127.0.0.1:8080;', `server 127.0.0.1:${upstreamPort};`).replace('listen 8081;', `listen 127.0.0.1:${listen};`);
  if (conf === shipped || !conf.includes(String(listen))) throw new Error('nginx.conf no longer has the expected listen/upstream lines');
  const confPath = join(prefix, 'nginx.conf');
  await writeFile(confPath, conf);
  const proc = startProcess(bin, ['-p', prefix, '-c', confPath], {}, { graceful: true });
  const url = `http://127.0.0.1:${listen}`;
  await waitFor(async () => {
    if (proc.child.exitCode !== null) return true;
    try {
      await fetch(`${url}/_/health`);
      return true;
    } catch {
      return false;
    }
  }, 15_000);
  if (proc.child.exitCode !== null) throw new Error(`nginx did not start:\n${proc.output()}`);
  return { url, proc, prefix };
}

/** Requests stillframe answered for `route` (snapshot, object, ops, imm), from its /_/metrics. */
export async function requestCount(nodeUrl: string, route: string): Promise<number> {
  const text = await (await fetch(`${nodeUrl}/_/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('stillframe_http_requests_total{') && line.includes(`route="${route}"`)) total += Number(line.split(' ').pop());
  }
  return total;
}
