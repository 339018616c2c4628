// `stillframe serve` once its config is valid: deps → app → listen; SIGTERM/SIGINT drain in-flight requests before exit.
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { retiredSettings, type Config } from './config.js';
import { ensureDemoMedia } from './demo.js';
import { createDeps } from './deps.js';
import { createLogger } from './log.js';

/** Serves `config` until SIGTERM/SIGINT. Loaded by src/cli/serve.ts once the config is valid. */
export async function runServer(config: Config): Promise<void> {
  // The process's logger: the banner below is written after the log lines before it.
  const log = createLogger(config.logLevel);
  const deps = await createDeps(config, { log });
  for (const warning of retiredSettings(process.env)) log.warn(warning);
  log.info('capture workers ready', { workers: deps.pool.size, ...deps.pool.versions });
  if (config.demoMedia && config.storage.kind === 'file') await ensureDemoMedia(deps.store, config.storage.root, log);

  // Open access is only safe on loopback: say so, and shout when it is not loopback.
  const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i.test(config.host);
  const keyCount = Object.keys(config.accessKeys).length;
  if (keyCount === 0 && loopback) {
    log.info('no access keys configured: open access, listening on loopback only', { host: config.host });
  } else if (keyCount === 0) {
    log.warn(`no access keys configured: open access on ${config.host} — anyone who reaches this address can read every bucket and submit tasks; set STILLFRAME_ACCESS_KEYS`, { host: config.host });
  } else {
    log.info('access keys configured: signed requests required (private buckets, IMM actions)', { keys: keyCount, publicBuckets: Object.keys(config.access.bucketAcl).filter((b) => config.access.bucketAcl[b] === 'public-read') });
  }
  const app = createApp(deps);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info: AddressInfo) => {
    const host = info.address.includes(':') ? `[${info.address}]` : info.address;
    const base = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${info.port}`;
    log.info('listening', { address: info.address, port: info.port, storage: deps.store.description });
    log.flush();
    // stdout carries JSON lines only, unless a person watches it; otherwise the banner goes to stderr.
    (process.stdout.isTTY ? process.stdout : process.stderr).write(
      `\nstillframe is serving ${deps.store.description} on ${base}\n` +
        (config.demoMedia ? `Try: ${base}/demo/sample.mp4?x-oss-process=video/snapshot,t_2000,f_jpg,w_320\n` : '') +
        `Health: ${base}/_/health   Metrics: ${base}/_/metrics\n\n`,
    );
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    deps.setDraining();
    log.info('draining', { signal, graceMs: config.shutdownGraceMs });
    // Stop accepting; in-flight requests finish; idle keep-alive sockets close now instead of holding
    // the process open until their timeout.
    // Draining also stops tasks from starting; running ones may finish within the grace period, and
    // whatever is still running then is journaled and reruns after the restart.
    const deadline = Date.now() + config.shutdownGraceMs;
    server.close(async () => {
      while (deps.tasks.running > 0 && Date.now() < deadline - 1000) await new Promise((r) => setTimeout(r, 100));
      await deps.close();
      log.info('stopped');
      process.exit(0);
    });
    // A keep-alive connection whose request was in flight turns idle only when its answer is sent:
    // close those as they do, rather than waiting for the client's keep-alive timer.
    if ('closeIdleConnections' in server) {
      server.closeIdleConnections();
      setInterval(() => server.closeIdleConnections(), 100).unref();
    }
    setTimeout(() => {
      log.warn('grace period over, exiting with work in flight');
      process.exit(1);
    }, config.shutdownGraceMs).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

